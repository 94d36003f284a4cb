"""A run folder and what `train` does with it: no argparse here, only a TrainRequest.

A run lives in one folder (--out): ckpt.pt, the checkpoint with the best val loss, and last.pt, the
state at the latest evaluation, which --resume continues. One process at a time holds the folder
(see claim). A new run takes a preset and the options given; a resumed one takes the checkpoint's
own preset, data, tokenizer and settings, and refuses an option that contradicts them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PlaygroundError
from .run_folder import check_same_text, checkpoint_in, corpus_record, folder_of_run, load_from_run
from .termination import Terminated, stop_at_next_step

if TYPE_CHECKING:
    from ..training.checkpoint import Checkpoint
    from ..training.config import TrainConfig
    from ..training.history import History

DEFAULT_PRESET, DEFAULT_DATA, DEFAULT_TOKENIZER = "cpu", "tinyshakespeare", "char"
# TrainConfig fields with an option: --resume takes them from the checkpoint (see _refuse_changes).
TRAINING_OPTIONS = {
    "max_iters": "--max-iters",
    "batch_size": "--batch-size",
    "grad_accum_steps": "--grad-accum-steps",
    "learning_rate": "--learning-rate",
    "seed": "--seed",
    "dtype": "--dtype",
}


@dataclass(frozen=True)
class TrainRequest:
    """What `train` was asked to do: each option's value, None where it was not given."""

    preset: str | None = None
    minutes: float | None = None
    data: str | None = None
    tokenizer: str | None = None
    out: str | None = None
    resume: bool | str = False  # True: the run in --out; a path: a run folder, or a checkpoint file in one
    change_settings: bool = False
    force: bool = False
    max_iters: int | None = None
    batch_size: int | None = None
    grad_accum_steps: int | None = None
    learning_rate: float | None = None
    seed: int | None = None
    device: str | None = None
    dtype: str | None = None
    compile: bool = False
    sample_tokens: int = 500
    no_progress: bool = False

    @classmethod
    def of(cls, options: object) -> TrainRequest:
        """The request from any object with these attributes (argparse's Namespace)."""
        return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})


@dataclass
class Run:
    """What `train` is about to do: a new run of a preset, or the continuation of a checkpoint's."""

    out: Path
    label: str  # "tiny preset"
    data: str
    tokenizer_name: str
    config: TrainConfig
    preset: str | None = None
    resume: Checkpoint | None = None
    minutes: float | None = None  # --minutes: wall time, not config.max_iters, ends the run
    corpus: dict[str, Any] | None = None  # the text's record (run_folder.corpus_record), once it is read
    text: str | None = None  # the text, where it was read already (to check a resumed run's)

    @property
    def run_info(self) -> dict[str, Any]:
        return {"preset": self.preset, "data": self.data, "corpus": self.corpus}


def train(args: TrainRequest) -> None:
    from .run_folder import checkpoint_file

    default = f"runs/{_preset_name(args)}-{args.tokenizer or DEFAULT_TOKENIZER}"
    out = folder_of_run(args.resume, args.out, default)
    _check_flags(args, out)
    with _claim(out):
        run = _resumed_run(args, out) if args.resume else _new_run(args, out)
        model, tokenizer, splits = _prepare(run)
        history = _fit(args, run, model, tokenizer, splits)
        _report(history, tokenizer, splits, checkpoint_file(out))
        if args.sample_tokens:
            _closing_sample(checkpoint_file(out), history.device, args.sample_tokens, run.config.seed)


def _check_flags(args: TrainRequest, out: Path) -> None:
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


def _preset_name(args: TrainRequest) -> str:
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
    from ..training.checkpoint import check_writable
    from ..training.runtime import distributed
    from .run_folder import checkpoint_file, latest_file

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


def _new_run(args: TrainRequest, out: Path) -> Run:
    from ..training.config import get_preset
    from .run_folder import checkpoint_file, latest_file

    held = [p for p in (checkpoint_file(out), latest_file(out)) if p.exists()]
    if held and not args.force:
        raise PlaygroundError(
            f"{held[0]} already holds a checkpoint: pass --resume to continue it, --force to "
            "replace it, or choose another --out"
        )
    preset = get_preset(_preset_name(args))
    return Run(
        out=out,
        label=f"{preset.name} preset",
        data=args.data or DEFAULT_DATA,
        tokenizer_name=args.tokenizer or DEFAULT_TOKENIZER,
        config=_train_config(preset.train, args),
        preset=preset.name,
        minutes=args.minutes,
    )


def _train_config(base: TrainConfig, args: TrainRequest) -> TrainConfig:
    """`base` with the options given, built in one go (so no field is checked against a stale one)."""
    from ..nn.config import config_to_dict
    from ..training.config import TrainConfig

    values = config_to_dict(base)
    values.update({name: getattr(args, name) for name in TRAINING_OPTIONS if getattr(args, name) is not None})
    values.update({"device": args.device or base.device, "compile": args.compile or base.compile})
    if args.learning_rate not in (None, base.learning_rate):  # the schedule ends as the preset's, relatively
        values["min_lr"] = min(args.learning_rate, args.learning_rate * base.min_lr / base.learning_rate)
    return TrainConfig(**values)


