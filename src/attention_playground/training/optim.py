"""Muon for the transformer's matrices, AdamW for the rest: one optimizer to the Trainer.

Muon (Keller Jordan's, the optimizer of modded-nanogpt's speed records) takes the momentum of a
weight matrix's gradient and replaces it by the nearest orthogonal matrix (a few Newton-Schulz
steps), so every direction of the update moves by the same amount. It is meant for the hidden
matrices only: the token table, the output head, LayerNorm gains and biases stay with AdamW.
Updates are scaled to the size of AdamW's at the same learning rate (0.2 * sqrt(max(rows, cols)),
Moonshot's rule, torch.optim.Muon's "match_rms_adamw"), so one schedule drives both.

Why not torch.optim.Muon itself: it runs Newton-Schulz in bfloat16, which a CPU without bf16
arithmetic emulates: 4,786 tokens/s against 38,000 with AdamW on the budget preset (docs/benchmarks.md).
Here the iteration runs in bfloat16 on CUDA and in float32 elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import TrainConfig

NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)  # the quintic's coefficients (Keller Jordan's)


@torch.no_grad()
def orthogonalize(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """About U V^T of matrix = U S V^T: every singular value pushed towards 1 (0.5-1.5 after 5 steps).

    `matrix` is (rows, cols), or a stack (n, rows, cols) orthogonalized one by one in batched matmuls.
    """
    a, b, c = NEWTON_SCHULZ
    x = matrix.to(torch.bfloat16 if matrix.is_cuda else torch.float32)
    wide = x.size(-2) <= x.size(-1)
    x = x if wide else x.mT  # (rows <= cols): the Gram matrix x x^T is the smaller one
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=1e-7)  # spectral <= Frobenius = 1: in range
    add_product = torch.baddbmm if x.dim() == 3 else torch.addmm  # beta * input + alpha * (m1 @ m2)
    for _ in range(steps):
        gram = x @ x.mT
        polynomial = add_product(gram, gram, gram, beta=b, alpha=c)  # b gram + c gram^2
        x = add_product(x, polynomial, x, beta=a)  # a x + (b gram + c gram^2) x
    return (x if wide else x.mT).to(matrix.dtype)


class Muon(torch.optim.Optimizer):
    """Nesterov momentum, orthogonalized, at AdamW's update size; decoupled weight decay. 2-D weights only."""

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        steps: int = 5,
    ):
        super().__init__(
            params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "steps": steps}
        )
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ConfigError(
                        f"Muon updates 2-D weight matrices; got a tensor of shape {tuple(p.shape)}"
                    )

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]  # no closure
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            params = [p for p in group["params"] if p.grad is not None]
            updates = []
            for p in params:
                buffer = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buffer.lerp_(p.grad, 1 - momentum)
                updates.append(p.grad.lerp(buffer, momentum))  # Nesterov
            for p, update in zip(params, orthogonalize_all(updates, group["steps"]), strict=True):
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * 0.2 * max(p.shape) ** 0.5)  # AdamW's RMS, about 0.2


def orthogonalize_all(matrices: list[torch.Tensor], steps: int = 5) -> list[torch.Tensor]:
    """orthogonalize() of each matrix, those of one shape (or its transpose) stacked into one batch:
    a model's matrices come in a few shapes, and one batched product costs less than several small ones."""
    tall = [m.size(0) > m.size(1) for m in matrices]
    oriented = [m.mT if t else m for m, t in zip(matrices, tall, strict=True)]  # each (rows <= cols)
    batches: dict[tuple[torch.Size, torch.dtype, torch.device], list[int]] = {}
    for i, m in enumerate(oriented):
        batches.setdefault((m.shape, m.dtype, m.device), []).append(i)
    out = list(matrices)
    for indices in batches.values():
        stacked = orthogonalize(torch.stack([oriented[i] for i in indices]), steps)  # (n, rows, cols)
        for i, result in zip(indices, stacked, strict=True):
            out[i] = result.mT if tall[i] else result
    return out


class MuonWithAdamW:
    """Two optimizers stepped as one: `param_groups` lists both, so a schedule sets every group's lr."""

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer):
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.muon.param_groups + self.adamw.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"muon", "adamw"}:
            raise ConfigError(
                "this checkpoint's optimizer state is AdamW's, not Muon's: resume with the "
                "optimizer it was trained with, or start a new run"
            )
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


Optimizer = torch.optim.Optimizer | MuonWithAdamW  # what make_optimizer returns


def hidden_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The 2-D weights inside the model's transformer blocks: what Muon updates."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Module):
        return []
    return [p for p in blocks.parameters() if p.requires_grad and p.dim() == 2]


def muon_with_adamw(
    model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]
) -> MuonWithAdamW:
    """Muon on `hidden_matrices(model)`, AdamW (decay on matrices and tables only) on the rest."""
    hidden = hidden_matrices(model)
    if not hidden:
        raise ConfigError(
            f"optimizer='muon' updates the matrices of a model's transformer blocks, and "
            f"{type(model).__name__} has none: use optimizer='adamw'"
        )
    chosen = {id(p) for p in hidden}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
    muon = Muon(hidden, lr=lr, weight_decay=weight_decay)
    return MuonWithAdamW(muon, torch.optim.AdamW(decay_groups(rest, weight_decay), lr=lr, betas=betas))


def decay_groups(params: list[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's split: matrices and tables decay, biases and LayerNorm gains keep their size."""
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, config: TrainConfig) -> Optimizer:
    """AdamW that decays matrices and embeddings only, or every parameter with decay_norms_and_biases.

    optimizer="muon": Muon on the blocks' matrices and AdamW on the rest.
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
