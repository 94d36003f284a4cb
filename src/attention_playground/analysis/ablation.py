"""Knock heads out of a trained model, without copying a weight: their output zeroed, or replaced by
its mean, inside a `with` block. Then measure what each head was worth.

    with knock_out(model, heads=[(0, 2), (1, 3)], mode="zero"):
        logits, loss = model(x, y)  # layer 0 head 2 and layer 1 head 3 pass on nothing
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..nn.attention import MultiHeadAttention
from ..nn.base import evaluating, uncompiled

MODES = ("zero", "mean")


def attention_layers(model: nn.Module) -> list[MultiHeadAttention]:
    """The MultiHeadAttention of each layer, first to last: what knock_out can switch heads off in."""
    layers = [m for m in uncompiled(model).modules() if isinstance(m, MultiHeadAttention)]
    if layers:
        return layers
    raise ConfigError(
        f"cannot knock heads out of a {type(model).__name__}: use a GPT, or an AttentionLanguageModel "
        "with n_head >= 2 (the lecture's single Head has no heads to choose from)"
    )


def _heads_by_layer(layers: Sequence[MultiHeadAttention], heads: Iterable[tuple[int, int]]) -> dict:
    """{layer: {head, ...}} from (layer, head) pairs, each checked against the model's sizes."""
    chosen: dict[int, set[int]] = {}
    for pair in heads:
        layer, head = pair
        if not 0 <= layer < len(layers):
            raise ConfigError(
                f"layer {layer} in {pair} is out of range: this model has layers 0..{len(layers) - 1}"
            )
        n_head = layers[layer].n_head
        if not 0 <= head < n_head:
            raise ConfigError(
                f"head {head} in {pair} is out of range: layer {layer} has heads 0..{n_head - 1}"
            )
        chosen.setdefault(layer, set()).add(head)
    return chosen


class _KnockedOut:
    """A forward pre-hook on a layer's output projection: the chosen heads' columns of its input, the
    heads side by side (B, T, C), replaced by 0 or by their mean over the batch and positions."""

    def __init__(self, heads: set[int], mode: str, head_size: int):
        self.heads, self.mode, self.head_size = heads, mode, head_size

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        y = args[0].clone()  # (B, T, C): head h owns channels h*hs:(h+1)*hs
        for h in self.heads:
            part = y[..., h * self.head_size : (h + 1) * self.head_size]  # (B, T, hs)
            part[:] = 0.0 if self.mode == "zero" else part.mean(dim=(0, 1), keepdim=True)
        return (y, *args[1:])


def knocked_out_heads(layer: MultiHeadAttention) -> dict[int, str]:
    """{head: mode} of the heads knock_out has switched off in `layer` right now."""
    hooks = [hook for hook in layer.proj._forward_pre_hooks.values() if isinstance(hook, _KnockedOut)]
    return {h: hook.mode for hook in hooks for h in hook.heads}


@contextlib.contextmanager
def knock_out(model: nn.Module, heads: Iterable[tuple[int, int]], mode: str = "zero") -> Iterator[nn.Module]:
    """Inside the block, each (layer, head) of `heads` passes on 0 ("zero") or the mean of its output
    over the batch and positions ("mean"), before the output projection. The model is restored after,
    even on an error; blocks nest (their heads add up). Nothing is copied: the weights are untouched.

    The mean is over the positions of each forward: when sampling with the KV cache, a step of one
    new token averages that token's own output, so "mean" changes nothing there. Sample with
    use_cache=False (or use "zero") to see a mean-ablated model write.
    """
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    layers = attention_layers(model)
    chosen = _heads_by_layer(layers, heads)
    handles = []
    try:
        for index, new in chosen.items():
            layer = layers[index]
            for old in set(knocked_out_heads(layer).values()) - {mode}:
                raise ConfigError(f"layer {index} already has heads knocked out with mode={old!r}")
            hook = _KnockedOut(new, mode, layer.n_embd // layer.n_head)
            handles.append(layer.proj.register_forward_pre_hook(hook))
        yield model
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def head_importance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mode: str = "zero") -> torch.Tensor:
    """(L, nh): how much the loss on the batch (x, y) rises when each head alone is knocked out."""
    layers = attention_layers(model)
    with evaluating(model):
        base = model(x, y)[1].item()
        rise = torch.zeros(len(layers), max(layer.n_head for layer in layers))
        for index, layer in enumerate(layers):
            for head in range(layer.n_head):
                with knock_out(model, [(index, head)], mode):
                    rise[index, head] = model(x, y)[1].item() - base
    return rise


@torch.no_grad()
def next_token_probs(model: nn.Module, ids: Sequence[int], position: int | None = None) -> torch.Tensor:
    """(V,) the model's probabilities for the token after `position` (default: the last) of `ids`."""
    position = len(ids) - 1 if position is None else position
    if not 0 <= position < len(ids):
        raise ValueError(f"position={position} is out of range: the prompt has positions 0..{len(ids) - 1}")
    device = next(model.parameters()).device
    idx = torch.tensor([list(ids[: position + 1])], dtype=torch.long, device=device)  # (1, position + 1)
    with evaluating(model):
        logits, _ = model(idx)  # (1, T, V)
    return torch.softmax(logits[0, -1].float(), dim=-1).cpu()
