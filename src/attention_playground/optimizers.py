"""Muon for the transformer's matrices, AdamW for the rest: one optimizer to the Trainer.

Muon (Keller Jordan's, the optimizer of modded-nanogpt's speed records) takes the momentum of a
weight matrix's gradient and replaces it by the nearest orthogonal matrix (a few Newton-Schulz
steps), so every direction of the update moves by the same amount. It is meant for the hidden
matrices only: the token table, the output head, LayerNorm gains and biases stay with AdamW.
`torch.optim.Muon` does the arithmetic; with adjust_lr_fn="match_rms_adamw" its updates have the
size of AdamW's at the same learning rate, so one schedule drives both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import ConfigError


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
    muon = torch.optim.Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw")
    groups = [
        {"params": [p for p in rest if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
    ]
    return MuonWithAdamW(muon, torch.optim.AdamW(groups, lr=lr, betas=betas))
