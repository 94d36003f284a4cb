"""`attention-playground train | sample | bench`: the course's model from a shell."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PlaygroundError
from . import export as export_command
from .argparsing import OneLineParser

if TYPE_CHECKING:
    from ..training.checkpoint import Checkpoint
    from ..training.config import TrainConfig
    from ..training.history import History

DEFAULT_PRESET, DEFAULT_DATA, DEFAULT_TOKENIZER = "cpu", "tinyshakespeare", "char"
SEED_MAX = 2**64 - 1  # torch's generators take seeds in [0, 2**64)
# TrainConfig fields with an option: --resume takes them from the checkpoint (see _refuse_changes).
TRAINING_OPTIONS = {
    "max_iters": "--max-iters",
    "batch_size": "--batch-size",
    "grad_accum_steps": "--grad-accum-steps",
    "learning_rate": "--learning-rate",
    "seed": "--seed",
    "dtype": "--dtype",
}
INTERRUPTED = {  # what Ctrl-C leaves behind, by command
    "train": "interrupted: the best checkpoint so far is kept; --resume continues from the last evaluation",
    "sample": "interrupted: the text above is what was made",
    "bench": "interrupted",
    "export": "interrupted: no file was written",
}


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


SEED = _number(int, 0, maximum=SEED_MAX, most="2**64 - 1 (torch's limit)")


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
        "--out: a second one into the same folder stops at once and names the first.",
    )
    _add_run_arguments(train)
    _add_training_arguments(train)
    sample = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Generate text from a trained checkpoint, printed as it is made (Ctrl-C stops it).",
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
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt, exactly as it would have gone on, with "
        "its own preset, data, tokenizer and training settings: an option that contradicts them "
        "is refused (see --change-settings)",
    )
    train.add_argument(
        "--change-settings",
        action="store_true",
        help="with --resume: take --max-iters, --batch-size, --learning-rate, --seed or --dtype even "
        "where they differ from the checkpoint's (the run is then no longer the one it continues)",
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


def _add_sample_arguments(sample: argparse.ArgumentParser) -> None:
    from ..training.config import DEVICES

    sample.add_argument("--checkpoint", required=True, help="a ckpt.pt (or last.pt) written by `train`")
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
    sample.add_argument("--seed", type=SEED, default=1337, help="0 to 2**64 - 1 (default: 1337)")
    sample.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    sample.add_argument("--no-cache", action="store_true", help="recompute the whole context for every token")


@dataclass
class _Run:
    """What `train` is about to do: a new run of a preset, or the continuation of a checkpoint's."""

    out: Path
    label: str  # "tiny preset"
    data: str
    tokenizer_name: str
    config: TrainConfig
    preset: str | None = None
    resume: Checkpoint | None = None
    minutes: float | None = None  # --minutes: wall time, not config.max_iters, ends the run

    @property
    def run_info(self) -> dict[str, Any]:
        return {"preset": self.preset, "data": self.data}


def _train(args: argparse.Namespace) -> None:
    from ..training.callbacks import checkpoint_file

    out = Path(args.out or f"runs/{_preset_name(args)}-{args.tokenizer or DEFAULT_TOKENIZER}")
    _check_flags(args, out)
    with _claim(out):
        run = _resumed_run(args, out) if args.resume else _new_run(args, out)
        model, tokenizer, splits = _prepare(run)
        history = _fit(args, run, model, tokenizer, splits)
        _report(history, tokenizer, splits, checkpoint_file(out))
        if args.sample_tokens:
            _closing_sample(checkpoint_file(out), history.device, args.sample_tokens, run.config.seed)


