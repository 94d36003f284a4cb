"""`attention-playground train | sample | bench | export`: the course's model from a shell.

This module reads the command line and runs the command: the options are in parser.py, what a
training run does with its folder in runs.py and run_folder.py, the bench in bench.py. Every way
out is one line on stderr: an error (exit 1), Ctrl-C (130), SIGTERM (143, see termination.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import PlaygroundError
from . import export as export_command
from .parser import build_parser
from .termination import EXIT_CODE as TERMINATED_EXIT_CODE
from .termination import Terminated, sigterm_raises

if TYPE_CHECKING:
    import torch

INTERRUPTED = {  # what Ctrl-C leaves behind, by command
    "train": "interrupted: the best checkpoint so far is kept; --resume continues from the last evaluation",
    "sample": "interrupted: the text above is what was made",
    "bench": "interrupted",
    "export": "interrupted: no file was written",
}
TERMINATED = {  # what SIGTERM leaves behind where no training was under way to save
    "train": "terminated: the best checkpoint so far is kept; --resume continues from the last evaluation",
    "sample": "terminated: the text above is what was made",
    "bench": "terminated",
    "export": "terminated: no file was written",
}


def _train_on_every_rank(args: argparse.Namespace) -> None:
    from .runs import TrainRequest, train_on_every_rank

    train_on_every_rank(TrainRequest.of(args))


def _sample(args: argparse.Namespace) -> None:
    from ..nn.sampling import stream_text
    from ..training.runtime.device import pick_device
    from .runs import print_stream

    model, tokenizer = _sampler(args, pick_device(args.device))
    pieces = stream_text(
        model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed,
        use_cache=not args.no_cache, top_p=args.top_p,
    )  # fmt: skip
    print_stream(pieces)


def _sampler(args: argparse.Namespace, device: torch.device) -> tuple[Any, Any]:
    """The model and tokenizer `sample` continues the prompt with: a checkpoint's, or GPT-2's."""
    if args.pretrained is not None:
        from ..data.tokenizers import GPT2Tokenizer
        from ..nn.variants import ExtendedGPT

        return ExtendedGPT.from_pretrained(args.pretrained).to(device), GPT2Tokenizer()
    from .run_folder import checkpoint_in, load_from_run

    checkpoint = load_from_run(checkpoint_in(args.checkpoint, "sample"), "sample", device)
    return checkpoint.model, checkpoint.tokenizer


def _bench(args: argparse.Namespace) -> None:
    from .bench import run_command

    run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("train", "bench"):
        from ..training.runtime.allocator import keep_freed_memory

        keep_freed_memory()  # large tensors reuse freed memory: no page faults each step (allocator.py)
    with sigterm_raises():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command, and its exit code: each way out but a bug's is one line on stderr, or none."""
    from ..training.runtime.distributed import launched_rank, lost_a_peer

    commands = {
        "train": _train_on_every_rank,
        "sample": _sample,
        "bench": _bench,
        "export": export_command.run,
    }
    say = f"attention-playground {args.command}:"
    rank_0 = launched_rank() in (None, 0)  # under torchrun rank 0 alone says why every rank stopped
    try:
        commands[args.command](args)
    except PlaygroundError as error:
        print(f"{say} error: {error}", file=sys.stderr)
        if error.detail and getattr(args, "verbose", False):
            print(f"{say} the library's own words: {error.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if rank_0:
            print(f"{say} {INTERRUPTED[args.command]}", file=sys.stderr)
        return 130
    except Terminated as stop:
        if rank_0:
            left = f"terminated: {stop}" if str(stop) else TERMINATED[args.command]  # saved, or as Ctrl-C
            print(f"{say} {left}", file=sys.stderr)
        return TERMINATED_EXIT_CODE
    except Exception as error:
        if launched_rank() is not None and lost_a_peer(error):
            return 1  # the rank that failed has said why; torchrun names it
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
