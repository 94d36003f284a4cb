"""The Trainer: the lecture's loop (lecture.py) with what a longer run needs. AdamW or Muon, warmup
then a cosine or straight-line decay, gradient clipping, mixed precision, gradient accumulation,
several processes under torchrun, and callbacks that watch it (minGPT's design): the progress bar,
the checkpoint savers, the clock of `train --minutes`, the bench.

It trains on a batch source: a corpus's Splits (random windows of the training split, with loss
estimates on both splits), or any function generator -> batch whose tensors are the model's
arguments, `model(*batch) -> (output, loss)` (the tasks of notebook 09, induction's sequences).

A run resumed from a checkpoint with a trainer state (every checkpoint the savers write) is the run
it continues: the same batches, the same dropout masks, the same losses to the last bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..data.batches import Splits, check_long_enough, get_batch, to_device
from ..data.tokenizers import Tokenizer
from ..errors import CheckpointError, ConfigError, TrainingDiverged
from ..nn.base import LanguageModel, uncompiled
from .callbacks import Callback, CheckpointSaver, ProgressBar, SaveBestCheckpoint
from .checkpoint import Checkpoint, check_can_save, load_checkpoint
from .config import TrainConfig
from .history import History
from .lecture import estimate_loss
from .optim import make_optimizer
from .runtime import distributed
from .runtime.device import pick_device, set_seed
from .runtime.precision import autocast_context, compile_settings, enable_tf32, flush_denormals
from .schedule import learning_rate_at, set_learning_rate

# A batch source: generator -> one global batch, a tuple of the model's arguments, each (B, ...)
BatchSource = Callable[[torch.Generator], tuple[torch.Tensor, ...]]


class Trainer:
    """`run()` trains to max_iters; callbacks watch it and may stop it.

    A callback that calls `request_stop()` ends run() after the current step (and its evaluation,
    if it has one); run() again continues from there. That is how the bench interleaves two runs
    on one machine; `history.seconds` counts only this trainer's own time.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Splits | BatchSource,
        config: TrainConfig,
        *,
        block_size: int | None = None,
        tokenizer: Tokenizer | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        resume: Checkpoint | str | os.PathLike | None = None,
        callbacks: Iterable[Callback] = (),
        overwrite: bool = False,
    ):
        self.model, self.config, self.callbacks = model, config, list(callbacks)
        self.splits, self.block_size, self.next_batch = self._batches_from(data, block_size)
        if checkpoint_path is not None:
            self.callbacks.append(SaveBestCheckpoint(checkpoint_path, tokenizer, overwrite=overwrite))
        distributed.check_batch_divides(config.batch_size, distributed.world_size(), config.grad_accum_steps)
        self._check_savers(resuming=resume is not None)
        self.device = pick_device(config.device)
        enable_tf32(self.device, config.dtype)
        model.to(self.device)
        self.optimizer = make_optimizer(model, config)
        self.history = History(device=str(self.device))
        self.step = 0  # the next step to run, and the number of steps run so far
        self.generator = set_seed(config.seed)  # batches; set_seed also seeds dropout's generator
        distributed.seed_for_rank(config.seed)  # the same batches, each rank its own dropout
        if resume is not None:
            self._resume_from(resume)
        self.autocast = autocast_context(self.device, config.dtype)
        parallel = distributed.data_parallel(model, self.device)  # DDP under torchrun, else the model
        self.compiled_model = torch.compile(parallel) if config.compile else parallel  # or itself
        # (step, config) -> the learning rate of that step; a callback may lay another schedule over
        # the run (budget.TimeBudget sets one by elapsed time)
        self.lr_schedule: Callable[[int, TrainConfig], float] = learning_rate_at
        self._stop_requested = self._eval_requested = False
        self._clock_began, self._seconds_before = 0.0, 0.0

    def _batches_from(
        self, data: Splits | BatchSource, block_size: int | None
    ) -> tuple[Splits | None, int | None, BatchSource]:
        """(splits, block_size, batch source): for Splits, random windows of the training split (and
        estimates on both splits); any other source is used as it is, with no estimates."""
        if not isinstance(data, Splits):
            return None, block_size, data
        block = _context_length(self.model, block_size)
        check_long_enough(data.train, block, "the training split")
        check_long_enough(data.val, block, "the validation split")
        return data, block, lambda generator: get_batch(data.train, self.config.batch_size, block, generator)

    def _check_savers(self, resuming: bool) -> None:
        """Before the first step: no saver overwrites a file unasked, and each can write its file."""
        savers = [callback for callback in self.callbacks if isinstance(callback, CheckpointSaver)]
        for saver in savers:
            if saver.path.exists() and not (saver.overwrite or resuming):
                raise CheckpointError(
                    f"{saver.path} already holds a checkpoint: pass overwrite=True to replace it, "
                    "resume= to continue its run, or choose another path"
                )
        if savers:
            check_can_save([saver.path for saver in savers], self.model)

    def _resume_from(self, resume: Checkpoint | str | os.PathLike) -> None:
        checkpoint = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume, self.device)
        uncompiled(self.model).load_state_dict(uncompiled(checkpoint.model).state_dict())
        if checkpoint.optimizer_state is not None:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.step = checkpoint.step + 1
        if checkpoint.trainer_state is not None:
            self._restore(checkpoint.trainer_state)
            return
        # A checkpoint from before trainer states: the run goes on, but with fresh batches.
        self.generator = set_seed(self.config.seed + self.step)
        if checkpoint.val_loss is not None:
            self.history.best_val_loss = checkpoint.val_loss
            self.history.best_step = checkpoint.step

    def resume_state(self) -> dict[str, Any]:
        """Beside weights and optimizer, what makes a resumed run the run it continues: the random
        states of the batches and of dropout (CPU, and the GPU's where one is used), and the history."""
        return {
            "generator": self.generator.get_state(),
            "cpu_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "mps_rng": torch.mps.get_rng_state() if self.device.type == "mps" else None,
            "history": dataclasses.asdict(self.history),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        """The inverse of resume_state(); each state goes back as a CPU byte tensor, as torch wants it."""
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["cpu_rng"].cpu())
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        if state.get("mps_rng") is not None and self.device.type == "mps":
            torch.mps.set_rng_state(state["mps_rng"].cpu())
        known = {f.name for f in dataclasses.fields(History)}  # a newer file's extra fields are left out
        saved = {name: value for name, value in state["history"].items() if name in known}
        self.history = History(**{**saved, "device": str(self.device)})

    @property
    def done(self) -> bool:
        return self.step >= self.config.max_iters

    def request_stop(self) -> None:
        """End run() after the current step and its evaluation; the next run() continues."""
        self._stop_requested = True

    def request_eval(self) -> None:
        """Evaluate after the current step, whether or not eval_interval says so."""
        self._eval_requested = True

    def run(self) -> History:
        """Train until max_iters, or until a callback asks to stop; returns the history so far."""
        history = self.history
        self._stop_requested = False
        self._clock_began, self._seconds_before = time.perf_counter(), history.seconds
        self.model.train()
        with flush_denormals(self.device):
            self._fire("on_run_begin")
            while not self.done and not self._stop_requested:
                step = self.step
                loss = self.train_step()
                history.step_losses.append(loss)
                self._tick()
                self._fire("on_step", step, loss)
                if self._evaluation_due():
                    losses = self.evaluate(step)
                    self._tick()
                    self._fire("on_eval", step, losses)
                self._stop_requested = distributed.any_rank(self._stop_requested)  # all ranks stop together
        self._tick()
        self._fire("on_run_end")
        return history

    def _evaluation_due(self) -> bool:
        """After a step: asked for (on any rank), every eval_interval steps, or at the end; never
        without splits to estimate the loss on."""
        asked = distributed.any_rank(self._eval_requested)  # each rank's clock may ask
        self._eval_requested = False
        return self.splits is not None and (asked or self.step % self.config.eval_interval == 0 or self.done)

    def train_step(self) -> float:
        """One optimizer step on one fresh global batch; returns that batch's mean loss.

        Each rank takes its rows of the batch, in grad_accum_steps micro-batches whose losses are
        scaled so that their gradients add up to the mean's; DDP averages the ranks' gradients.
        """
        config, optimizer, step = self.config, self.optimizer, self.step
        lr = self.lr_schedule(step, config)
        set_learning_rate(optimizer, lr)
        batch = self.next_batch(self.generator)  # the global batch: each tensor (B, ...)
        self.history.tokens_seen += batch[0].numel()  # every rank's rows: batch_size * block_size
        mine = to_device([distributed.rank_share(t) for t in batch], self.device)  # (B/N, ...)
        optimizer.zero_grad(set_to_none=True)
        micro_steps, loss_sum = config.grad_accum_steps, torch.zeros((), device=self.device)
        for i, micro in enumerate(zip(*(t.chunk(micro_steps) for t in mine), strict=True)):
            with distributed.gradient_sync(self.compiled_model, sync=i == micro_steps - 1):  # last: sync
                with self.autocast, compile_settings() if config.compile else contextlib.nullcontext():
                    _, loss = self.compiled_model(*micro)
                (loss / micro_steps).backward()
            loss_sum += loss.detach()
        loss_value = distributed.all_reduce_mean(loss_sum / micro_steps).item()  # the global batch's
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"the loss became {loss_value} at step {step + 1}: lower learning_rate "
                f"(now {config.learning_rate:g}) or keep grad_clip on (now {config.grad_clip:g})"
            )
        if config.grad_clip > 0:  # foreach: one call for every gradient, the same numbers
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip, foreach=True)
        optimizer.step()
        self.step += 1
        self.history.learning_rates.append(lr)
        return loss_value

    def evaluate(self, step: int) -> dict[str, float]:
        """estimate_loss on both splits after `step`, written into the history (and its best)."""
        config = self.config
        assert self.splits is not None and self.block_size is not None  # _evaluation_due checked
        model: Any = uncompiled(self.model)  # a LanguageModel, or any module that returns (logits, loss)
        with self.autocast:
            losses = estimate_loss(
                model, self.splits, config.batch_size, self.block_size, config.eval_iters, config.seed
            )
        self.history.record_eval(step, losses)
        return losses

    def _tick(self) -> None:
        """Bring history.seconds up to now, so callbacks read this trainer's time so far."""
        self.history.seconds = self._seconds_before + time.perf_counter() - self._clock_began

    def _fire(self, event: str, *args: object) -> None:
        main = distributed.is_main_process()
        for callback in self.callbacks:
            if not (main or getattr(callback, "every_rank", False)):
                continue  # rank 0 alone prints and writes
            hook = getattr(callback, event, None)
            if hook is not None:
                hook(self, *args)


