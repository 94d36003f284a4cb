"""Train each stage of the lecture's ladder with identical settings and write the table of results.

    python scripts/ladder.py              # about 4 minutes on 2 CPU cores; writes docs/ladder.md
    python scripts/ladder.py --steps 200  # a quick look; --no-write prints the table only

Every stage trains on Tiny Shakespeare (characters) with the same seed, batch, block, steps and
learning-rate schedule, on the CPU, and is timed by wall clock. The table goes to stdout, to
docs/ladder.md, and into README.md between `<!-- ladder:start -->` and `<!-- ladder:end -->` if
README.md has those lines. Every number in it is measured by this run: nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

import attention_playground as ap
from attention_playground.data.corpus import load_corpus
from attention_playground.tools.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
README_BLOCK = re.compile(r"(<!-- ladder:start -->\n).*?(<!-- ladder:end -->)", re.DOTALL)
WIDTH = 64  # channels of the in-between stages (the lecture used 32)
HEADS = 4
RESIDUAL_LAYERS = 3  # blocks of the "+ residual and LayerNorm" stage, as in the lecture

# What the lecture reports for each stage, read off the video (a GPU, its own settings: block 8 and
# 32 channels up to the LayerNorm stage). For orientation only: this script does not measure them.
LECTURE = {
    "bigram": "~2.49",
    "single head": "~2.4",
    "multi-head": "~2.28",
    "+ feed-forward": "~2.24",
    "+ residual and LayerNorm": "~2.08, then ~2.06",
    "full GPT": "~1.48 (10.8M params)",
}


@dataclass
class Stage:
    name: str
    model: str  # what the model is, in a few words
    build: Callable[[int], nn.Module]  # vocab_size -> model


@dataclass
class Result:
    stage: Stage
    parameters: int
    train_loss: float
    val_loss: float
    seconds: float


def stages(block_size: int) -> list[Stage]:
    def attention_model(n_head: int, feed_forward: bool = False) -> Callable[[int], nn.Module]:
        def build(vocab_size: int) -> nn.Module:
            config = ap.GPTConfig(
                vocab_size=vocab_size, block_size=block_size, n_embd=WIDTH, n_head=n_head, n_layer=1
            )
            return ap.AttentionLanguageModel(config, feed_forward=feed_forward)

        return build

    def gpt(vocab_size: int) -> nn.Module:
        config = ap.GPTConfig(
            vocab_size=vocab_size,
            block_size=block_size,
            n_embd=WIDTH,
            n_head=HEADS,
            n_layer=RESIDUAL_LAYERS,
            dropout=0.0,
        )
        return ap.GPT(config)

    cpu = ap.get_preset("cpu").model
    return [
        Stage("bigram", "a (V, V) table of next-token logits", ap.BigramLanguageModel),
        Stage("single head", f"embeddings → 1 head of size {WIDTH} → logits", attention_model(1)),
        Stage(
            "multi-head",
            f"embeddings → {HEADS} heads of size {WIDTH // HEADS}, projected → logits",
            attention_model(HEADS),
        ),
        Stage("+ feed-forward", f"{HEADS} heads → FeedForward → logits", attention_model(HEADS, True)),
        Stage(
            "+ residual and LayerNorm",
            f"GPT: {RESIDUAL_LAYERS} blocks, {HEADS} heads, {WIDTH} channels, no dropout",
            gpt,
        ),
        Stage(
            "full GPT",
            f"GPT, the `cpu` preset's shape: {cpu.n_layer} blocks, {cpu.n_head} heads, "
            f"{cpu.n_embd} channels, dropout {cpu.dropout:g}",
            lambda vocab_size: ap.GPT(dataclasses.replace(cpu, vocab_size=vocab_size, block_size=block_size)),
        ),
    ]


def train_config(steps: int, seed: int) -> ap.TrainConfig:
    """The settings of notebooks 04 and 05, shared by every stage."""
    return ap.TrainConfig(
        batch_size=32,
        max_iters=steps,
        eval_interval=steps,  # one estimate, at the end
        eval_iters=50,  # 50 batches of 32 x 64 characters: about the whole validation split
        learning_rate=1e-2,
        warmup=50,
        min_lr=1e-3,
        weight_decay=0.0,
        seed=seed,
        device="cpu",
    )


def table(results: list[Result]) -> str:
    rows = [
        "| stage | model | parameters | val loss | wall time | the lecture reports |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.stage.name} | {r.stage.model} | {r.parameters:,} | {r.val_loss:.4f} | "
            f"{r.seconds:.1f} s | {LECTURE.get(r.stage.name, '')} |"
        )
    return "\n".join(rows)


def settings_line(config: ap.TrainConfig, block_size: int, machine: str) -> str:
    return (
        f"Tiny Shakespeare, characters (vocab 65); every stage: seed {config.seed}, batch "
        f"{config.batch_size}, block {block_size}, {config.max_iters:,} steps, AdamW, learning rate "
        f"{config.learning_rate:g} (warmup {config.warmup}, cosine to {config.min_lr:g}), weight decay "
        f"{config.weight_decay:g}, grad clip {config.grad_clip:g}; val loss = mean over "
        f"{config.eval_iters} validation batches after the last step. Measured on {machine}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps per stage (default 1500)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--out", default=str(ROOT / "docs" / "ladder.md"), help="the markdown file to write")
    parser.add_argument(
        "--readme", default=str(ROOT / "README.md"), help="README to update, if it has markers"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)

    _, tokenizer, splits = load_corpus("tinyshakespeare")
    block_size = ap.get_preset("cpu").model.block_size  # one block for every stage
    config = train_config(args.steps, args.seed)
    machine = describe_machine()
    print(settings_line(config, block_size, machine), flush=True)

    # One-time start-up costs (kernels loaded on first use) are paid here, not by the first stage.
    warm_up = dataclasses.replace(config, max_iters=2, eval_interval=2, eval_iters=1)
    ap.train(ap.BigramLanguageModel(tokenizer.vocab_size), splits, warm_up, block_size=block_size)

    results = []
    began = time.perf_counter()
    for stage in stages(block_size):
        ap.set_seed(config.seed)  # the same initial random state for every stage
        model = stage.build(tokenizer.vocab_size)
        start = time.perf_counter()
        history = ap.train(model, splits, config, block_size=block_size)
        seconds = time.perf_counter() - start
        result = Result(stage, model.num_params(), history.train_loss[-1], history.final_val_loss, seconds)
        results.append(result)
        print(
            f"{stage.name:>24}: {result.parameters:>9,} parameters, train {result.train_loss:.4f}, "
            f"val {result.val_loss:.4f}, {seconds:.1f} s",
            flush=True,
        )
    total = time.perf_counter() - began

    markdown = table(results)
    print()
    print(markdown)
    print(f"\ntotal {total:.0f} s")
    if args.no_write:
        return 0

    command = "python scripts/ladder.py" + (f" --steps {args.steps}" if args.steps != 1500 else "")
    doc = f"""# The ladder, measured

