"""`attention-playground train | sample | bench`: the course's model from a shell."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .argparsing import OneLineParser
from .errors import PlaygroundError

if TYPE_CHECKING:  # for the type hints only: each command imports what it needs when it runs
    from torch import nn

    from .config import TrainConfig
    from .data import Splits
    from .training import History


def _number(kind: type, minimum: float, strict: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole number' if kind is int else 'number'}"
            ) from None
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from . import bench as bench_command
    from .config import DEVICES, DTYPES, PRESETS
    from .tokenizers import TOKENIZERS

    parser = OneLineParser(
        prog="attention-playground",
        description="Train a small GPT and sample from it: the model of the Attention Playground course.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    train = commands.add_parser(
        "train",
        help="train a GPT on a text file and print a sample",
        description="Train a GPT, keep its best checkpoint in --out, and print a sample from it.",
    )
    train.add_argument(
        "--preset",
        default=None,
        choices=list(PRESETS),
        help="model and training sizes: "
        + "; ".join(f"{p.name}: {p.about}" for p in PRESETS.values())
        + " (default: cpu, or budget with --minutes)",
    )
    train.add_argument(
        "--minutes",
        type=_number(float, 0, strict=True),
        help="train for this many minutes of wall time, the schedule laid over them by the clock "
        "(instead of the preset's steps)",
    )
    train.add_argument(
        "--data",
        default="tinyshakespeare",
        help="'tinyshakespeare' (found in $ATTENTION_PLAYGROUND_DATA or the cache, else "
        "downloaded and verified) or the path of any UTF-8 text file (default: tinyshakespeare)",
    )
    train.add_argument(
        "--tokenizer",
        default="char",
        choices=TOKENIZERS,
        help="char: one token per character; gpt2: tiktoken's GPT-2 BPE over the tokens the text uses; "
        "gpt2-full: all 50,257 GPT-2 tokens (default: char)",
    )
    train.add_argument(
        "--out", default=None, help="folder for the checkpoint (default: runs/<preset>-<tokenizer>)"
    )
    train.add_argument("--max-iters", type=_number(int, 1), help="training steps (default: the preset's)")
    train.add_argument("--batch-size", type=_number(int, 1), help="default: the preset's")
    train.add_argument("--learning-rate", type=_number(float, 0, strict=True), help="default: the preset's")
    train.add_argument("--seed", type=_number(int, 0), help="default: the preset's (1337)")
    train.add_argument("--device", choices=DEVICES, help="default: auto (cuda, then mps, then cpu)")
    train.add_argument("--dtype", choices=DTYPES, help="matmul precision (default: the preset's)")
    train.add_argument("--compile", action="store_true", help="torch.compile the model first")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    train.add_argument("--force", action="store_true", help="overwrite a checkpoint already in --out")
    train.add_argument(
        "--sample-tokens",
        type=_number(int, 0),
        default=500,
        help="tokens to sample after training (default: 500; 0 for none)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    sample = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Generate text from a trained checkpoint.",
    )
    sample.add_argument("--checkpoint", required=True, help="a ckpt.pt written by `train`")
    sample.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    sample.add_argument(
        "--max-new-tokens", type=_number(int, 0), default=500, help="tokens to add (default: 500)"
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
    sample.add_argument("--seed", type=_number(int, 0), default=1337, help="default: 1337")
    sample.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    sample.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")

    bench = commands.add_parser(
        "bench",
        help="measure training and sampling speed on this machine",
        description=bench_command.DESCRIPTION,
    )
    bench_command.add_arguments(bench)
    return parser


def _preset_name(args: argparse.Namespace) -> str:
    """--preset, else `budget` with --minutes, else `cpu`; --minutes takes no --max-iters or --resume."""
    if args.minutes is not None and (args.max_iters is not None or args.resume):
        raise PlaygroundError(
            "--minutes lays one schedule over the time it gives: it takes no --max-iters and no --resume "
            "(continue a run with --resume and --max-iters instead)"
        )
    return args.preset or ("budget" if args.minutes is not None else "cpu")


def _fit(
    args: argparse.Namespace, model: nn.Module, splits: Splits, config: TrainConfig, **kwargs: Any
) -> History:
    """train() for the config's steps, or train_for() for --minutes of wall time."""
    from .budget import train_for
    from .training import train

    if args.minutes is not None:
        return train_for(model, splits, config, args.minutes * 60, progress=not args.no_progress, **kwargs)
    return train(model, splits, config, progress=not args.no_progress, **kwargs)


