"""Training: AdamW, warmup then cosine decay, gradient clipping, and honest loss estimates."""

from __future__ import annotations

import contextlib
import math
import os
import time
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


def autocast_context(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for matmuls where asked for (or 'auto' on a GPU that has it)."""
    if dtype == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if cuda_bf16 or cpu_has_fast_bf16() and device.type == "cpu" else "float32"
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmuls (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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
    block_size = block_size or getattr(model, "block_size", None)
    if block_size is None:
        raise ConfigError("this model reads any context length: pass block_size= to train()")
    check_long_enough(data.train, block_size, "the training split")
    check_long_enough(data.val, block_size, "the validation split")
    if checkpoint_path is not None and tokenizer is None:
        raise ConfigError("a checkpoint stores the tokenizer: pass tokenizer= with checkpoint_path=")

    device = pick_device(config.device)
    model.to(device)
    optimizer = make_optimizer(model, config, device)
    history = History(device=str(device))
    start = 0
    if resume is not None:
        checkpoint = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume, device)
        unwrap(model).load_state_dict(unwrap(checkpoint.model).state_dict())
        if checkpoint.optimizer_state is not None:
            optimizer.load_state_dict(checkpoint.optimizer_state)
        start = checkpoint.step + 1
        if checkpoint.val_loss is not None:
            history.best_val_loss, history.best_step = checkpoint.val_loss, checkpoint.step
    generator = set_seed(config.seed + start)  # a resumed run draws fresh batches
    autocast = autocast_context(device, config.dtype)
    step_model = torch.compile(model) if config.compile else model

    def evaluate(step: int) -> None:
        losses = estimate_loss(
            model, data, config.batch_size, block_size, config.eval_iters, config.seed, device,
            autocast_context(device, config.dtype),
        )  # fmt: skip
        history.eval_steps.append(step)
        history.train_loss.append(losses["train"])
        history.val_loss.append(losses["val"])
        if losses["val"] < history.best_val_loss:
            history.best_val_loss, history.best_step = losses["val"], step
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, model, tokenizer, config, step, losses["val"], optimizer)

    steps = range(start, config.max_iters)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(steps, desc=f"training on {device}", unit="step")
        steps = bar
    model.train()
    began = time.perf_counter()
    for step in steps:
        lr = learning_rate_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(data.train, config.batch_size, block_size, generator, device)
        with autocast:
            _, loss = step_model(x, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"the loss became {loss_value} at step {step}: lower learning_rate "
                f"(now {config.learning_rate:g}) or keep grad_clip on (now {config.grad_clip:g})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        history.step_losses.append(loss_value)
        history.learning_rates.append(lr)
        history.tokens_seen += x.numel()
        if (step + 1) % config.eval_interval == 0 or step == config.max_iters - 1:
            evaluate(step)
            if bar is not None:
                bar.set_postfix(train=f"{history.train_loss[-1]:.4f}", val=f"{history.val_loss[-1]:.4f}")
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - began
    model.eval()
    return history


def checkpoint_file(out_dir: str | os.PathLike) -> Path:
    """Where the CLI keeps a run's best checkpoint."""
    return Path(out_dir) / "ckpt.pt"
