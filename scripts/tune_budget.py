"""Train candidate recipes for `train --minutes N`, N minutes of wall time each, and print the table.

    python scripts/tune_budget.py                          # every recipe, 5 minutes each (over 2 hours)
    python scripts/tune_budget.py --recipes start,cpu-longer --minutes 1   # a quick look
    python scripts/tune_budget.py --write                  # and put the table in docs/benchmarks.md

Each recipe is where tuning started (START: the cpu shape, tied, no dropout, lr 5e-3) with a few
fields changed; the `budget` preset is the recipe chosen (CHOSEN). Each is trained on Tiny Shakespeare
(characters) from the same seed under budget.TimeBudget, one recipe after another (the machine
should be quiet: run nothing else). For each it prints `NAME: best val loss X` as it finishes, and
at the end a markdown table: parameters, steps, tokens/s, the best val estimate, the final model's
loss over the whole val split, and the train/val gap. With --write the table goes into
docs/benchmarks.md between `<!-- budget-tuning:start -->` and `<!-- budget-tuning:end -->`.
Every number in it is measured by the run that writes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import attention_playground as ap
from attention_playground.data.corpus import load_corpus
from attention_playground.tools.bench import split_loss
from attention_playground.training.budget import train_for
from attention_playground.training.runtime.allocator import keep_freed_memory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder import cpu_name  # noqa: E402  # the scripts share it

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    model: dict[str, Any]  # GPTConfig fields changed from the budget preset's
    train: dict[str, Any]  # TrainConfig fields changed


START_MODEL = ap.GPTConfig(block_size=64, n_embd=128, n_head=4, n_layer=2, dropout=0.0, tie_weights=True)
START_TRAIN = ap.TrainConfig(
    batch_size=32, max_iters=5000, eval_interval=1000, eval_iters=50, learning_rate=5e-3, warmup=100,
    min_lr=5e-4, weight_decay=0.1, dtype="float32",
)  # fmt: skip
# the budget preset is this recipe: round 10's best (round 4's best with three changes that each
# landed inside the noise alone and together beat every other run) with Muon, which beat round
# 10's AdamW by 0.016 when the two took turns in one process (scripts/budget_duel.py), and since
# round 12 (session 11) weight decay 0.6 instead of 0.1
CHOSEN = "chosen-weight-decay-0.6"

LR_3E_3 = {"learning_rate": 3e-3, "min_lr": 3e-4}  # the chosen learning rate, for later rounds
# round 4's best (4-layers-block-128-rope), where rounds 5 to 7 start
ROUND_4_MODEL = {"n_layer": 4, "block_size": 128, "position": "rope"}
ROUND_4_TRAIN = {"batch_size": 16, **LR_3E_3}
LINEAR_TO_0 = {"schedule": "linear", "min_lr": 0.0}  # round 9's best schedule
# round 10's best (linear-to-0-betas-0.95-relu-squared), where round 11 starts
ROUND_10_MODEL = {**ROUND_4_MODEL, "activation": "relu_squared"}
ROUND_10_BUT_LR = {"batch_size": 16, **LINEAR_TO_0, "betas": (0.9, 0.95)}  # START's lr 5e-3
ROUND_10_TRAIN = {**LR_3E_3, **ROUND_10_BUT_LR}  # lr 3e-3, linear to 0
ROUND_11_TRAIN = {**ROUND_10_BUT_LR, "optimizer": "muon"}  # lr 5e-3: round 11's choice

RECIPES = [
    Recipe("start", "where tuning started: the cpu shape, tied weights, lr 5e-3, no dropout", {}, {}),
    Recipe("cpu-longer", "the cpu preset's shape run longer with AdamW, untied", {"tie_weights": False}, {}),
    Recipe("dropout-0.1", "dropout 0.1 (the first budget preset)", {"dropout": 0.1}, {}),
    Recipe("3-layers", "3 layers", {"n_layer": 3}, {}),
    Recipe("4-layers", "4 layers", {"n_layer": 4}, {}),
    Recipe("192-channels", "192 channels, 6 heads", {"n_embd": 192, "n_head": 6}, {}),
    Recipe("block-128", "block 128, batch 16 (the same tokens per step)",
           {"block_size": 128}, {"batch_size": 16}),
    Recipe("batch-64", "batch 64", {}, {"batch_size": 64}),
    Recipe("lr-3e-3", "learning rate 3e-3 (min 3e-4)", {}, {"learning_rate": 3e-3, "min_lr": 3e-4}),
    Recipe("lr-8e-3", "learning rate 8e-3 (min 8e-4)", {}, {"learning_rate": 8e-3, "min_lr": 8e-4}),
    Recipe("qk-norm", "QK-norm: RMSNorm on each head's q and k", {"qk_norm": True}, {}),
    Recipe("muon", "Muon on the blocks' matrices (AdamW's lr scale), AdamW on the rest", {},
           {"optimizer": "muon"}),
    Recipe("muon-lr-3e-3", "Muon, learning rate 3e-3 (min 3e-4)", {},
           {"optimizer": "muon", "learning_rate": 3e-3, "min_lr": 3e-4}),
    Recipe("lr-2e-3", "learning rate 2e-3 (min 2e-4)", {}, {"learning_rate": 2e-3, "min_lr": 2e-4}),
    # Round 3, on a CPU that takes twice the steps in 5 minutes: lr 3e-3 with a larger model.
    Recipe("3-layers-lr-3e-3", "3 layers, lr 3e-3", {"n_layer": 3}, LR_3E_3),
    Recipe("4-layers-lr-3e-3", "4 layers, lr 3e-3", {"n_layer": 4}, LR_3E_3),
    Recipe("4-layers-block-128", "4 layers, block 128, batch 16, lr 3e-3",
           {"n_layer": 4, "block_size": 128}, {"batch_size": 16, **LR_3E_3}),
    Recipe("4-layers-muon", "4 layers, Muon at lr 3e-3", {"n_layer": 4}, {"optimizer": "muon", **LR_3E_3}),
    Recipe("3-layers-block-128", "3 layers, block 128, batch 16, lr 3e-3",
           {"n_layer": 3, "block_size": 128}, {"batch_size": 16, **LR_3E_3}),
    Recipe("4-layers-block-256", "4 layers, block 256, batch 8, lr 3e-3",
           {"n_layer": 4, "block_size": 256}, {"batch_size": 8, **LR_3E_3}),
    Recipe("4-layers-block-128-rope", "4 layers, block 128, batch 16, RoPE, lr 3e-3",
           ROUND_4_MODEL, ROUND_4_TRAIN),
    # Round 5: around the best of round 4, RoPE now one complex multiplication (0.6 against 1.8 ms)
    Recipe("4-layers-block-128-rope-batch-32", "4 layers, block 128, batch 32, RoPE, lr 3e-3",
           ROUND_4_MODEL, LR_3E_3),  # START's batch
    Recipe("4-layers-block-128-rope-lr-5e-3", "4 layers, block 128, batch 16, RoPE, lr 5e-3",
           ROUND_4_MODEL, {"batch_size": 16}),  # START's learning rate
    Recipe("3-layers-block-128-rope", "3 layers, block 128, batch 16, RoPE, lr 3e-3",
           {**ROUND_4_MODEL, "n_layer": 3}, ROUND_4_TRAIN),
    # Round 6: the best of round 4 with one more change
    Recipe("rope-min-lr-0", "4 layers, block 128, batch 16, RoPE, lr 3e-3, cosine to 0",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, "min_lr": 0.0}),
    Recipe("rope-weight-decay-0.3", "4 layers, block 128, batch 16, RoPE, lr 3e-3, weight decay 0.3",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, "weight_decay": 0.3}),
    Recipe("rope-block-192", "4 layers, block 192, batch 16, RoPE, lr 3e-3",
           {**ROUND_4_MODEL, "block_size": 192}, ROUND_4_TRAIN),
    # Round 7: twice the width in bfloat16 (AMX matmuls on the Xeon: 108 against 62 ms a step)
    Recipe("rope-256-channels-bf16", "4 layers, block 128, batch 16, RoPE, lr 3e-3, 256 channels, bf16",
           {**ROUND_4_MODEL, "n_embd": 256}, {**ROUND_4_TRAIN, "dtype": "bfloat16"}),
    # Round 8: round 4's best (then the budget preset) with one more change
    Recipe("rope-untied", "as round 4's best, output layer untied from the token table",
           {**ROUND_4_MODEL, "tie_weights": False}, ROUND_4_TRAIN),
    Recipe("rope-relu-squared", "as round 4's best, ReLU squared in the feed-forward layers",
           {**ROUND_4_MODEL, "activation": "relu_squared"}, ROUND_4_TRAIN),
    Recipe("rope-betas-0.95", "as round 4's best, AdamW betas (0.9, 0.95)",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, "betas": (0.9, 0.95)}),
    Recipe("rope-2-heads", "as round 4's best, 2 heads of 64 channels",
           {**ROUND_4_MODEL, "n_head": 2}, ROUND_4_TRAIN),
    # Round 9: a straight-line decay of the learning rate, and the preset itself again (the noise)
    Recipe("rope-linear-to-0", "as round 4's best, the learning rate falls in a straight line to 0",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, **LINEAR_TO_0}),
    Recipe("rope-linear", "as round 4's best, the learning rate falls in a straight line to 3e-4",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, "schedule": "linear"}),
    Recipe("budget-again", "the budget preset again, to see the noise of one run",
           ROUND_4_MODEL, ROUND_4_TRAIN),
    # Round 10: the straight line to 0 with round 8's two nearest misses, then with both
    Recipe("linear-to-0-betas-0.95", "as round 4's best, linear to 0, betas (0.9, 0.95)",
           ROUND_4_MODEL, {**ROUND_4_TRAIN, **LINEAR_TO_0, "betas": (0.9, 0.95)}),
    Recipe("linear-to-0-relu-squared", "as round 4's best, linear to 0, ReLU squared",
           {**ROUND_4_MODEL, "activation": "relu_squared"}, {**ROUND_4_TRAIN, **LINEAR_TO_0}),
    Recipe("linear-to-0-betas-0.95-relu-squared", "as round 4's best, linear to 0, betas (0.9, 0.95), "
           "ReLU squared", ROUND_10_MODEL, ROUND_10_TRAIN),
    # Round 11: round 10's best (the budget preset) with Muon, its Newton-Schulz steps now batched
    Recipe("chosen-muon-lr-5e-3", "as round 10's best, Muon on the blocks' matrices, lr 5e-3",
           ROUND_10_MODEL, ROUND_11_TRAIN),
    Recipe("chosen-muon-lr-1e-2", "as round 10's best, Muon on the blocks' matrices, lr 1e-2",
           ROUND_10_MODEL, {**ROUND_10_TRAIN, "optimizer": "muon", "learning_rate": 1e-2}),
    # Round 12 (session 11): round 11's choice with more weight decay, on Muon's matrices and AdamW's tables
    Recipe("chosen-weight-decay-0.6", "as round 11's choice, weight decay 0.6",
           ROUND_10_MODEL, {**ROUND_11_TRAIN, "weight_decay": 0.6}),
    Recipe("chosen-weight-decay-1.0", "as round 11's choice, weight decay 1.0",
           ROUND_10_MODEL, {**ROUND_11_TRAIN, "weight_decay": 1.0}),
]  # fmt: skip


@dataclass
class Result:
    recipe: Recipe
    parameters: int
    steps: int
    tokens_per_second: float
    best_val: float  # the best estimate_loss of the run
    full_val: float  # the final model over the whole val split
    gap: float  # val - train at the last evaluation
    seconds: float


def configs(recipe: Recipe, vocab_size: int, seed: int) -> tuple[ap.GPTConfig, ap.TrainConfig]:
    model = dataclasses.replace(START_MODEL, vocab_size=vocab_size, **recipe.model)
    train = dataclasses.replace(START_TRAIN, seed=seed, device="cpu", **recipe.train)
    return model, train


def run(recipe: Recipe, splits: ap.Splits, vocab_size: int, seconds: float, seed: int) -> Result:
    model_config, train_config = configs(recipe, vocab_size, seed)
    ap.set_seed(seed)
    model = ap.GPT(model_config)
    history = train_for(model, splits, train_config, seconds)
    return Result(
        recipe=recipe,
        parameters=model.num_params(),
        steps=len(history.step_losses),
        tokens_per_second=history.tokens_per_second,
        best_val=history.best_val_loss,
        full_val=split_loss(model, splits.val, model_config.block_size),
        gap=history.val_loss[-1] - history.train_loss[-1],
        seconds=history.seconds,
    )


def table(results: list[Result]) -> str:
    rows = [
        "| recipe | what changes | parameters | steps | tokens/s | best val | full val | val - train |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    best = min(r.best_val for r in results)
    for r in results:
        val = f"**{r.best_val:.4f}**" if r.best_val == best else f"{r.best_val:.4f}"
        rows.append(
            f"| `{r.recipe.name}` | {r.recipe.about} | {r.parameters:,} | {r.steps:,} | "
            f"{r.tokens_per_second:,.0f} | {val} | {r.full_val:.4f} | {r.gap:.3f} |"
        )
    return "\n".join(rows)


def machine() -> str:
    date = time.strftime("%Y-%m-%d", time.gmtime())
    return (
        f"{cpu_name()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, Python {platform.python_version()}, {date}"
    )


def write_docs(path: Path, block: str, marker: str = "budget-tuning") -> bool:
    """Put `block` between the `marker` start and end comments of `path`; False where it has none."""
    pattern = re.compile(
        rf"(<!-- {re.escape(marker)}:start -->\n).*?(<!-- {re.escape(marker)}:end -->)", re.DOTALL
    )
    old = path.read_text(encoding="utf-8")
    new, count = pattern.subn(lambda m: m[1] + block + m[2], old)
    if count:
        path.write_text(new, encoding="utf-8")
    return bool(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time per recipe (default 5)")
    parser.add_argument(
        "--recipes",
        default=None,
        help=f"comma-separated, of: {', '.join(r.name for r in RECIPES)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    parser.add_argument(
        "--block", default="budget-tuning", help="the markers --write writes between (a later round's)"
    )
    parser.add_argument(
        "--docs", default=str(ROOT / "docs" / "benchmarks.md"), help="the file --write updates"
    )
    args = parser.parse_args(argv)
    keep_freed_memory()  # as `train` does: large tensors reuse freed memory (allocator.py)
    by_name = {r.name: r for r in RECIPES}
    names = args.recipes.split(",") if args.recipes else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown or not args.minutes > 0:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}" if unknown else "--minutes must be positive")

    corpus = load_corpus("tinyshakespeare", "char")
    print(f"{len(names)} recipes x {args.minutes:g} minutes, one after another; {machine()}", flush=True)
    results = []
    for name in names:
        result = run(by_name[name], corpus.splits, corpus.tokenizer.vocab_size, args.minutes * 60, args.seed)
        results.append(result)
        print(
            f"{name}: best val loss {result.best_val:.4f} (full val {result.full_val:.4f}, "
            f"{result.steps:,} steps, {result.tokens_per_second:,.0f} tokens/s, {result.seconds:.0f} s)",
            flush=True,
        )
    markdown = table(results)
    print()
    print(markdown)
    if args.write:
        command = (
            "python scripts/tune_budget.py"
            + "".join(
                f" {flag} {value}"
                for flag, value, shown in (
                    ("--minutes", f"{args.minutes:g}", args.minutes != 5),
                    ("--recipes", args.recipes, args.recipes is not None),
                    ("--block", args.block, args.block != "budget-tuning"),
                )
                if shown
            )
            + " --write"
        )
        block = (
            f"{markdown}\n\nWritten by `{command}`: {args.minutes:g} minutes of wall time per recipe (its "
            f"evaluations included), one recipe after another, seed {args.seed}, Tiny Shakespeare "
            f"(characters). best val: the best of the run's estimates "
            f"({START_TRAIN.eval_iters} batches of each split, every sixth of the budget "
            "and at the end); full val: the final model over the whole val split; val - train: at the "
            f"last evaluation. Measured on {machine()}.\n"
        )
        docs = Path(args.docs)
        print(
            f"updated {docs.name}"
            if write_docs(docs, block, args.block)
            else f"{docs} has no {args.block} markers"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