Each stage of Karpathy's lecture, from the bigram to the full GPT, trained with identical settings
on the CPU. Written by `{command}` (total {total:.0f} s of wall time); run it again to measure
your own machine.

{markdown}

{settings_line(config, block_size, machine)}

Wall time includes the final loss estimate. The stages in between use {WIDTH} channels (the lecture
used 32) and the `cpu` preset's block of {block_size} characters for every stage, so each line
differs from the one before by the architecture alone; the last line is also wider. "The lecture
reports" is read off the video for orientation: it trained on a GPU with its own settings (block 8
up to the LayerNorm stage, then the 10.8M-parameter model with block 256 and dropout 0.2 for 5,000
steps), so its column is not comparable number for number.

These runs are short, and longer training changes the gaps between the stages. The README shows
this table between `<!-- ladder:start -->` and `<!-- ladder:end -->`; the script rewrites both.
"""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")

    readme = Path(args.readme)
    if readme.is_file():
        old = readme.read_text(encoding="utf-8")
        block = f"{markdown}\n\n{settings_line(config, block_size, machine)}\n"
        new, count = README_BLOCK.subn(lambda m: m[1] + block + m[2], old)
        if count and new != old:
            readme.write_text(new, encoding="utf-8")
            print(f"updated the ladder block of {readme.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
