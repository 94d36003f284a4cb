"""Run notebooks top to bottom, as "Restart and Run All" does, time each run, and write the times down.

    scripts/run_notebooks.sh [NB ...]          run them and save them in place, with outputs, as nbval
                                               expects; write each one's run time into its opening cell,
                                               and, when every notebook ran, into README.md's course table;
                                               after notebook 08, copy its ablation table into README.md
    scripts/run_notebooks.sh --check [NB ...]  run them and fail on any error; write nothing, only print
                                               the times

Default: every notebook in notebooks/. A run time is the wall time of one nbconvert execution (the
kernel's start, every cell, the kernel's shutdown) with the thread count of OMP_NUM_THREADS (2, as
CI). It goes between `<!-- runtime -->` and `<!-- /runtime -->` in the notebook's first cell, and in
the README's row for that notebook between `<!-- course-map:start -->` and `<!-- course-map:end -->`,
with the machine between `<!-- runtime-machine -->` and `<!-- /runtime-machine -->`. Nobody types
these numbers: markdown cells are not compared by nbval, so rewriting them changes no test. Once
notebook 08 is saved, scripts/experiments_readme.py copies its ablation table and induction-head
figures into README.md (`<!-- ablations:start -->`), so the README shows the saved run.

A saved notebook shows what a fresh clone shows. Notebook 07 opens a checkpoint you trained yourself
(runs/cpu-char/ckpt.pt) where there is one, so while the notebooks run and are saved, such a file is
renamed aside (ckpt.pt.set-aside-by-run_notebooks) and renamed back afterwards, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from pathlib import Path

import torch

from attention_playground.tools.machine import describe_machine, today

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COURSE_MAP = re.compile(r"<!-- course-map:start -->\n.*?<!-- course-map:end -->", re.DOTALL)
RUNNER = "`scripts/run_notebooks.sh`"
LOCAL_RUNS = ("runs/cpu-char/ckpt.pt",)  # what a notebook opens if you trained it (07's section 6)
ASIDE = ".set-aside-by-run_notebooks"
ABLATIONS_NOTEBOOK = "08_experiments"  # its saved table is the README's (scripts/experiments_readme.py)


def span(name: str) -> re.Pattern[str]:
    """`<!-- name -->anything<!-- /name -->`, the text in between as group 2."""
    return re.compile(rf"(<!-- {name} -->)(.*?)(<!-- /{name} -->)", re.DOTALL)


RUNTIME = span("runtime")
MACHINE = span("runtime-machine")


def rewrite_span(text: str, pattern: re.Pattern[str], value: str, where: str) -> str:
    """Replace what stands between the one pair of markers in `text` with `value`."""
    found = len(pattern.findall(text))
    if found != 1:
        raise ValueError(
            f"{where}: expected one {pattern.pattern.split('(.*?)')[0]}…<!-- /…--> pair, found {found}"
        )
    return pattern.sub(lambda m: m[1] + value + m[3], text)


def format_seconds(seconds: float) -> str:
    return f"~{max(1, round(seconds))} s"


def notebook_runtime(seconds: float, cores: int) -> str:
    """The text the opening cell shows between its runtime markers: the time and the cores it used
    (the CPU's name stays out of a lesson; the README's course table names the machine)."""
    on = f"{cores} CPU core" + ("s" if cores != 1 else "")
    return f"{format_seconds(seconds)} for Restart & Run All on {on}, measured by {RUNNER}"


def rewrite_notebook_cell(source: str, seconds: float, cores: int, where: str) -> str:
    return rewrite_span(source, RUNTIME, notebook_runtime(seconds, cores), where)


def rewrite_course_table(readme: str, seconds: dict[str, float], machine: str, date: str) -> str:
    """Write each notebook's time into its row of the README's course table, and the machine above it.

    `seconds` maps a notebook's file name without .ipynb (such as "00_data_and_tokenizers") to its
    run time; every notebook of the table must be in it, so that one table holds one machine's times.
    """
    blocks = COURSE_MAP.findall(readme)
    if len(blocks) != 1:
        raise ValueError(f"README.md: expected one course-map block, found {len(blocks)}")
    lines = blocks[0].split("\n")
    rows = {}
    for i, line in enumerate(lines):
        link = re.search(r"\]\(notebooks/([^)/]+)\.ipynb\)", line)
        if link and line.startswith("|"):
            rows[link[1]] = i
    if set(rows) != set(seconds):
        raise ValueError(f"README.md: the course table lists {sorted(rows)}, the run timed {sorted(seconds)}")
    for name, i in rows.items():
        lines[i] = rewrite_span(lines[i], RUNTIME, format_seconds(seconds[name]), f"README.md, row {name}")
    block = rewrite_span("\n".join(lines), MACHINE, f"{machine}, {date}", "README.md, course map")
    return readme.replace(blocks[0], block)


def opening_cell(nb) -> dict:
    cell = nb.cells[0]
    if cell.cell_type != "markdown":
        raise ValueError("the first cell must be the markdown cell that says what the notebook builds")
    return cell


def execute(path: Path):
    """Run every cell in a fresh kernel, in the notebook's own folder; return (notebook, seconds)."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    # coalesce_streams: a text progress bar's overwritten states (carriage returns) leave its last
    executor = ExecutePreprocessor(
        timeout=600, kernel_name="python3", record_timing=False, coalesce_streams=True
    )
    start = time.perf_counter()
    executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})  # starts and stops the kernel
    seconds = time.perf_counter() - start
    # nbclient 0.11 fails on interactive widgets unless it stores their state: it stored it, drop it,
    # so saved notebooks carry no widget state (JupyterLab rebuilds widgets when the cell runs)
    nb.metadata.pop("widgets", None)
    return nb, seconds