def _check_flags(args: argparse.Namespace, out: Path) -> None:
    """The flags that contradict each other, or the folder, refused before anything is touched."""
    if args.resume and args.force:
        raise PlaygroundError("--resume continues the run in --out and --force replaces it: pass one of them")
    if args.minutes is not None and (args.max_iters is not None or args.resume):
        raise PlaygroundError(
            "--minutes lays one schedule over the time it gives: it takes no --max-iters and no --resume "
            "(continue a run with --resume, --max-iters and --change-settings instead)"
        )
    if args.change_settings and not args.resume:
        raise PlaygroundError("--change-settings only goes with --resume: a new run takes any settings")
    if args.resume and not out.is_dir():
        raise PlaygroundError(f"--resume: there is no run in {out} to continue: train without --resume")


def _preset_name(args: argparse.Namespace) -> str:
    """--preset, else with --minutes the budget preset for the tokenizer, else the default one."""
    from ..training.config import budget_preset_for

    if args.preset:
        return args.preset
    if args.minutes is not None:
        return budget_preset_for(args.tokenizer or DEFAULT_TOKENIZER)
    return DEFAULT_PRESET


@contextlib.contextmanager
def _claim(out: Path) -> Iterator[None]:
    """Hold --out for this run alone: writable, locked, and rid of a killed run's half-written files."""
    from ..files import LOCKS_WORK, folder_lock, remove_stray_temporaries
    from ..training.callbacks import checkpoint_file, latest_file
    from ..training.checkpoint import check_writable
    from ..training.runtime import distributed

    check_writable(out)
    if not distributed.is_main_process():  # under torchrun rank 0 holds the folder for every rank
        yield
        return
    if not LOCKS_WORK:
        print(f"note: this system has no file locks: start one training at a time into {out}")
    with folder_lock(out):
        stray = [p for f in (checkpoint_file(out), latest_file(out)) for p in remove_stray_temporaries(f)]
        if stray:
            print(f"removed {len(stray)} temporary file(s) left in {out} by a save that was cut short")
        yield


def _new_run(args: argparse.Namespace, out: Path) -> _Run:
    from ..training.callbacks import checkpoint_file, latest_file
    from ..training.config import get_preset

    held = [p for p in (checkpoint_file(out), latest_file(out)) if p.exists()]
    if held and not args.force:
        raise PlaygroundError(
            f"{held[0]} already holds a checkpoint: pass --resume to continue it, --force to "
            "replace it, or choose another --out"
        )
    preset = get_preset(_preset_name(args))
    return _Run(
        out=out,
        label=f"{preset.name} preset",
        data=args.data or DEFAULT_DATA,
        tokenizer_name=args.tokenizer or DEFAULT_TOKENIZER,
        config=_train_config(preset.train, args),
        preset=preset.name,
        minutes=args.minutes,
    )


