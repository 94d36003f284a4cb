"""`attention-playground bench`: how fast this machine trains and samples, measured, never assumed.

Two training runs share one process and take turns in slices of about a second, so both see the
same machine (a shared laptop or CI box speeds up and slows down by 20% and more over a minute):

- reference: our GPT with the public nanoGPT "CPU/MacBook" recipe for character-level Tiny
  Shakespeare (4 layers, 4 heads, 128 channels, block 64, batch 12, AdamW lr 1e-3 with 100 warmup
  steps and cosine decay to 1e-4 over 2000 steps, no dropout, float32, 20 eval batches every 250).
  nanoGPT itself reports val loss 1.886 at step 2000 with it.
- cpu preset: the `cpu` preset of this package, the fastest recipe of those tried (docs/benchmarks.md).

For each it prints ms per step (median), tokens/s, achieved GFLOP/s and MFU against a float32
matmul probe timed in between the slices, the process's peak memory, the val loss at every
evaluation, and the wall time to reach val loss 1.886. Then the KV cache: tokens/s for 1,000 new
tokens with and without it. It prints figures; it asserts nothing.

With --budget N it also gives the `budget` preset (the recipe of `train --minutes N`) and the
reference recipe N minutes each of their own wall time, in turns the same way, each with its
schedule laid over the time (budget.py), and prints their best val losses side by side.

measure.py times and counts (FLOPs, the matmul probe, memory, the full-split loss, the KV cache),
schedule.py sets up the runs and lets them take turns, report.py turns them into figures and tables.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from ...data.corpus import Splits, load_corpus
from ...errors import PlaygroundError
from .measure import kv_cache_results
from .report import (
    BenchResult,
    ContenderResult,
    contender_result,
    print_budget_section,
    print_header,
    print_kv_cache_table,
    print_training_table,
    print_val_by_step,
    time_ratio,
)
from .schedule import TARGET_VAL_LOSS, plan_budget_runs, plan_runs, train_interleaved

__all__ = ["DESCRIPTION", "BenchResult", "add_arguments", "run_bench", "run_command"]


def run_budget(
    splits: Splits,
    vocab_size: int,
    seconds: float,
    *,
    probe_sizes: Sequence[int],
    val_tokens: int | None,
    slice_seconds: float,
    eval_iters: int | None,
    out: Callable[[str], None],
) -> dict[str, ContenderResult]:
    """--budget: the reference and the budget preset, `seconds` of their own time each, in turns."""
    out("")
    out(f"--budget: the reference recipe and the budget preset, {seconds / 60:g} minutes of wall time each")
    runs = plan_budget_runs(vocab_size, seconds, eval_iters=eval_iters)
    probes = train_interleaved(runs, splits, probe_sizes, slice_seconds, out)
    probe_gflops = statistics.median(probes)
    results = {run.name: contender_result(run, probe_gflops, splits.val, val_tokens) for run in runs}
    print_budget_section(results, seconds, probe_gflops, out)
    return results


# ---------------------------------------------------------------------------------------------
# The bench, and its command line


def run_bench(
    quick: bool = False,
    *,
    compile: bool = False,
    steps: int | None = None,
    kv_tokens: int | None = None,
    probe_sizes: Sequence[int] = (1024, 2048),
    val_tokens: int | None = None,
    slice_seconds: float = 1.0,
    budget_seconds: float | None = None,
    budget_eval_iters: int | None = None,
    out: Callable[[str], None] = print,
) -> BenchResult:
    """Run the benchmark and print it; returns its figures.

    quick: the same two recipes, stopped after 200 and 100 steps (their schedules unchanged), and
    200 new tokens for the KV cache. compile: both runs torch.compile their model. steps /
    kv_tokens / probe_sizes / val_tokens shrink it further (the tests use them). budget_seconds:
    then the reference and the budget preset train that long each (--budget; budget_eval_iters
    shrinks their evaluations, for the tests).
    """
    began = time.perf_counter()
    corpus = load_corpus("tinyshakespeare", "char")
    runs = plan_runs(corpus.tokenizer.vocab_size, quick=quick, compile=compile, steps=steps)
    kv_tokens = kv_tokens if kv_tokens is not None else (200 if quick else 1000)
    print_header(quick, compile, out)
    probes = train_interleaved(runs, corpus.splits, probe_sizes, slice_seconds, out)
    probe_gflops = statistics.median(probes)
    results = {run.name: contender_result(run, probe_gflops, corpus.splits.val, val_tokens) for run in runs}
    print_training_table(results, probes, probe_sizes, out)
    ratio = time_ratio(results["reference"], results["cpu preset"])
    print_val_by_step(results, ratio, out)
    cache = kv_cache_results(runs[1].model, kv_tokens)
    print_kv_cache_table(cache, kv_tokens, out)
    budget = None
    if budget_seconds is not None:
        budget = run_budget(
            corpus.splits, corpus.tokenizer.vocab_size, budget_seconds, probe_sizes=probe_sizes,
            val_tokens=val_tokens, slice_seconds=slice_seconds, eval_iters=budget_eval_iters, out=out,
        )  # fmt: skip
    seconds = time.perf_counter() - began
    out(f"\nbench took {seconds:.0f} s")
    return BenchResult(probe_gflops, probes, results, cache, ratio, seconds, budget, budget_seconds)


DESCRIPTION = (
    "Train the nanoGPT CPU reference recipe and the cpu preset side by side, then time sampling with "
    "and without the KV cache; prints ms/step, tokens/s, GFLOP/s, MFU, memory, val losses and the "
    f"time to val loss {TARGET_VAL_LOSS} (3-4 minutes on 2 cores)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options, for `attention-playground bench`."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the same recipes stopped after 200 and 100 steps, 200 KV-cache tokens: "
        "the same columns in under a minute",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile both runs (about 25 s each: in their wall time, not in ms/step, a median)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        default=None,
        help="then train the budget preset (train --minutes' recipe) and the reference recipe MINUTES "
        "of wall time each, in turns, and compare their best val loss (adds 2 x MINUTES; off by default)",
    )


def run_command(args: argparse.Namespace) -> BenchResult:
    """The bench as the command line asked for it."""
    if args.budget is not None and not args.budget > 0:
        raise PlaygroundError(f"--budget {args.budget:g}: give a positive number of minutes")
    budget_seconds = None if args.budget is None else args.budget * 60
    return run_bench(quick=args.quick, compile=args.compile, budget_seconds=budget_seconds)
