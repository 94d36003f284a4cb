"""Training: AdamW, warmup then cosine decay (or constant), gradient clipping, honest loss estimates.

The loop is minGPT's Trainer: `run()` trains to max_iters and calls its callbacks at each step and
evaluation; the progress bar, the checkpoint savers and the bench's clock are such callbacks.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.corpus import Splits, check_long_enough, get_batch, move_batch
from ..data.tokenizers import Tokenizer
from ..errors import CheckpointError, ConfigError, TrainingDiverged
from ..nn.base import LanguageModel, evaluating, uncompiled
from ..training.config import TrainConfig
from .checkpoint import Checkpoint, check_can_save, load_checkpoint, save_checkpoint
from .optim import Optimizer, decay_groups, muon_with_adamw
from .runtime import distributed
from .runtime.device import pick_device, set_seed
from .runtime.precision import autocast_context, compile_settings, enable_tf32, flush_denormals


@dataclass
class History:
    """What happened during train(): the loss at every step and the estimates at each evaluation."""

    step_losses: list[float] = field(default_factory=list)  # one training batch's loss per step
    eval_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # estimate_loss at eval_steps
    val_loss: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_step: int = -1
    seconds: float = 0.0  # wall time so far, evaluations included
    tokens_seen: int = 0
    device: str = "cpu"

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds else 0.0


def decayed_learning_rate(progress: float, config: TrainConfig) -> float:
    """The learning rate `progress` (0 to 1) of the way through the decay, by config.schedule:
    cosine or a straight line from learning_rate to min_lr, or learning_rate throughout."""
    if config.schedule == "constant":
        return config.learning_rate
    progress = min(1.0, max(0.0, progress))
    straight, cosine = 1.0 - progress, 0.5 * (1.0 + math.cos(math.pi * progress))  # each 1 -> 0
    left = straight if config.schedule == "linear" else cosine  # cosine is slow at both ends
    return config.min_lr + left * (config.learning_rate - config.min_lr)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warmup for `warmup` steps, then the decay to min_lr at max_iters (or constant)."""
    if step < config.warmup:
        return config.learning_rate * (step + 1) / (config.warmup + 1)
    span = max(1, config.max_iters - 1 - config.warmup)
    return decayed_learning_rate((step - config.warmup) / span, config)


def make_optimizer(model: nn.Module, config: TrainConfig) -> Optimizer:
    """AdamW that decays matrices and embeddings only, or every parameter with decay_norms_and_biases.

    optimizer="muon": Muon on the blocks' matrices and AdamW on the rest (optimizers.py).
    """
    if config.optimizer == "muon":
        if config.decay_norms_and_biases:
            raise ConfigError("decay_norms_and_biases is AdamW-only: turn it off with optimizer='muon'")
        return muon_with_adamw(model, config.learning_rate, config.weight_decay, config.betas)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.decay_norms_and_biases:  # torch's AdamW(model.parameters()), as the lecture's gpt.py
        groups = [{"params": params, "weight_decay": config.weight_decay}]
    else:  # nanoGPT's: biases and LayerNorm gains keep their size
        groups = decay_groups(params, config.weight_decay)
    try:  # one fused kernel for the whole update, where this PyTorch has it for the device
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas)


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    splits: Splits,
    batch_size: int,
    block_size: int,
    eval_iters: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
) -> dict[str, float]:
    """Mean loss over eval_iters batches of each split; the same batches every call (fixed seed).

    Under torchrun the ranks share the work: rank r of N evaluates batches r, r + N, ... (each rank
    draws them all, so all see the same batches) and the losses are summed over the ranks.
    """
    if not isinstance(eval_iters, int) or isinstance(eval_iters, bool) or eval_iters < 1:
        raise ConfigError(f"eval_iters={eval_iters!r} must be a whole number >= 1: the batches averaged")
    for name, data in (("training", splits.train), ("validation", splits.val)):
        check_long_enough(data, block_size, f"the {name} split")
    out = {}
    rank, ranks = distributed.rank(), distributed.world_size()
    with evaluating(model):
        for name, data in (("train", splits.train), ("val", splits.val)):
            generator = torch.Generator().manual_seed(seed)
            losses = torch.zeros(eval_iters)
            for i in range(eval_iters):
                x, y = get_batch(data, batch_size, block_size, generator)
                if i % ranks != rank:  # another rank's batch
                    continue
                x, y = move_batch(x, y, device)
                with autocast or contextlib.nullcontext():
                    _, loss = model(x, y)
                losses[i] = loss.item()
            out[name] = distributed.all_reduce_sum(losses).mean().item()
    return out