def _train_config(base: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """`base` with the options given, built in one go (so no field is checked against a stale one)."""
    from ..nn.config import config_to_dict
    from ..training.config import TrainConfig

    values = config_to_dict(base)
    values.update({name: getattr(args, name) for name in TRAINING_OPTIONS if getattr(args, name) is not None})
    values.update({"device": args.device or base.device, "compile": args.compile or base.compile})
    if args.learning_rate not in (None, base.learning_rate):  # the schedule ends as the preset's, relatively
        values["min_lr"] = min(args.learning_rate, args.learning_rate * base.min_lr / base.learning_rate)
    return TrainConfig(**values)


def _resumed_run(args: argparse.Namespace, out: Path) -> _Run:
    from ..data.tokenizers import tokenizer_choice
    from ..training.callbacks import checkpoint_file, latest_file
    from ..training.checkpoint import load_checkpoint

    path = latest_file(out) if latest_file(out).is_file() else checkpoint_file(out)
    if not path.is_file():
        raise PlaygroundError(
            f"--resume: there is no checkpoint in {out} to continue: train without --resume"
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.train_config is None:
        raise PlaygroundError(f"{path} holds no training settings, so it cannot be resumed: start a new run")
    info = checkpoint.run_info or {}
    saved = _untimed(checkpoint.train_config, path, args)
    _refuse_changes(args, path, checkpoint, info)
    of = "a --minutes run" if saved is not checkpoint.train_config else saved.max_iters
    print(f"resuming {path} after step {checkpoint.step + 1} of {of}")
    if checkpoint.trainer_state is None:
        print(f"note: {path} predates exact resume: the rest of the run draws fresh batches")
    preset = info.get("preset")
    return _Run(
        out=out,
        label=f"{preset} preset" if preset else f"{path}'s model",
        data=info.get("data") or args.data or DEFAULT_DATA,
        tokenizer_name=tokenizer_choice(checkpoint.tokenizer),
        config=_train_config(saved, args),
        preset=preset,
        resume=checkpoint,
    )


def _untimed(saved: TrainConfig, path: Path, args: argparse.Namespace) -> TrainConfig:
    """A --minutes run's settings, which time ended, with a step count's evaluations to go on by."""
    from ..training.budget import UNBOUNDED
    from ..training.config import PRESETS

    if saved.max_iters < UNBOUNDED:
        return saved
    if args.max_iters is None or not args.change_settings:
        raise PlaygroundError(
            f"{path} is a run that --minutes timed: continue it for a number of steps with --max-iters N "
            "--change-settings"
        )
    return dataclasses.replace(saved, eval_interval=PRESETS[DEFAULT_PRESET].train.eval_interval)


def _refuse_changes(args: argparse.Namespace, path: Path, checkpoint: Checkpoint, info: dict) -> None:
    """--resume continues the run as it was: an option that says otherwise is refused in one line."""
    from ..data.tokenizers import tokenizer_choice

    fixed = {
        "--preset": (args.preset, info.get("preset")),
        "--data": (args.data, info.get("data")),
        "--tokenizer": (args.tokenizer, tokenizer_choice(checkpoint.tokenizer)),
    }
    for option, (given, saved) in fixed.items():
        if given is not None and saved is not None and given != saved:
            raise PlaygroundError(
                f"{path} is a run with {option} {saved}, not {given}: --resume continues it as it "
                f"was, so drop {option}, or start a new run in another --out"
            )
    for name, option in TRAINING_OPTIONS.items():
        given, saved = getattr(args, name), getattr(checkpoint.train_config, name)
        if given is not None and given != saved and not args.change_settings:
            raise PlaygroundError(
                f"{path} was trained with {option} {saved}, not {given}: --resume continues the "
                f"run with its own settings, so drop {option}, or add --change-settings to go on "
                f"with {option} {given} (no longer the same run)"
            )


def _prepare(run: _Run) -> tuple[Any, Any, Any]:
    """The model (new, or the checkpoint's), its tokenizer and the token splits; one line."""
    from ..data.batches import split
    from ..data.corpus import load_text
    from ..data.tokenizers import encode_corpus, get_tokenizer, tokenizer_choice
    from ..nn.variants import ExtendedGPT
    from ..training.runtime.device import set_seed

    text = load_text(run.data)
    if run.resume is not None:
        tokenizer, model = run.resume.tokenizer, run.resume.model
    else:
        from ..training.config import get_preset

        assert run.preset is not None  # a new run always has its preset
        tokenizer = get_tokenizer(run.tokenizer_name, text)
        set_seed(run.config.seed)
        model = ExtendedGPT(get_preset(run.preset).model_config(tokenizer.vocab_size))
    splits = split(encode_corpus(text, tokenizer))
    print(
        f"{run.label}: {model.num_params() / 1e6:.2f}M parameters, "
        f"{tokenizer_choice(tokenizer)} tokenizer (vocab {tokenizer.vocab_size:,}), "
        f"{len(splits.train):,} train / {len(splits.val):,} val tokens, "
        + (f"{run.minutes:g} minutes" if run.minutes is not None else f"{run.config.max_iters} steps")
    )
    return model, tokenizer, splits


def _fit(args: argparse.Namespace, run: _Run, model: Any, tokenizer: Any, splits: Any) -> History:
    """Train with the two savers (the best first: see SaveLatestCheckpoint); the bar ends its line."""
    from ..training.callbacks import (
        ProgressBar,
        SaveBestCheckpoint,
        SaveLatestCheckpoint,
        checkpoint_file,
        latest_file,
    )
    from ..training.trainer import Trainer

    bar = ProgressBar()
    savers = [
        SaveBestCheckpoint(checkpoint_file(run.out), tokenizer, overwrite=args.force, run_info=run.run_info),
        SaveLatestCheckpoint(latest_file(run.out), tokenizer, overwrite=args.force, run_info=run.run_info),
    ]
    config, ahead = _timing(args, run, model, splits, bar)
    # The Trainer checks here, before the first step, that --out has room for both files.
    trainer = Trainer(model, splits, config, tokenizer=tokenizer, resume=run.resume, callbacks=ahead + savers)
    if args.force:  # only now, once the new run can start: the old run's files go
        for saver in savers:
            saver.path.unlink(missing_ok=True)
    try:
        return trainer.run()
    finally:
        bar.close()


def _timing(
    args: argparse.Namespace, run: _Run, model: Any, splits: Any, bar: Any
) -> tuple[TrainConfig, list[Any]]:
    """The config to train with and the callbacks ahead of the savers: the progress bar, or with
    --minutes the TimeBudget that lays the schedule over the clock (and its own bar)."""
    from ..training.budget import timed_run

    if run.minutes is None:
        return run.config, [] if args.no_progress else [bar]
    config, callbacks = timed_run(
        run.config, splits, run.minutes * 60, model.block_size, progress=not args.no_progress
    )
    return config, list(callbacks)


def _report(history: History, tokenizer: Any, splits: Any, path: Path) -> None:
    from ..data.tokenizers import characters_per_token

    for step, tr, va in zip(history.eval_steps, history.train_loss, history.val_loss, strict=True):
        print(f"step {step + 1:5d}: train loss {tr:.4f}, val loss {va:.4f}")
    per_char = ""
    if tokenizer.name != "char":  # nats per character, comparable with the char tokenizer's loss
        val_chars_per_token = characters_per_token(tokenizer, splits.val)  # the val split's own, as the loss
        per_char = f" ({history.best_val_loss / val_chars_per_token:.4f} per character)"
    print(
        f"best val loss {history.best_val_loss:.4f}{per_char} at step {history.best_step + 1}, "
        f"{history.seconds:.1f} s on {history.device} "
        f"({history.tokens_per_second:,.0f} tokens/s); checkpoint: {path}"
    )


def _closing_sample(path: Path, device: str, tokens: int, seed: int) -> None:
    from ..nn.sampling import stream_text
    from ..training.checkpoint import load_checkpoint

    best = load_checkpoint(path, device=device)
    print(f"\n--- sample ({tokens} tokens, temperature 0.8) ---")
    _print_stream(stream_text(best.model, best.tokenizer, "\n", tokens, 0.8, None, seed))


def _print_stream(pieces: Iterator[str]) -> None:
    """Each piece as soon as it is made; the line is ended however the stream ends (Ctrl-C too)."""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()


def _train_on_every_rank(args: argparse.Namespace) -> None:
    """`train`; under torchrun, this rank's part of a data-parallel run, where rank 0 alone prints."""
    from ..training.runtime.distributed import process_group, quiet_unless_main

    with process_group(args.device) as group:
        if group is None:  # no torchrun: one process, as ever
            return _train(args)
        rank_args = {"device": str(group.device), "sample_tokens": args.sample_tokens if group.is_main else 0}
        with quiet_unless_main():
            _train(argparse.Namespace(**{**vars(args), **rank_args}))


def _sample(args: argparse.Namespace) -> None:
    from ..nn.sampling import stream_text
    from ..training.checkpoint import load_checkpoint
    from ..training.runtime.device import pick_device

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
    _print_stream(pieces)


def _bench(args: argparse.Namespace) -> None:
    from .bench import run_command

    run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": _train_on_every_rank, "sample": _sample, "bench": _bench}
    commands["export"] = export_command.run
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
