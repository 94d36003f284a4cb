"""The learning rate at each step: linear warmup, then a cosine or a straight line down (or constant)."""

from __future__ import annotations

import math
from typing import Any

from .config import TrainConfig


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


def set_learning_rate(optimizer: Any, lr: float) -> None:
    """Every parameter group of `optimizer` (Muon's and AdamW's alike) at learning rate `lr`."""
    for group in optimizer.param_groups:
        group["lr"] = lr
