"""Copy notebook 08's ablation table and induction-head figures, as saved, into the README.

    python scripts/experiments_readme.py            # rewrite README.md's block from the saved notebook
    python scripts/experiments_readme.py --check    # exit 1 if the README's block differs from it

The README shows what notebooks/08_experiments.ipynb printed, not a second run of its experiments: the
block between `<!-- ablations:start -->` and `<!-- ablations:end -->` holds the notebook's saved
ablation table (its first Markdown table that starts `| variant |`), the settings every row shares
(read from the library's `experiments.BASE_MODEL` and `BASE_TRAIN`, which the notebook trains), and
the output of the notebook's phase-change cell (the one that calls `ex.phase_change`). Nothing in the
block is typed by hand. scripts/run_notebooks.py calls this after it saves notebook 08, and
tests/test_docs.py fails while the two disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "08_experiments.ipynb"
README = ROOT / "README.md"
README_BLOCK = re.compile(r"(<!-- ablations:start -->\n).*?(<!-- ablations:end -->)", re.DOTALL)
TABLE_START = "| variant |"
PHASE_CHANGE_CALL = "ex.phase_change("


def _text(output: dict, mime: str) -> str:
    """An output's text: a stream's, or one MIME type of a display or a result."""
    value = (
        output.get("text", "")
        if output.get("output_type") == "stream"
        else output.get("data", {}).get(mime, "")
    )
    return "".join(value) if isinstance(value, list) else value


def saved_outputs(notebook: dict) -> tuple[str, str]:
    """(the ablation table, the phase-change cell's printed lines), as the notebook saved them."""
    table = printed = None
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            markdown = _text(output, "text/markdown").strip()
            if table is None and markdown.startswith(TABLE_START):
                table = markdown
        if printed is None and PHASE_CHANGE_CALL in "".join(cell["source"]):
            streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
            printed = "".join(_text(o, "text/plain") for o in streams).strip()
    if table is None:
        raise ValueError(
            f"{NOTEBOOK.name} holds no saved Markdown table starting {TABLE_START!r}: run it first"
        )
    if not printed:
        raise ValueError(f"{NOTEBOOK.name}: the cell that calls {PHASE_CHANGE_CALL}...) has no saved output")
    return table, printed


def settings() -> str:
    """What every row shares, from the configs notebook 08 trains (experiments.BASE_MODEL, BASE_TRAIN)."""
    from attention_playground.course import experiments as ex

    model, train = ex.BASE_MODEL, ex.BASE_TRAIN
    return (
        f"Tiny Shakespeare, characters; every row: seed {train.seed}, {model.n_layer} layers of "
        f"{model.n_head} heads, {model.n_embd} channels, block {model.block_size}, batch {train.batch_size}, "
        f"{train.max_iters} steps, learning rate {train.learning_rate:g} (warmup {train.warmup}, cosine to "
        f"{train.min_lr:g}); val loss = mean over {train.eval_iters} validation batches after the last "
        f"step; the T={2 * model.block_size} column evaluates the same models on windows twice as long."
    )


def block(notebook: dict) -> str:
    """The README's block: the saved table, the shared settings, the saved phase-change lines."""
    table, printed = saved_outputs(notebook)
    return (
        f"{table}\n\n{settings()} Copied from notebook 08's saved output by "
        "`python scripts/experiments_readme.py`.\n\n"
        f"The induction model, as notebook 08 printed it:\n\n```\n{printed}\n```\n"
    )


def rewrite(readme: str, notebook: dict) -> str:
    """`readme` with its ablations block replaced by block(notebook); ValueError without one block."""
    new, count = README_BLOCK.subn(lambda m: m[1] + block(notebook) + m[2], readme)
    if count != 1:
        raise ValueError(f"README.md: expected one <!-- ablations:start --> block, found {count}")
    return new


def write(readme_path: Path = README, notebook_path: Path = NOTEBOOK) -> bool:
    """Rewrite the README's block from the saved notebook; True where that changed the file."""
    old = readme_path.read_text(encoding="utf-8")
    new = rewrite(old, json.loads(notebook_path.read_text(encoding="utf-8")))
    if new != old:
        readme_path.write_text(new, encoding="utf-8")
    return new != old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the block is stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            old = args.readme.read_text(encoding="utf-8")
            stale = rewrite(old, json.loads(args.notebook.read_text(encoding="utf-8"))) != old
            print(
                f"{args.readme.name}: the ablations block {'differs from' if stale else 'is'} notebook 08's"
            )
            return int(stale)
        changed = write(args.readme, args.notebook)
    except ValueError as error:
        print(f"experiments_readme.py: {error}", file=sys.stderr)
        return 1
    state = "rewritten from" if changed else "unchanged: it already is"
    print(f"{args.readme.name}: the ablations block {state} {args.notebook.name}'s saved output")
    return 0


if __name__ == "__main__":
    sys.exit(main())