@contextlib.contextmanager
def local_runs_set_aside(root: Path = ROOT, paths: tuple[str, ...] = LOCAL_RUNS):
    """Rename your own checkpoints aside while notebooks run, so they run as on a fresh clone; always
    rename them back. A leftover aside copy (from a run that was killed) stops it before anything moves."""
    moved: list[tuple[Path, Path]] = []
    for relative in paths:
        path = root / relative
        aside = path.with_name(path.name + ASIDE)
        if aside.exists():
            raise SystemExit(
                f"{aside} is left from an earlier run of this script: rename it back to {path.name} "
                f"(or delete one of the two), then run again"
            )
    try:
        for relative in paths:
            path = root / relative
            if path.exists():
                aside = path.with_name(path.name + ASIDE)
                path.rename(aside)
                moved.append((aside, path))
                print(f"{relative}: set aside while the notebooks run (renamed back at the end)", flush=True)
        yield [original for _, original in moved]
    finally:
        for aside, original in moved:
            aside.rename(original)


def main(argv: list[str] | None = None) -> int:
    import nbformat
    from nbconvert.preprocessors import CellExecutionError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="run only: write nothing, fail on any error")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    every = sorted((ROOT / "notebooks").glob("*.ipynb"))
    paths = [p.resolve() for p in args.notebooks] or every
    where = describe_machine(dated=False)  # such as '2 threads on AMD EPYC 7B13, AVX2, torch 2.13.0'
    cores = torch.get_num_threads()  # what OMP_NUM_THREADS set: the notebooks' kernels use as many
    if not args.check:  # a missing marker fails now, not after minutes of running
        for path in paths:
            rewrite_notebook_cell(opening_cell(nbformat.read(path, as_version=4)).source, 0, cores, path.name)
    seconds, failed = {}, []
    with local_runs_set_aside():
        for path in paths:
            try:
                nb, seconds[path.stem] = execute(path)
            except CellExecutionError as error:
                failed.append(path.name)
                print(f"{path.name}: FAILED\n{error}", file=sys.stderr, flush=True)
                continue
            if not args.check:
                cell = opening_cell(nb)
                cell.source = rewrite_notebook_cell(cell.source, seconds[path.stem], cores, path.name)
                nbformat.write(nb, path)
            print(f"{path.name}: executed in {seconds[path.stem]:.1f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.check:
        print(f"checked {len(paths)} notebook(s) with {where}; nothing written")
    elif set(seconds) == {p.stem for p in every}:
        README.write_text(rewrite_course_table(README.read_text(), seconds, where, today()))
        print(f"README.md: course table run times from this run ({where})")
    else:
        print("README.md's course table not changed: it holds one run of every notebook; run them all")
    if not args.check and ABLATIONS_NOTEBOOK in seconds:
        sys.path.insert(0, str(ROOT / "scripts"))
        import experiments_readme

        experiments_readme.write(README, ROOT / "notebooks" / f"{ABLATIONS_NOTEBOOK}.ipynb")
        print(f"README.md: the ablations block copied from {ABLATIONS_NOTEBOOK}.ipynb as saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
