"""One forward pass, step by step: what each part of the model hands the next, with its shape.

`trace_forward` runs the model itself on a prompt, with forward hooks on its own modules that keep a
copy of what each one returns. Nothing is recomputed beside the model, so the trace cannot drift from
what the model does: its logits are the model's (tested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.tokenizers import Tokenizer
from ..nn.attention import recording_attention, split_heads
from ..nn.base import LanguageModel, evaluating, uncompiled
from .prediction import Prompt, read_prompt


class TraceStep(NamedTuple):
    """One row of the trace: a name, what it is, and the tensor the model computed there."""

    name: str  # the module's name in the model (its state dict's), and the part of its output
    what: str
    tensor: torch.Tensor  # on the CPU, batch dimension kept: (1, ...)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def size(self) -> int:
        return self.tensor.numel()


class ForwardTrace(NamedTuple):
    """Every step of one forward pass, in the order the model ran them."""

    prompt: Prompt
    steps: list[TraceStep]
    logits: torch.Tensor  # (1, T, V) what the model returned
    probs: torch.Tensor  # (1, T, V) their softmax: each position's next-token distribution

    def step(self, name: str) -> TraceStep:
        """The step called `name` (see .names)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r} in this trace: its steps are {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    def rows(self) -> list[tuple[str, tuple[int, ...], int, str]]:
        """(name, shape, size, what it is) for every step: the table's rows."""
        return [(s.name, s.shape, s.size, s.what) for s in self.steps]

    def table(self) -> str:
        """The steps as a text table: name, shape, number of values, what it is."""
        width = max(len(s.name) for s in self.steps) + 2
        lines = [f"{'step':<{width}}{'shape':<20}{'numbers':>12}  what"]
        for name, shape, size, what in self.rows():
            lines.append(f"{name:<{width}}{str(shape):<20}{size:>12,}  {what}")
        return "\n".join(lines)


_Record = Callable[[str, str, torch.Tensor], None]


def _attention_hooks(name: str, attn: Any, record: _Record, maps: list, write: str) -> list:
    """Hooks on one attention layer: its q, k, v (the qkv Linear's output split into heads), the
    weights its teaching path computed (recording_attention), and what it writes to the residual."""
    handles = []
    if hasattr(attn, "qkv"):
        n_head, n_embd = attn.n_head, attn.n_embd

        def qkv(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            for part, tensor in zip("qkv", out.split(n_embd, dim=-1), strict=True):
                what = f"{part} of every head (B, nh, T, hs)"
                record(f"{name}.qkv → {part}", what, split_heads(tensor, n_head))

        handles.append(attn.qkv.register_forward_hook(qkv))
    else:  # the lecture's single Head: its query, key and value Linears
        for part, linear in (("q", attn.query), ("k", attn.key), ("v", attn.value)):
            what = f"the head's {part}"
            handles.append(linear.register_forward_hook(_keep(f"{name}.{part}", what, record)))

    def weights_and_write(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        record(f"{name} weights", "attention weights (B, nh, T, T): each row sums to 1", maps[-1].weights)
        record(name, write, out)

    handles.append(attn.register_forward_hook(weights_and_write))
    return handles


def _keep(name: str, what: str, record: _Record) -> Callable:
    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        record(name, what, out)

    return hook


def _block_hooks(i: int, block: Any, record: _Record, maps: list) -> list:
    prefix = f"blocks.{i}"
    handles = [block.ln1.register_forward_hook(_keep(f"{prefix}.ln1", "LayerNorm before attention", record))]
    write = "the attention's write to the residual stream"
    handles += _attention_hooks(f"{prefix}.attn", block.attn, record, maps, write)
    if getattr(block, "ffwd", None) is not None:
        write = "the feed-forward's write to the residual stream"
        handles.append(block.ffwd.register_forward_hook(_keep(f"{prefix}.ffwd", write, record)))
    after = "the residual stream after the block"
    handles.append(block.register_forward_hook(_keep(prefix, after, record)))
    return handles


def _model_hooks(model: Any, record: _Record, maps: list) -> list:
    """Hooks on every step the trace shows, for whichever of them the model has."""
    handles = []
    for name, what in (("token_embedding", "what each token is"), ("position_embedding", "where it stands")):
        module = getattr(model, name, None)
        if module is not None:
            handles.append(module.register_forward_hook(_keep(name, what, record)))
    blocks = getattr(model, "blocks", None)
    if blocks is not None:
        into = "blocks.0 input"
        handles.append(
            blocks[0].register_forward_pre_hook(
                lambda module, args: record(into, "token + position: the residual stream begins", args[0])
            )
        )
        for i, block in enumerate(blocks):
            handles += _block_hooks(i, block, record, maps)
    elif hasattr(model, "attention"):  # AttentionLanguageModel: one attention layer, no residual
        handles += _attention_hooks("attention", model.attention, record, maps, "the attention's output")
        if getattr(model, "ffwd", None) is not None:
            handles.append(model.ffwd.register_forward_hook(_keep("ffwd", "the feed-forward layer", record)))
    if isinstance(getattr(model, "ln_f", None), nn.LayerNorm):
        handles.append(model.ln_f.register_forward_hook(_keep("ln_f", "the final LayerNorm", record)))
    handles.append(model.lm_head.register_forward_hook(_keep("lm_head", "logits: a score per token", record)))
    return handles


@contextlib.contextmanager
def _hooked(model: nn.Module, steps: list[TraceStep]) -> Iterator[None]:
    """Inside the block, each hooked module's first output of a forward is kept in `steps`."""
    with recording_attention(model) as maps:

        def record(name: str, what: str, tensor: torch.Tensor) -> None:
            if name not in {s.name for s in steps}:  # the teaching path reruns q, k, v: keep the first
                steps.append(TraceStep(name, what, tensor.detach().float().cpu()))

        handles = _model_hooks(model, record, maps)
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


@torch.no_grad()
def trace_forward(model: LanguageModel, tokenizer: Tokenizer, text: str | Sequence[int]) -> ForwardTrace:
    """Run `text` (its last block_size tokens) through `model` in eval mode, and keep each step:
    token ids, token and position embeddings, per block the norm, q/k/v, the attention weights, the
    attention's and the feed-forward's writes and the residual stream, the final norm, the logits and
    the probabilities."""
    net: Any = uncompiled(model)
    if not hasattr(net, "lm_head") or not getattr(net, "has_attention", False):
        raise TypeError(
            f"trace_forward follows a model with attention: a {type(net).__name__} has none to show "
            "(use a GPT, an ExtendedGPT or an AttentionLanguageModel)"
        )
    prompt = read_prompt(net, tokenizer, text)
    steps = [TraceStep("idx", "token ids", prompt.idx.cpu())]
    with evaluating(net), _hooked(net, steps):
        logits, _ = net(prompt.idx)  # (1, T, V): the model's own forward
    logits = logits.float().cpu()
    probs = logits.softmax(-1)
    steps.append(TraceStep("softmax", "probabilities of the next token: rows sum to 1", probs))
    return ForwardTrace(prompt, steps, logits, probs)
