"""Two tuning recipes, N minutes of wall time each, trained in turns in one process.

    python scripts/budget_duel.py linear-to-0-betas-0.95-relu-squared chosen-muon-lr-5e-3

tune_budget.py runs its recipes one after another, so a recipe that ran in a slow hour looks worse
than one that ran in a fast one. Here the two take turns in ~1 s slices, as the bench's two runs
do (bench.interleave), so both see the same machine: each gets N minutes of its own time under
budget.TimeBudget. Prints each one's steps, tokens/s, best val and full val.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from attention_playground.data.corpus import load_corpus
from attention_playground.tools.bench import Run, run_result, train_interleaved
from attention_playground.training.budget import UNBOUNDED
from attention_playground.training.runtime.allocator import keep_freed_memory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_budget import RECIPES, configs, machine  # noqa: E402  # the recipes are the tuning script's


def duel_runs(names: list[str], vocab_size: int, seconds: float, seed: int) -> list[Run]:
    by_name = {r.name: r for r in RECIPES}
    return [
        Run(name, *configs(by_name[name], vocab_size, seed), UNBOUNDED, budget_seconds=seconds)
        for name in names
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs=2, help="two names from scripts/tune_budget.py")
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time each (default 5)")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    keep_freed_memory()  # as `train` does: large tensors reuse freed memory (allocator.py)
    unknown = [n for n in args.recipes if n not in {r.name for r in RECIPES}]
    if unknown or not args.minutes > 0:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}" if unknown else "--minutes must be positive")
    corpus = load_corpus("tinyshakespeare", "char")
    print(
        f"{' against '.join(args.recipes)}, {args.minutes:g} minutes each, in turns; {machine()}", flush=True
    )
    runs = duel_runs(args.recipes, corpus.tokenizer.vocab_size, args.minutes * 60, args.seed)
    probes = train_interleaved(runs, corpus.splits, (1024, 2048), 1.0, print)
    for run in runs:
        r = run_result(run, statistics.median(probes), corpus.splits.val, None)
        print(
            f"{run.name}: best val loss {min(r.val_loss):.4f} (full val {r.full_val:.4f}, {r.steps:,} steps, "
            f"{r.tokens_per_s:,.0f} tokens/s at the median step, {r.seconds:.0f} s)"
        )
    print(f"matmul probe median {statistics.median(probes):.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