def _train(args: argparse.Namespace) -> None:
    from .checkpoint import load_checkpoint
    from .config import get_preset
    from .data import load_text, split
    from .device import set_seed
    from .gpt import GPT
    from .sampling import sample_text
    from .tokenizers import encode_corpus, get_tokenizer, tokenizer_choice
    from .training import checkpoint_file

    args.preset = _preset_name(args)
    preset = get_preset(args.preset)
    overrides = {
        "max_iters": args.max_iters,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "device": args.device,
        "dtype": args.dtype,
        "compile": args.compile or None,
    }
    config = dataclasses.replace(preset.train, **{k: v for k, v in overrides.items() if v is not None})
    if config.min_lr > config.learning_rate:
        config = dataclasses.replace(config, min_lr=config.learning_rate / 10)
    out = args.out or f"runs/{args.preset}-{args.tokenizer}"
    path = checkpoint_file(out)
    if path.exists() and not (args.resume or args.force):
        raise PlaygroundError(
            f"{path} already holds a checkpoint: pass --resume to continue it, --force to "
            "overwrite it, or choose another --out"
        )
    if args.resume and not path.exists():
        raise PlaygroundError(f"--resume: there is no checkpoint at {path} to continue")

    text = load_text(args.data)
    if args.resume:
        checkpoint = load_checkpoint(path)
        tokenizer, model = checkpoint.tokenizer, checkpoint.model
        if tokenizer_choice(tokenizer) != args.tokenizer:
            raise PlaygroundError(
                f"{path} was trained with the {tokenizer_choice(tokenizer)} tokenizer, not "
                f"{args.tokenizer}: pass --tokenizer {tokenizer_choice(tokenizer)}"
            )
        print(f"resuming {path} from step {checkpoint.step} (val loss {checkpoint.val_loss:.4f})")
    else:
        tokenizer = get_tokenizer(args.tokenizer, text)
        set_seed(config.seed)
        model = GPT(preset.model_config(tokenizer.vocab_size))
    splits = split(encode_corpus(text, tokenizer))
    print(
        f"{args.preset} preset: {model.num_params() / 1e6:.2f}M parameters, "
        f"{tokenizer_choice(tokenizer)} tokenizer (vocab {tokenizer.vocab_size:,}), "
        f"{len(splits.train):,} train / {len(splits.val):,} val tokens, "
        + (f"{args.minutes:g} minutes" if args.minutes is not None else f"{config.max_iters} steps")
    )
    resume = {"resume": path} if args.resume else {}
    history = _fit(args, model, splits, config, tokenizer=tokenizer, checkpoint_path=path, **resume)
    for step, tr, va in zip(history.eval_steps, history.train_loss, history.val_loss, strict=True):
        print(f"step {step + 1:5d}: train loss {tr:.4f}, val loss {va:.4f}")
    per_char = ""
    if tokenizer.name != "char":  # nats per character, comparable with the char tokenizer's loss
        chars_per_token = len(text) / (len(splits.train) + len(splits.val))
        per_char = f" ({history.best_val_loss / chars_per_token:.4f} per character)"
    print(
        f"best val loss {history.best_val_loss:.4f}{per_char} at step {history.best_step + 1}, "
        f"{history.seconds:.1f} s on {history.device} "
        f"({history.tokens_per_second:,.0f} tokens/s); checkpoint: {path}"
    )
    if args.sample_tokens:
        best = load_checkpoint(path, device=history.device)
        print(f"\n--- sample ({args.sample_tokens} tokens, temperature 0.8) ---")
        print(sample_text(best.model, best.tokenizer, "\n", args.sample_tokens, 0.8, None, config.seed))


def _sample(args: argparse.Namespace) -> None:
    from .checkpoint import load_checkpoint
    from .device import pick_device
    from .sampling import sample_text

    checkpoint = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    text = sample_text(
        checkpoint.model,
        checkpoint.tokenizer,
        args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_k,
        args.seed,
        use_cache=not args.no_cache,
    )
    print(text)


def _bench(args: argparse.Namespace) -> None:
    from .bench import run_command

    run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": _train, "sample": _sample, "bench": _bench}
    try:
        commands[args.command](args)
    except PlaygroundError as error:
        print(f"attention-playground {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the best checkpoint so far is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