def _context_length(model: nn.Module, block_size: int | None) -> int:
    """block_size= where given, else the model's own; a model that reads any length needs one."""
    inner = uncompiled(model)
    if block_size is None and isinstance(inner, LanguageModel):
        block_size = inner.block_size
    if block_size is None:
        raise ConfigError("this model reads any context length: pass block_size= to train()")
    return block_size


def train(
    model: nn.Module,
    data: Splits | BatchSource,
    config: TrainConfig,
    *,
    progress: bool = False,
    **options: Any,
) -> History:
    """Train `model` in place for config.max_iters steps and return its History; `options` are the
    Trainer's (block_size, tokenizer, checkpoint_path, resume, callbacks, overwrite).

    With `checkpoint_path` (and a tokenizer), the checkpoint with the best val loss so far is kept
    there; a file already there is refused unless `overwrite=True` (or `resume` continues its run).
    `resume` continues a checkpoint's run from the step after it was saved: with the checkpoint's
    batches, dropout and history, the same run to the last bit when `config` is the one it saved.
    """
    bar = ProgressBar()
    callbacks = [*([bar] if progress else []), *options.pop("callbacks", [])]
    trainer = Trainer(model, data, config, callbacks=callbacks, **options)
    try:
        history = trainer.run()
    finally:
        bar.close()
    model.eval()
    return history
