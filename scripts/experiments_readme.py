"""Train notebook 08's ablation table and induction heads, and write both into the README.

    python scripts/experiments_readme.py            # about 2 minutes on 2 CPU cores
    python scripts/experiments_readme.py --no-write # print what it would write

The same library calls, seeds and budgets as notebooks/08_experiments.ipynb (experiments.py):
every ablation row, the two dropout rows, and the attention-only model on repeated random letters.
What it measured goes into README.md between `<!-- ablations:start -->` and `<!-- ablations:end -->`,
with the machine it ran on. Nothing in that block is typed by hand. The GIF the block shows is
drawn by scripts/draw_heads_forming.py.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

import attention_playground as ap
from attention_playground.course import experiments as ex
from attention_playground.tools.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
GIF = (
    "![Attention heads forming while a small GPT trains: every head's attention on a line of Romeo "
    "and Juliet at each evaluation, above the loss curve](images/heads_forming.gif)"
)
README_BLOCK = re.compile(r"(<!-- ablations:start -->\n).*?(<!-- ablations:end -->)", re.DOTALL)


def induction_paragraph(run: ex.InductionResult) -> str:
    config, changes = run.config, ex.phase_change(run)
    repeat = run.series("repeat_loss")
    h1, h0 = run.induction_head(), run.previous_head()
    induction, previous = run.series("induction")[:, h1], run.series("previous")[:, h0]
    return (
        f"**Induction heads, a phase change.** A 2-layer attention-only GPT ({config.n_head} heads, "
        f"{config.n_embd} channels) trained {config.max_iters:,} steps ({run.seconds:.0f} s) on "
        f"{config.half} random letters of {config.vocab_size} followed by the same letters again (copies "
        f"of {config.shortest} to {config.half}, so only content finds them). The loss on the copy falls "
        f"slowly for a few hundred steps (a bag of the letters seen), then suddenly: from {repeat[0]:.2f} "
        f"(ln {config.vocab_size} = {math.log(config.vocab_size):.2f}) to {repeat[-1]:.2f}, halfway down "
        f"at step "
        f"{changes['loss on the copy, halfway down']}. At the same steps the induction score of layer 1 "
        f"head {h1} (its weight on the letter after the current letter's earlier occurrence) rises from "
        f"{induction[0]:.2f} to {induction[-1]:.2f}, crossing half its final value at step "
        f"{changes['induction score, half its final']}, and the previous-token score of layer 0 head {h0} "
        f"rises from {previous[0]:.2f} to {previous[-1]:.2f} (half its final value at step "
        f"{changes['previous-token score, half its final']}): the two heads of the circuit form together."
    )


def block(runs: list[ex.AblationResult], run: ex.InductionResult, machine: str) -> str:
    base, train = runs[0].config, ex.BASE_TRAIN
    settings = (
        f"Tiny Shakespeare, characters; every row: seed {train.seed}, {base.n_layer} layers of {base.n_head} "
        f"heads, {base.n_embd} channels, block {base.block_size}, batch {train.batch_size}, "
        f"{train.max_iters} steps, learning rate {train.learning_rate:g} (warmup {train.warmup}, cosine to "
        f"{train.min_lr:g}); val loss = mean over {train.eval_iters} validation batches after the last step; "
        f"the T={runs[0].long_block_size} column evaluates the same models on windows twice as long. "
        f"Measured on {machine}."
    )
    return f"""### Take a part away, and watch heads form (notebook 08)

Each row trains the same small GPT with one `GPTConfig` switch changed, with one seed and one
budget; written by `python scripts/experiments_readme.py`, not by hand.

{ex.ablation_table(runs)}

{settings}

{induction_paragraph(run)}

{GIF}

*Heads forming* (`scripts/draw_heads_forming.py`, notebook 08 section 3): every head of notebook
07's small GPT on one line of Romeo and Juliet, at each evaluation while it trains; each title
gives the head's weight on the previous character.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--no-write", action="store_true", help="print the block, write nothing")
    args = parser.parse_args(argv)

    text = ap.load_text("tinyshakespeare")
    tokenizer = ap.CharTokenizer.from_text(text)
    splits = ap.split(ap.encode_corpus(text, tokenizer))
    machine = describe_machine()
    began = time.perf_counter()
    runs = ex.run_ablations(splits) + ex.run_dropout_ablations(splits)
    print(ex.ablation_table(runs), flush=True)
    induction = ex.train_induction()
    print(induction_paragraph(induction), flush=True)
    print(f"total {time.perf_counter() - began:.0f} s")
    text_block = block(runs, induction, machine)
    if args.no_write:
        print(text_block)
        return 0
    old = args.readme.read_text(encoding="utf-8")
    new, count = README_BLOCK.subn(lambda m: m[1] + text_block + m[2], old)
    if count != 1:
        print(f"{args.readme} has no <!-- ablations:start --> ... <!-- ablations:end --> block: not written")
        return 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"updated {args.readme.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
