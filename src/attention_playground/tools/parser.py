"""The command line's options: `build_parser()` and the checks argparse makes on each value."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..errors import SEED_LIMIT
from . import export as export_command
from .argparsing import OneLineParser
from .runs import DEFAULT_PRESET


def _number(
    kind: type, minimum: float, strict: bool = False, maximum: float | None = None, most: str = ""
) -> Callable[[str], float]:
    """An argparse type: a whole number or a finite float in range (`most` writes the maximum)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}"
            ) from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {most or maximum}, got {text}")
        return value

    return parse


VERBOSE = "after an error's line, print the underlying library's own message too (for a bug report)"
SEED = _number(int, 0, maximum=SEED_LIMIT - 1, most="2**64 - 1 (torch's limit)")


def build_parser() -> argparse.ArgumentParser:
    from . import bench as bench_command

    parser = OneLineParser(
        prog="attention-playground",
        description="Train a small GPT and sample from it: the model of the Attention Playground course.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    train = commands.add_parser(
        "train",
        help="train a GPT on a text file and print a sample",
        description="Train a GPT, keep its best checkpoint (ckpt.pt) and its latest state (last.pt, "
        "at every evaluation) in --out, and print a sample from the best. One run at a time per "
        "--out: a second one into the same folder stops at once and names the first. Ctrl-C stops "
        "at once (--resume continues from the last evaluation); SIGTERM (kill, a scheduler) stops "
        "after the current step and saves it in last.pt first (exit code 143).",
    )
    _add_run_arguments(train)
    _add_resume_arguments(train)
    _add_training_arguments(train)
    sample = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Generate text from a trained checkpoint, printed as it is made (Ctrl-C or SIGTERM "
        "stops it and keeps what was printed).",
    )
    _add_sample_arguments(sample)
    bench = commands.add_parser(
        "bench",
        help="measure training and sampling speed on this machine",
        description=bench_command.DESCRIPTION,
    )
    bench_command.add_arguments(bench)
    export_command.add_command(commands)
    return parser


def _add_run_arguments(train: argparse.ArgumentParser) -> None:
    """What to train on, and where the run lives."""
    from ..data.tokenizers import TOKENIZERS
    from ..training.config import PRESETS

    train.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="model and training sizes: "
        + "; ".join(f"{p.name}: {p.about}" for p in PRESETS.values())
        + f" (default: {DEFAULT_PRESET}; with --minutes, budget, or budget-gpt2 for GPT-2's tokens)",
    )
    train.add_argument(
        "--minutes",
        type=_number(float, 0, strict=True),
        help="train for this many minutes of wall time, the schedule laid over them by the clock "
        "(instead of the preset's steps)",
    )
    train.add_argument(
        "--data",
        help="'tinyshakespeare' (found in $ATTENTION_PLAYGROUND_DATA or the cache, else "
        "downloaded and verified) or the path of any UTF-8 text file (default: tinyshakespeare)",
    )
    train.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        help="char: one token per character; gpt2: tiktoken's GPT-2 BPE over the tokens the text uses; "
        "gpt2-full: all 50,257 GPT-2 tokens (default: char)",
    )
    train.add_argument(
        "--out", default=None, help="folder for the run's checkpoints (default: runs/<preset>-<tokenizer>)"
    )


def _add_resume_arguments(train: argparse.ArgumentParser) -> None:
    """Going on with a run, or replacing it."""
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN",
        help="continue a run exactly as it would have gone on, with its own preset, data (the very "
        "same text: a changed one is refused), tokenizer and training settings: an option that "
        "contradicts them is refused (see --change-settings). RUN is a run folder (its last.pt, "
        "else its ckpt.pt) or a checkpoint file in one (default: the run in --out)",
    )
    train.add_argument(
        "--change-settings",
        action="store_true",
        help="with --resume: take --max-iters, --batch-size, --learning-rate, --seed or --dtype even "
        "where they differ from the checkpoint's (the run is then no longer the one it continues); "
        "it never covers --preset, --data or --tokenizer",
    )
    train.add_argument(
        "--force", action="store_true", help="replace a run already in --out (its ckpt.pt and last.pt)"
    )


def _add_training_arguments(train: argparse.ArgumentParser) -> None:
    """How to train: each default is the preset's (or, with --resume, the checkpoint's)."""
    from ..training.config import DEVICES, DTYPES

    train.add_argument("--max-iters", type=_number(int, 1), help="training steps (default: the preset's)")
    train.add_argument("--batch-size", type=_number(int, 1), help="default: the preset's")
    train.add_argument(
        "--grad-accum-steps",
        type=_number(int, 1),
        help="split each batch into this many micro-batches: the same step in less memory (default: 1)",
    )
    train.add_argument(
        "--learning-rate",
        type=_number(float, 0, strict=True),
        help="peak learning rate; where the schedule ends (min_lr) moves with it, in the preset's "
        "ratio (default: the preset's)",
    )
    train.add_argument("--seed", type=SEED, help="0 to 2**64 - 1 (default: the preset's, 1337)")
    train.add_argument("--device", choices=DEVICES, help="default: auto (cuda, then mps, then cpu)")
    train.add_argument("--dtype", choices=DTYPES, help="matmul precision (default: the preset's)")
    train.add_argument("--compile", action="store_true", help="torch.compile the model first")
    train.add_argument(
        "--sample-tokens",
        type=_number(int, 0),
        default=500,
        help="tokens to sample after training (default: 500; 0 for none)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--verbose", action="store_true", help=VERBOSE)


def _add_sample_arguments(sample: argparse.ArgumentParser) -> None:
    from ..training.config import DEVICES

    source = sample.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint",
        help="a run folder written by `train` (its ckpt.pt, else its last.pt), or a checkpoint file",
    )
    source.add_argument(
        "--pretrained",
        metavar="NAME_OR_FOLDER",
        help="GPT-2's published weights instead: gpt2 (124M), gpt2-medium, gpt2-large, gpt2-xl, or a "
        "folder that save_pretrained wrote (needs the pretrained extra: pip install -e '.[pretrained]')",
    )
    sample.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    sample.add_argument(
        "--max-new-tokens",
        type=_number(int, 0),
        default=500,
        help="tokens to add, any number: they are printed as they are made, Ctrl-C stops (default: 500)",
    )
    sample.add_argument(
        "--temperature",
        type=_number(float, 0),
        default=0.8,
        help="below 1 is safer, above 1 wilder, 0 always picks the likeliest token (default: 0.8)",
    )
    sample.add_argument(
        "--top-k",
        type=_number(int, 1),
        default=None,
        help="sample only among the k likeliest tokens (default: all)",
    )
    sample.add_argument(
        "--top-p",
        type=_number(float, 0, strict=True, maximum=1),
        default=None,
        help="sample only among the likeliest tokens whose probabilities add up to p, in (0, 1] "
        "(nucleus sampling; default: all)",
    )
    sample.add_argument("--seed", type=SEED, default=1337, help="0 to 2**64 - 1 (default: 1337)")
    sample.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    sample.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")
    sample.add_argument("--verbose", action="store_true", help=VERBOSE)
