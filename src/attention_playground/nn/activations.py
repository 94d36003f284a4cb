"""The feed-forward layer's nonlinearities: the lecture's ReLU, GPT-2's GELU, and ReLU squared."""

from __future__ import annotations

import torch
from torch import nn


class _ReLUSquaredFunction(torch.autograd.Function):
    """relu(x)^2, with the backward written as one product: d/dx relu(x)^2 = 2 relu(x).

    Autograd's own chain (square's backward, then ReLU's) passes over the (B, T, 4C) activations
    three more times; on 2 CPU cores that made a budget-preset step 8% slower (docs/benchmarks.md).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu(x)
        ctx.save_for_backward(relu)
        return relu.square()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (relu,) = ctx.saved_tensors
        return grad.mul(relu).mul_(2.0)


class ReLUSquared(nn.Module):
    """max(0, x)^2: modded-nanogpt's activation (from "Primer", So et al., 2021). Zero below zero as
    ReLU, but it grows faster above it, and its slope starts at 0 instead of jumping to 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUSquaredFunction.apply(x)


def activation(name: str) -> nn.Module:
    """The feed-forward layer's nonlinearity, by GPTConfig.activation's name."""
    if name == "gelu_tanh":  # GPT-2's: GELU through tanh's approximation
        return nn.GELU(approximate="tanh")
    return {"relu": nn.ReLU, "gelu": nn.GELU, "relu_squared": ReLUSquared}[name]()
