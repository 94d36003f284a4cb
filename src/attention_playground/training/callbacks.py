"""What a Trainer tells the code that watches it: the Callback events, and the callbacks the course
uses (a progress bar, the two checkpoint savers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..data.tokenizers import Tokenizer
from ..errors import ConfigError
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .history import History


class RunningTrainer(Protocol):
    """What a callback may read of the Trainer that calls it, and ask of it (trainer.py)."""

    model: nn.Module
    config: TrainConfig
    optimizer: Any
    history: History
    step: int  # the next step to run
    device: torch.device
    lr_schedule: Any  # (step, config) -> learning rate: a callback may lay another schedule over the run

    @property
    def done(self) -> bool: ...

    def resume_state(self) -> dict[str, Any]: ...

    def request_stop(self) -> None: ...

    def request_eval(self) -> None: ...


class Callback:
    """What a Trainer tells its callbacks; override the events you need (each does nothing here).

    `step` is the index of the step just run (0 first), as in History.eval_steps; `trainer.step`
    is the next one. Any object with some of these methods works as a callback too. Under torchrun
    callbacks run on rank 0 only (they print and write files), unless they set `every_rank = True`.
    """

    every_rank: bool = False

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        """run() is about to take its first step (or return at once, when the trainer is done)."""

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        """A step ran; `loss` is its training batch's loss."""

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        """estimate_loss ran after `step`; `losses` has its "train" and "val" means."""

    def on_run_end(self, trainer: RunningTrainer) -> None:
        """run() is about to return: max_iters reached, or a callback asked it to stop."""


class ProgressBar(Callback):
    """A tqdm bar over the steps left, or with `seconds`, over a run's wall-time budget (its own time:
    the seconds the budget counts), with the latest train and val losses beside it.

    A text bar on stderr, in a terminal and in Jupyter alike: each update overwrites the line (a
    carriage return), so a saved notebook keeps the finished bar, where a widget bar is saved as the
    text of its first state, 0%.
    """

    bar: Any = None  # a tqdm bar from the first on_run_begin

    def __init__(self, seconds: float | None = None):
        self.seconds = seconds

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        from tqdm.std import tqdm

        if self.seconds is None:
            total = trainer.config.max_iters - trainer.step
            self.bar = tqdm(total=total, desc=f"training on {trainer.device}", unit="step")
        else:
            desc = f"{self.seconds / 60:g} min on {trainer.device}"
            self.bar = tqdm(total=round(self.seconds), desc=desc, unit="s")

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        if self.seconds is None:
            self.bar.update()
        else:
            self.bar.update(min(round(trainer.history.seconds), self.bar.total) - self.bar.n)

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        shown = {name: f"{loss:.4f}" for name, loss in losses.items()}
        self.bar.set_postfix(shown if self.seconds is None else {"step": step + 1, **shown})

    def on_run_end(self, trainer: RunningTrainer) -> None:
        self.close()

    def close(self) -> None:
        """End the bar's line, so that what is printed next (an error, an interrupt) gets its own."""
        if self.bar is not None:
            self.bar.close()


class CheckpointSaver(Callback):
    """What the two savers share: a path, a tokenizer, labels, and a save with the trainer's state.

    The Trainer checks, before the first step, that no saver overwrites a file unasked and that its
    folder can be written with room to spare.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        tokenizer: Tokenizer | None,
        *,
        overwrite: bool = False,
        run_info: dict[str, Any] | None = None,
    ):
        if tokenizer is None:
            raise ConfigError("a checkpoint stores the tokenizer: pass tokenizer= with checkpoint_path=")
        self.path, self.tokenizer = Path(path), tokenizer
        self.overwrite, self.run_info = overwrite, run_info

    def save(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        save_checkpoint(
            self.path,
            trainer.model,
            self.tokenizer,
            train_config=trainer.config,
            step=step,
            val_loss=losses["val"],
            optimizer=trainer.optimizer,
            trainer_state=trainer.resume_state(),
            run_info=self.run_info,
        )


class SaveBestCheckpoint(CheckpointSaver):
    """Keep the checkpoint with the best val loss so far at `path` (with all it takes to resume)."""

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        if trainer.history.best_step == step:  # this evaluation set a new best
            self.save(trainer, step, losses)


class SaveLatestCheckpoint(CheckpointSaver):
    """Keep the state of every evaluation at `path` (last.pt), so a killed run loses one interval at most.

    Put it after SaveBestCheckpoint: the best file is then never older than the latest, and a run
    killed between the two saves redoes, exactly, the steps that led to the best.
    """

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        self.save(trainer, step, losses)