class Callback:
    """What a Trainer tells its callbacks; override the events you need (each does nothing here).

    `step` is the index of the step just run (0 first), as in History.eval_steps; `trainer.step`
    is the next one. Any object with some of these methods works as a callback too. Under torchrun
    callbacks run on rank 0 only (they print and write files), unless they set `every_rank = True`.
    """

    every_rank: bool = False

    def on_run_begin(self, trainer: Trainer) -> None:
        """run() is about to take its first step (or return at once, when the trainer is done)."""

    def on_step(self, trainer: Trainer, step: int, loss: float) -> None:
        """A step ran; `loss` is its training batch's loss."""

    def on_eval(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        """estimate_loss ran after `step`; `losses` has its "train" and "val" means."""

    def on_run_end(self, trainer: Trainer) -> None:
        """run() is about to return: max_iters reached, or a callback asked it to stop."""


class Trainer:
    """train(), with its parts in view: `run()` trains to max_iters, callbacks watch and may stop it.

    A callback that calls `request_stop()` ends run() after the current step (and its evaluation,
    if it has one); run() again continues from there. That is how the bench interleaves two runs
    on one machine; `history.seconds` counts only this trainer's own time.
    """

    def __init__(
        self,
        model: nn.Module,
        data: Splits,
        config: TrainConfig,
        *,
        block_size: int | None = None,
        tokenizer: Tokenizer | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        resume: Checkpoint | str | os.PathLike | None = None,
        callbacks: Iterable[Callback] = (),
        overwrite: bool = False,
    ):
        self.block_size = _context_length(model, block_size)
        check_long_enough(data.train, self.block_size, "the training split")
        check_long_enough(data.val, self.block_size, "the validation split")
        self.model, self.data, self.config = model, data, config
        self.callbacks = list(callbacks)
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
        config, history = self.config, self.history
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
                self._eval_requested = distributed.any_rank(self._eval_requested)  # each rank's clock asks
                if self._eval_requested or self.step % config.eval_interval == 0 or self.done:
                    self._eval_requested = False
                    losses = self.evaluate(step)
                    self._tick()
                    self._fire("on_eval", step, losses)
                self._stop_requested = distributed.any_rank(self._stop_requested)  # all ranks stop together
        self._tick()
        self._fire("on_run_end")
        return history

    def train_step(self) -> float:
        """One optimizer step on one fresh global batch; returns that batch's mean loss.

        Each rank takes its rows of the batch, in grad_accum_steps micro-batches whose losses are
        scaled so that their gradients add up to the mean's; DDP averages the ranks' gradients.
        """
        config, optimizer, step = self.config, self.optimizer, self.step
        lr = self.lr_schedule(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(self.data.train, config.batch_size, self.block_size, self.generator)  # (B, T)
        x, y = move_batch(distributed.rank_share(x), distributed.rank_share(y), self.device)  # (B/N, T)
        optimizer.zero_grad(set_to_none=True)
        micro_steps, loss_sum = config.grad_accum_steps, torch.zeros((), device=self.device)
        for i, (xb, yb) in enumerate(zip(x.chunk(micro_steps), y.chunk(micro_steps), strict=True)):
            with distributed.gradient_sync(self.compiled_model, sync=i == micro_steps - 1):  # last: sync
                with self.autocast, compile_settings() if config.compile else contextlib.nullcontext():
                    _, loss = self.compiled_model(xb, yb)
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
        self.history.tokens_seen += config.batch_size * self.block_size  # every rank's rows
        return loss_value

    def evaluate(self, step: int) -> dict[str, float]:
        """estimate_loss on both splits after `step`, written into the history (and its best)."""
        config, history = self.config, self.history
        losses = estimate_loss(
            self.model,
            self.data,
            batch_size=config.batch_size,
            block_size=self.block_size,
            eval_iters=config.eval_iters,
            seed=config.seed,
            device=self.device,
            autocast=self.autocast,
        )
        history.eval_steps.append(step)
        history.train_loss.append(losses["train"])
        history.val_loss.append(losses["val"])
        if losses["val"] < history.best_val_loss:
            history.best_val_loss, history.best_step = losses["val"], step
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


class ProgressBar(Callback):
    """A tqdm bar over the steps left, with the latest train and val losses beside it."""

    bar: Any = None  # a tqdm bar from the first on_run_begin

    def on_run_begin(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        total = trainer.config.max_iters - trainer.step
        self.bar = tqdm(total=total, desc=f"training on {trainer.device}", unit="step")

    def on_step(self, trainer: Trainer, step: int, loss: float) -> None:
        self.bar.update()

    def on_eval(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        self.bar.set_postfix({name: f"{loss:.4f}" for name, loss in losses.items()})

    def on_run_end(self, trainer: Trainer) -> None:
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

    def save(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
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

    def on_eval(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        if trainer.history.best_step == step:  # this evaluation set a new best
            self.save(trainer, step, losses)


class SaveLatestCheckpoint(CheckpointSaver):
    """Keep the state of every evaluation at `path` (last.pt), so a killed run loses one interval at most.

    Put it after SaveBestCheckpoint: the best file is then never older than the latest, and a run
    killed between the two saves redoes, exactly, the steps that led to the best.
    """

    def on_eval(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        self.save(trainer, step, losses)


def train(
    model: nn.Module,
    data: Splits,
    config: TrainConfig,
    *,
    block_size: int | None = None,
    tokenizer: Tokenizer | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: Checkpoint | str | os.PathLike | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> History:
    """Train `model` in place for config.max_iters steps and return its History.

    With `checkpoint_path` (and a tokenizer), the checkpoint with the best val loss so far is kept
    there; a file already there is refused unless `overwrite=True` (or `resume` continues its run).
    `resume` continues a checkpoint's run from the step after it was saved: with the checkpoint's
    batches, dropout and history, the same run to the last bit when `config` is the one it saved.
    """
    bar = ProgressBar()
    trainer = Trainer(
        model,
        data,
        config,
        block_size=block_size,
        tokenizer=tokenizer,
        checkpoint_path=checkpoint_path,
        resume=resume,
        callbacks=[bar] if progress else [],
        overwrite=overwrite,
    )
    try:
        history = trainer.run()
    finally:
        bar.close()
    model.eval()
    return history


def checkpoint_file(out_dir: str | os.PathLike) -> Path:
    """Where the CLI keeps a run's best checkpoint."""
    return Path(out_dir) / "ckpt.pt"


def latest_file(out_dir: str | os.PathLike) -> Path:
    """Where the CLI keeps a run's latest state, the one --resume continues."""
    return Path(out_dir) / "last.pt"
