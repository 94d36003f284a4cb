"""`attention-playground train | sample | bench`: the course's model from a shell.

This module reads the command line and runs the command: the options are in parser.py, what a
training run does with its folder in runs.py, the bench in bench.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import PlaygroundError
from .parser import build_parser

INTERRUPTED = {  # what Ctrl-C leaves behind, by command
    "train": "interrupted: the best checkpoint so far is kept; --resume continues from the last evaluation",
    "sample": "interrupted: the text above is what was made",
    "bench": "interrupted",
}


def _train_on_every_rank(args: argparse.Namespace) -> None:
    from .runs import TrainRequest, train_on_every_rank

    train_on_every_rank(TrainRequest.of(args))


def _sample(args: argparse.Namespace) -> None:
    from ..nn.sampling import stream_text
    from ..training.checkpoint import load_checkpoint
    from ..training.runtime.device import pick_device
    from .runs import print_stream

    checkpoint = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    pieces = stream_text(
        checkpoint.model,
        checkpoint.tokenizer,
        args.prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_k,
        args.seed,
        use_cache=not args.no_cache,
    )
    print_stream(pieces)


def _bench(args: argparse.Namespace) -> None:
    from .bench import run_command

    run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": _train_on_every_rank, "sample": _sample, "bench": _bench}
    if args.command in ("train", "bench"):
        from ..training.runtime.allocator import keep_freed_memory

        keep_freed_memory()  # large tensors reuse freed memory: no page faults each step (allocator.py)
    try:
        commands[args.command](args)
    except PlaygroundError as error:
        print(f"attention-playground {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"attention-playground {args.command}: {INTERRUPTED[args.command]}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
