"""Training for a wall-clock budget: `attention-playground train --minutes N`.

A step count fixed in advance ends early on a fast machine and late on a slow one. Here the
schedule is laid over the time instead: the first `warmup` steps ramp the learning rate up, as in
every preset, and from then on it follows the decay (config.schedule: a cosine or a straight line)
from learning_rate to min_lr at the fraction of the budget already spent, so it reaches min_lr as
the time runs out, whatever the machine's speed. The run evaluates at a fixed cadence in seconds,
and once more when the time is up.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import deque
from typing import Any

from torch import nn

from ..data.batches import Splits
from ..errors import ConfigError
from ..nn.base import uncompiled
from ..training.config import TrainConfig
from .callbacks import Callback, ProgressBar, RunningTrainer
from .history import History
from .schedule import decayed_learning_rate, learning_rate_at
from .trainer import Trainer

EVALUATIONS_PER_BUDGET = 6  # the default cadence: an evaluation every sixth of the budget, and at the end
NO_STEP_LIMIT = 2**62  # max_iters and eval_interval of a timed run: time, not steps, ends it


def budget_learning_rate(step: int, fraction: float, config: TrainConfig) -> float:
    """Linear warmup over the first config.warmup steps, then the decay at `fraction` of the budget.

    The decay (cosine, or linear) runs from the start of the budget (the warmup is a few seconds of
    it), from learning_rate at fraction 0 to min_lr at fraction 1; schedule="constant" keeps
    learning_rate.
    """
    if step < config.warmup:
        return learning_rate_at(step, config)  # the warmup counts steps, as without a budget
    return decayed_learning_rate(fraction, config)


class TimeBudget(Callback):
    """Give a Trainer `seconds` of its own wall time (its evaluations included), then stop it.

    It sets trainer.lr_schedule to budget_learning_rate at the time spent so far, asks for an
    evaluation every `eval_every` seconds (default: a sixth of the budget), and stops the run when
    one more step and the final evaluation would no longer fit, ending with that evaluation.
    Time is `trainer.history.seconds`: a trainer that shares the machine in turns (the bench's)
    counts only its own turns.
    """

    def __init__(self, seconds: float, eval_every: float | None = None):
        if not seconds > 0:
            raise ConfigError(f"a time budget must be positive, got {seconds!r} seconds")
        if eval_every is not None and not eval_every > 0:
            raise ConfigError(f"eval_every={eval_every!r} must be a positive number of seconds")
        self.seconds = float(seconds)
        self.eval_every = eval_every if eval_every is not None else seconds / EVALUATIONS_PER_BUDGET
        self.elapsed = 0.0  # of the budget, at the end of the latest step or evaluation
        self.finished = False  # the time is up (or the trainer reached max_iters)
        self._began: float | None = None  # trainer.history.seconds when the budget began
        self._last_eval = 0.0  # elapsed at the latest evaluation
        self._steps: deque[float] = deque(maxlen=21)  # how long the latest steps took (not the first)
        self._first_step = True
        self._eval_seconds: float | None = None  # how long the latest evaluation took

    @property
    def fraction(self) -> float:
        """How much of the budget is spent, 0 to 1."""
        return min(1.0, self.elapsed / self.seconds)

    def learning_rate(self, step: int, config: TrainConfig) -> float:
        """The Trainer's lr_schedule while this budget runs."""
        return budget_learning_rate(step, self.fraction, config)

    def _now(self, trainer: RunningTrainer) -> float:
        return trainer.history.seconds - (self._began or 0.0)

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        if self._began is None:
            self._began = trainer.history.seconds
        trainer.lr_schedule = self.learning_rate

    @property
    def step_seconds(self) -> float:
        """A step's usual time: the median of the latest ones (the first, which warms up, left out)."""
        return statistics.median(self._steps) if self._steps else 0.0

    def _eval_cost(self, trainer: RunningTrainer) -> float:
        """Seconds an evaluation takes: the latest one's, or before any, 2 x eval_iters forwards
        at about a third of a training step each (a forward without a backward)."""
        if self._eval_seconds is not None:
            return self._eval_seconds
        return 2 * trainer.config.eval_iters * self.step_seconds / 3

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        now = self._now(trainer)
        if not self._first_step:  # the first step pays one-time costs: it says little about the next
            self._steps.append(now - self.elapsed)
        self._first_step, self.elapsed = False, now
        if now + self.step_seconds + self._eval_cost(trainer) >= self.seconds:  # no room for another step
            self.finished = True
            trainer.request_eval()
            trainer.request_stop()
        elif now - self._last_eval >= self.eval_every:
            trainer.request_eval()

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        now = self._now(trainer)
        self._eval_seconds, self.elapsed, self._last_eval = now - self.elapsed, now, now

    def on_run_end(self, trainer: RunningTrainer) -> None:
        self.finished = self.finished or trainer.done


def timed(config: TrainConfig) -> TrainConfig:
    """config for a run that time ends: no step limit, no evaluations by step count."""
    return dataclasses.replace(config, max_iters=NO_STEP_LIMIT, eval_interval=NO_STEP_LIMIT)


def is_timed(config: TrainConfig) -> bool:
    """True for the config of a run that time ended (timed), which a step count cannot continue."""
    return config.max_iters >= NO_STEP_LIMIT


def eval_iters_within(config: TrainConfig, data: Splits, block_size: int) -> TrainConfig:
    """config with at most the eval batches it takes to cover the val split once: the time a budget
    gives goes to training (GPT-2 tokens pack 3.3 characters each: 17 batches of 32 x 64 cover
    Tiny Shakespeare's val split, where 50 cover its characters)."""
    cover = math.ceil(len(data.val) / (config.batch_size * block_size))
    return dataclasses.replace(config, eval_iters=max(1, min(config.eval_iters, cover)))


def timed_run(
    config: TrainConfig,
    data: Splits,
    seconds: float,
    block_size: int | None,
    *,
    eval_every: float | None = None,
    progress: bool = False,
) -> tuple[TrainConfig, list[Callback]]:
    """The config and callbacks that give a Trainer `seconds` of wall time (TimeBudget first, then
    its progress bar if asked): config timed, its eval_iters cut to cover the val split once."""
    budget = TimeBudget(seconds, eval_every)
    config = eval_iters_within(timed(config), data, block_size) if block_size else timed(config)
    return config, [budget, *([ProgressBar(budget.seconds)] if progress else [])]


def train_for(
    model: nn.Module,
    data: Splits,
    config: TrainConfig,
    seconds: float,
    *,
    eval_every: float | None = None,
    progress: bool = False,
    **options: Any,
) -> History:
    """Train `model` in place for `seconds` of wall time, evaluations included; returns its History.
    `options` are the Trainer's (block_size, tokenizer, checkpoint_path, ...), as for train().

    The schedule (config's learning rates and warmup) is laid over the time by TimeBudget,
    config's max_iters and eval_interval are set aside, and its eval_iters cut to what covers the
    val split once (eval_iters_within).
    """
    block = options.get("block_size") or getattr(uncompiled(model), "block_size", None)
    config, callbacks = timed_run(config, data, seconds, block, eval_every=eval_every, progress=progress)
    trainer = Trainer(
        model, data, config, **{**options, "callbacks": [*callbacks, *options.get("callbacks", [])]}
    )
    history = trainer.run()
    model.eval()
    return history