def _resumed_run(args: TrainRequest, out: Path) -> Run:
    from ..data.corpus import load_text

    path = checkpoint_in(args.resume if isinstance(args.resume, str) else out, "resume")
    checkpoint = load_from_run(path, "resume")
    if checkpoint.train_config is None:
        raise PlaygroundError(f"{path} holds no training settings, so it cannot be resumed: start a new run")
    info = checkpoint.run_info or {}
    saved = _untimed(checkpoint.train_config, path, args)
    _refuse_changes(args, path, checkpoint, info)
    data = info.get("data") or args.data or DEFAULT_DATA
    text = load_text(data)
    check_same_text(checkpoint, text, data)
    of = "a --minutes run" if saved is not checkpoint.train_config else saved.max_iters
    print(f"resuming {path} after step {checkpoint.step + 1} of {of}")
    if checkpoint.trainer_state is None:
        print(f"note: {path} predates exact resume: the rest of the run draws fresh batches")
    preset = info.get("preset")
    return Run(
        out=out,
        label=f"{preset} preset" if preset else f"{path}'s model",
        data=data,
        tokenizer_name=checkpoint.tokenizer.name,
        config=_train_config(saved, args),
        preset=preset,
        resume=checkpoint,
        text=text,
    )


def _untimed(saved: TrainConfig, path: Path, args: TrainRequest) -> TrainConfig:
    """A --minutes run's settings, which time ended, with a step count's evaluations to go on by."""
    from ..training.budget import is_timed
    from ..training.config import PRESETS

    if not is_timed(saved):
        return saved
    if args.max_iters is None or not args.change_settings:
        raise PlaygroundError(
            f"{path} is a run that --minutes timed: continue it for a number of steps with --max-iters N "
            "--change-settings"
        )
    return dataclasses.replace(saved, eval_interval=PRESETS[DEFAULT_PRESET].train.eval_interval)


def _refuse_changes(args: TrainRequest, path: Path, checkpoint: Checkpoint, info: dict) -> None:
    """--resume continues the run as it was: an option that says otherwise is refused in one line."""
    fixed = {
        "--preset": (args.preset, info.get("preset")),
        "--data": (args.data, info.get("data")),
        "--tokenizer": (args.tokenizer, checkpoint.tokenizer.name),
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


def _prepare(run: Run) -> tuple[Any, Any, Any]:
    """The model (new, or the checkpoint's), its tokenizer and the token splits; one line."""
    from ..data.corpus import corpus_of, load_text
    from ..nn.variants import ExtendedGPT
    from ..training.config import get_preset
    from ..training.runtime.device import set_seed

    text = load_text(run.data) if run.text is None else run.text
    _, tokenizer, splits = corpus_of(text, run.resume.tokenizer if run.resume else run.tokenizer_name)
    if run.resume is not None:
        model = run.resume.model
    else:
        assert run.preset is not None  # a new run always has its preset
        set_seed(run.config.seed)
        model = ExtendedGPT(get_preset(run.preset).model_config(tokenizer.vocab_size))
    run.corpus = corpus_record(text, len(splits.train), len(splits.val))
    print(
        f"{run.label}: {model.num_params() / 1e6:.2f}M parameters, "
        f"{tokenizer.name} tokenizer (vocab {tokenizer.vocab_size:,}), "
        f"{len(splits.train):,} train / {len(splits.val):,} val tokens, "
        + (f"{run.minutes:g} minutes" if run.minutes is not None else f"{run.config.max_iters} steps")
    )
    return model, tokenizer, splits


def _fit(args: TrainRequest, run: Run, model: Any, tokenizer: Any, splits: Any) -> History:
    """Train with the two savers (the best first: see SaveLatestCheckpoint); the bar ends its line.

    A SIGTERM stops the training after its current step and an evaluation, which the savers write,
    then raises Terminated (see termination.py)."""
    from ..training.callbacks import ProgressBar, SaveBestCheckpoint, SaveLatestCheckpoint
    from ..training.runtime import distributed
    from ..training.trainer import Trainer
    from .run_folder import checkpoint_file, latest_file

    bar = ProgressBar()
    savers = [
        SaveBestCheckpoint(checkpoint_file(run.out), tokenizer, overwrite=args.force, run_info=run.run_info),
        SaveLatestCheckpoint(latest_file(run.out), tokenizer, overwrite=args.force, run_info=run.run_info),
    ]
    config, ahead = _timing(args, run, model, splits, bar)
    with stop_at_next_step() as stopper:
        # The Trainer checks here, before the first step, that --out has room for both files.
        callbacks = [stopper, *ahead, *savers]
        trainer = Trainer(model, splits, config, tokenizer=tokenizer, resume=run.resume, callbacks=callbacks)
        if args.force:  # only now, once the new run can start: the old run's files go
            for saver in savers:
                saver.path.unlink(missing_ok=True)
        try:
            history = trainer.run()
        finally:
            bar.close()
    if distributed.any_rank(stopper.requested):  # every rank raises, whichever got the signal
        saved = f"saved the state after step {trainer.step} in {latest_file(run.out)}"
        raise Terminated(f"{saved}: --resume continues from there")
    return history


def _timing(args: TrainRequest, run: Run, model: Any, splits: Any, bar: Any) -> tuple[TrainConfig, list[Any]]:
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
    print_stream(stream_text(best.model, best.tokenizer, "\n", tokens, 0.8, None, seed))


def print_stream(pieces: Iterator[str]) -> None:
    """Each piece as soon as it is made; the line is ended however the stream ends (Ctrl-C too)."""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()


def train_on_every_rank(args: TrainRequest) -> None:
    """`train`; under torchrun, this rank's part of a data-parallel run, where rank 0 alone prints."""
    from ..training.runtime.distributed import process_group, quiet_unless_main

    with process_group(args.device) as group:
        if group is None:  # no torchrun: one process, as ever
            return train(args)
        sample_tokens = args.sample_tokens if group.is_main else 0  # rank 0 alone samples
        with quiet_unless_main():
            train(dataclasses.replace(args, device=str(group.device), sample_tokens=sample_tokens))
