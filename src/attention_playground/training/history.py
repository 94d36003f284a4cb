"""What a training run did: the loss at every step and the estimates at each evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class History:
    """What happened during training: the loss at every step and the estimates at each evaluation."""

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

    def record_eval(self, step: int, losses: dict[str, float]) -> None:
        """estimate_loss's {"train", "val"} after `step`, and the best val loss so far."""
        self.eval_steps.append(step)
        self.train_loss.append(losses["train"])
        self.val_loss.append(losses["val"])
        if losses["val"] < self.best_val_loss:
            self.best_val_loss, self.best_step = losses["val"], step

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds else 0.0
