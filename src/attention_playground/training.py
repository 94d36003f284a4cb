"""Training: AdamW, warmup then cosine decay, gradient clipping, and honest loss estimates."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint, unwrap
from .config import TrainConfig
from .data import Splits, check_long_enough, get_batch
from .device import pick_device, set_seed
from .errors import ConfigError, TrainingDiverged
from .tokenizers import Tokenizer


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
    seconds: float = 0.0  # wall time, evaluations included
    eval_seconds: list[float] = field(default_factory=list)  # wall time so far at each evaluation
    step_seconds: list[float] = field(default_factory=list)  # each step alone, no evaluation
    tokens_seen: int = 0
    device: str = "cpu"

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warmup for `warmup` steps, then cosine decay to min_lr at max_iters."""
    if step < config.warmup:
        return config.learning_rate * (step + 1) / (config.warmup + 1)
    span = max(1, config.max_iters - 1 - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return config.min_lr + cosine * (config.learning_rate - config.min_lr)


def resolve_dtype(device: torch.device, dtype: str) -> str:
    """'float32' or 'bfloat16': what `dtype` means on `device` ('auto' picks bf16 where it has it)."""
    if dtype == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if cuda_bf16 or cpu_has_fast_bf16() and device.type == "cpu" else "float32"
    return dtype


def autocast_context(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for matmuls where asked for (or 'auto' on a GPU that has it)."""
    if resolve_dtype(device, dtype) == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmuls (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_fast_settings(device: torch.device, dtype: str) -> None:
    """What a GPU user expects: TF32 for float32 matmuls on CUDA, unless float32 was asked for exactly."""
    if device.type == "cuda" and dtype != "float32":
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere and later: ~8x the fp32 matmul rate
        torch.backends.cudnn.allow_tf32 = True


def compile_settings() -> contextlib.AbstractContextManager:
    """How torch.compile should split a training step into forward and backward: recompute views.

    Otherwise, because the next matmul's backward saves a *view* of ReLU's output, the partitioner
    also saves ReLU's mask as a bool tensor; inductor's bool store ran 50x slower than a float one
    on the AVX-512 CPU we measured, and compiled steps came out 1.2x slower than eager ones.
    Recomputing a view costs nothing, and the mask is then recomputed inside the backward kernel.
    """
    try:  # a private knob: where this PyTorch lacks it, compile as it is
        from torch._functorch import config

        return config.patch(recompute_views=True)
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """On the CPU, treat numbers below 1e-38 as zero while training.

    Such "denormal" numbers take a slow path through the CPU (GELU of inputs near zero runs 50x
    slower with them). Losses and weights come out bit for bit the same: they are far above 1e-38.
    """
    if device.type != "cpu" or denormals_flushed() or not torch.set_flush_denormal(True):
        yield  # not a CPU, already on (the caller's setting, left as it is), or not supported
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def denormals_flushed() -> bool:
    """Whether this thread already treats denormal floats as zero (PyTorch has no getter for it)."""
    return (torch.tensor([1e-40]) * 1.0).item() == 0.0  # 1e-40 is a denormal float32


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
    """Mean loss over eval_iters batches of each split; the same batches every call (fixed seed)."""
    was_training = model.training
    model.eval()
    out = {}
    for name, data in (("train", splits.train), ("val", splits.val)):
        generator = torch.Generator().manual_seed(seed)
        losses = torch.zeros(eval_iters)
        for i in range(eval_iters):
            x, y = get_batch(data, batch_size, block_size, generator, device)
            with autocast or contextlib.nullcontext():
                _, loss = model(x, y)
            losses[i] = loss.item()
        out[name] = losses.mean().item()
    model.train(was_training)
    return out


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW that decays matrices and embeddings but not biases and LayerNorm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    try:  # one fused kernel for the whole update, where this PyTorch has it for the device
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.99))


class Trainer:
    """train(), one piece at a time: `run()` advances it, `history` holds what happened so far.

    train() is `Trainer(...).run()`. Pieces let a benchmark interleave two runs on one machine, so
    both see the same (shared, noisy) CPU; `history.seconds` counts only this trainer's own time.
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
    ):
        block_size = block_size or getattr(model, "block_size", None)
        if block_size is None:
            raise ConfigError("this model reads any context length: pass block_size= to train()")
        check_long_enough(data.train, block_size, "the training split")
        check_long_enough(data.val, block_size, "the validation split")
        if checkpoint_path is not None and tokenizer is None:
            raise ConfigError("a checkpoint stores the tokenizer: pass tokenizer= with checkpoint_path=")
        self.model, self.data, self.config, self.block_size = model, data, config, block_size
        self.tokenizer, self.checkpoint_path = tokenizer, checkpoint_path
        self.device = pick_device(config.device)
        use_fast_settings(self.device, config.dtype)
        model.to(self.device)
        self.optimizer = make_optimizer(model, config, self.device)
        self.history = History(device=str(self.device))
        self.step = 0  # the next step to run
        if resume is not None:
            checkpoint = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume, self.device)
            unwrap(model).load_state_dict(unwrap(checkpoint.model).state_dict())
            if checkpoint.optimizer_state is not None:
                self.optimizer.load_state_dict(checkpoint.optimizer_state)
            self.step = checkpoint.step + 1
            if checkpoint.val_loss is not None:
                self.history.best_val_loss = checkpoint.val_loss
                self.history.best_step = checkpoint.step
        self.generator = set_seed(config.seed + self.step)  # a resumed run draws fresh batches
        self.autocast = autocast_context(self.device, config.dtype)
        self.step_model = torch.compile(model) if config.compile else model

    @property
    def done(self) -> bool:
        return self.step >= self.config.max_iters

    def evaluate(self, step: int) -> None:
        config, history = self.config, self.history
        losses = estimate_loss(
            self.model, self.data, config.batch_size, self.block_size, config.eval_iters, config.seed,
            self.device, self.autocast,
        )  # fmt: skip
        history.eval_steps.append(step)
        history.train_loss.append(losses["train"])
        history.val_loss.append(losses["val"])
        if losses["val"] < history.best_val_loss:
            history.best_val_loss, history.best_step = losses["val"], step
            if self.checkpoint_path is not None:
                save_checkpoint(
                    self.checkpoint_path, self.model, self.tokenizer, config, step, losses["val"],
                    self.optimizer,
                )  # fmt: skip

    def train_step(self) -> float:
        """One optimizer step on one fresh batch; returns that batch's loss."""
        config, optimizer, step = self.config, self.optimizer, self.step
        lr = learning_rate_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(self.data.train, config.batch_size, self.block_size, self.generator, self.device)
        with self.autocast, compile_settings() if self.config.compile else contextlib.nullcontext():
            _, loss = self.step_model(x, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"the loss became {loss_value} at step {step}: lower learning_rate "
                f"(now {config.learning_rate:g}) or keep grad_clip on (now {config.grad_clip:g})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:  # foreach: one call for every gradient, the same numbers
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip, foreach=True)
        optimizer.step()
        self.step += 1
        self.history.learning_rates.append(lr)
        self.history.tokens_seen += x.numel()
        return loss_value

    def run(self, steps: int | None = None, seconds: float | None = None, progress: bool = False) -> History:
        """Run the remaining steps, or at most `steps` of them, or until `seconds` have passed."""
        config, history = self.config, self.history
        last = config.max_iters if steps is None else min(config.max_iters, self.step + steps)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=last - self.step, desc=f"training on {self.device}", unit="step")
        self.model.train()
        began = time.perf_counter()
        with flush_denormals(self.device):
            while self.step < last:
                step_began = time.perf_counter()
                history.step_losses.append(self.train_step())
                history.step_seconds.append(time.perf_counter() - step_began)
                if self.step % config.eval_interval == 0 or self.step == config.max_iters:
                    self.evaluate(self.step - 1)
                    history.eval_seconds.append(history.seconds + time.perf_counter() - began)
                    if bar is not None:
                        losses = {"train": history.train_loss[-1], "val": history.val_loss[-1]}
                        bar.set_postfix({name: f"{loss:.4f}" for name, loss in losses.items()})
                if bar is not None:
                    bar.update()
                if seconds is not None and time.perf_counter() - began >= seconds:
                    break
        if bar is not None:
            bar.close()
        history.seconds += time.perf_counter() - began
        return history


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
) -> History:
    """Train `model` in place for config.max_iters steps and return its History.

    With `checkpoint_path` (and a tokenizer), the checkpoint with the best val loss so far is kept
    there. `resume` continues a checkpoint's run from the step after it was saved.
    """
    trainer = Trainer(
        model, data, config, block_size=block_size, tokenizer=tokenizer,
        checkpoint_path=checkpoint_path, resume=resume,
    )  # fmt: skip
    history = trainer.run(progress=progress)
    model.eval()
    return history


def checkpoint_file(out_dir: str | os.PathLike) -> Path:
    """Where the CLI keeps a run's best checkpoint."""
    return Path(out_dir) / "ckpt.pt"
