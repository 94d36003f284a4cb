"""The lecture's ladder as reusable code: averaging the past, masked softmax, one head, many heads.

Attention is computed two ways that give the same output: `attend`, PyTorch's fused kernel (training
and sampling), and `attend_with_maps`, the lecture's steps, which also return the weights to plot.
Each module's `forward` takes the first and its `forward_with_maps` the second.

Both take a `mask`: "causal" (the decoder's, the default: nothing reads the future), "none" (the
encoder's, and cross-attention's: every key is read), or a (B, Tk) boolean tensor, True for the keys
that are real tokens and False for padding, which then gets exactly zero weight. `CrossAttention`
reads its keys and values from a second sequence (Tk may differ from Tq).

Glossary: B batch, T time, C channels (n_embd), nh heads, hs head_size. The lecture's `wei` is our
`weights`; Canziani's "soft(arg)max" is our `masked_softmax`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AttentionError
from .config import GPTConfig

Mask: TypeAlias = Literal["causal", "none"] | torch.Tensor  # see the module's docstring


def causal_average(x: torch.Tensor) -> torch.Tensor:
    """Each position becomes the mean of itself and every position before it, as one matmul."""
    T = x.size(-2)
    weights = torch.tril(torch.ones(T, T, device=x.device, dtype=x.dtype))  # (T, T)
    weights = weights / weights.sum(dim=1, keepdim=True)  # each row sums to 1
    return weights @ x  # (T, T) @ (B, T, C) -> (B, T, C)


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) booleans: True where query t may read key s (s <= t), False in the future."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0
) -> torch.Tensor:
    """Softmax over the last dim after setting the masked-out (future) scores to -inf.

    The mask defaults to causal; `temperature` divides the scores (lower is sharper).
    """
    if mask is None:
        mask = causal_mask(scores.size(-1), scores.device)[-scores.size(-2) :]
    scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: the future gets no weight
    return F.softmax(scores / temperature, dim=-1)


def attention_scores(q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """How much each query matches each key, scaled by 1/sqrt(hs) so the variance stays near 1.

    `scale` replaces 1/sqrt(hs) (1.0: the raw dot products, GPTConfig.attention_scale=False).
    """
    scale = k.size(-1) ** -0.5 if scale is None else scale
    return q @ k.transpose(-2, -1) * scale  # (..., T, hs) @ (..., hs, T) -> (..., T, T)


class AttentionMaps(NamedTuple):
    """What one attention layer looked at: scores before the mask, and the softmax weights."""

    scores: torch.Tensor  # (B, nh, Tq, Tk) scaled q.k, before the mask (Tq = Tk = T in self-attention)
    weights: torch.Tensor  # (B, nh, Tq, Tk) masked softmax of the scores; rows sum to 1


def key_padding_mask(lengths: torch.Tensor | list[int], T: int) -> torch.Tensor:
    """(B, T) booleans from each sequence's length: True for its first lengths[b] positions (real
    tokens), False after them (padding)."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(T, device=lengths.device) < lengths[:, None]  # (B, T)


def allowed_keys(mask: Mask, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor | None:
    """The booleans `mask` stands for, broadcastable to the scores (..., Tq, Tk); None: every key.

    "causal" gives the last Tq rows of the (Tk, Tk) causal mask (queries that follow a KV cache); a
    (B, Tk) padding mask becomes (B, 1, .., 1, Tk), the same for every head and every query.
    """
    Tq, Tk = q.size(-2), k.size(-2)
    if isinstance(mask, str):
        if mask == "causal":
            return causal_mask(Tk, q.device)[-Tq:]  # (Tq, Tk)
        if mask == "none":
            return None
        raise AttentionError(f'mask={mask!r}: use "causal", "none", or a (B, Tk) tensor of valid keys')
    if mask.dtype != torch.bool or mask.dim() != 2 or tuple(mask.shape) != (q.size(0), Tk):
        raise AttentionError(
            f"a padding mask is a (B, Tk) = ({q.size(0)}, {Tk}) tensor of booleans, True for real keys; "
            f"got {mask.dtype} of shape {tuple(mask.shape)}"
        )
    if not mask.any(dim=-1).all():
        raise AttentionError(
            "a sequence in the batch has no real key to read: every row of the mask needs one True"
        )
    return mask.view(mask.size(0), *[1] * (q.dim() - 2), Tk)  # (B, 1, .., 1, Tk)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: Mask = "causal",
    dropout: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """Attention of q (..., Tq, hs) over k, v (..., Tk, hs) -> (..., Tq, hs).

    PyTorch's fused scaled_dot_product_attention: what attend_with_maps computes, faster. With the
    causal mask, the queries are the last Tq positions. `dropout` drops attention weights, as the
    lecture's Head does after its softmax; `scale` replaces 1/sqrt(hs).
    """
    if not (isinstance(mask, str) and mask == "causal"):  # the encoder, cross-attention, padding
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed_keys(mask, q, k), dropout_p=dropout, scale=scale
        )
    Tq, Tk = q.size(-2), k.size(-2)
    if Tq == Tk:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True, scale=scale)
    if Tq == 1:  # one new token reads every cached key: nothing to mask
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scale)
    mask = causal_mask(Tk, q.device)[-Tq:]  # new tokens after a cache: the last Tq rows of the mask
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scale)


def attend_with_maps(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask: Mask = "causal", scale: float | None = None
) -> tuple[torch.Tensor, AttentionMaps]:
    """The teaching path of attend, step by step, and the maps it computed on the way (no dropout)."""
    scores = attention_scores(q, k, scale)  # (..., Tq, Tk)
    allowed = allowed_keys(mask, q, k)
    # causal: rows sum to 1, zero above the diagonal; none: a plain softmax; padding: zero on padding
    weights = F.softmax(scores, dim=-1) if allowed is None else masked_softmax(scores, allowed)
    return weights @ v, AttentionMaps(scores, weights)  # (..., Tq, hs)


class Head(nn.Module):
    """One head of causal self-attention, as in the lecture: x -> (queries, keys, values) -> y."""

    def __init__(self, n_embd: int, head_size: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=bias)  # what am I looking for?
        self.key = nn.Linear(n_embd, head_size, bias=bias)  # what do I contain?
        self.value = nn.Linear(n_embd, head_size, bias=bias)  # what do I pass on if read?
        self.dropout = dropout

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values, each (B, 1, T, hs): one head, so nh = 1."""
        return self.query(x)[:, None], self.key(x)[:, None], self.value(x)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = attend(*self._qkv(x), dropout=self.dropout if self.training else 0.0)  # (B, 1, T, hs)
        return y[:, 0]  # (B, T, hs)

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, AttentionMaps]:
        """forward's output by the teaching path, and the head's maps (B, 1, T, T)."""
        y, maps = attend_with_maps(*self._qkv(x))
        return y[:, 0], maps


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, C) -> (B, nh, T, hs): each head's channels become one more batch dimension."""
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)


def merge_heads(y: torch.Tensor) -> torch.Tensor:
    """(B, nh, T, hs) -> (B, T, C): the heads' outputs side by side (concatenated)."""
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).contiguous().view(B, T, nh * hs)


class MultiHeadAttention(nn.Module):
    """n_head heads in parallel, as one batched matmul: their outputs concatenated, then projected."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd = config.n_head, config.n_embd
        # q, k and v of every head in one Linear: head h owns columns h*hs:(h+1)*hs of each third
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.qkv_bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.attention_weights_dropout  # on the attention weights, as the lecture's
        self.resid_dropout = nn.Dropout(config.dropout)  # after the projection

    def queries_keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, C) -> queries, keys and values of every head, each (B, nh, T, hs)."""
        q, k, v = self.qkv(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        return split_heads(q, self.n_head), split_heads(k, self.n_head), split_heads(v, self.n_head)

    def combine_heads(self, y: torch.Tensor) -> torch.Tensor:
        """Every head's output (B, nh, T, hs) -> concatenated (B, T, C), projected, dropped out."""
        return self.resid_dropout(self.proj(merge_heads(y)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dropout = self.dropout if self.training else 0.0
        y = attend(*self.queries_keys_values(x), dropout=dropout)  # (B, nh, T, hs)
        return self.combine_heads(y)  # (B, T, C)

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, AttentionMaps]:
        """forward's output by the teaching path (no dropout on the weights), and every head's maps."""
        y, maps = attend_with_maps(*self.queries_keys_values(x))  # maps: (B, nh, T, T)
        return self.combine_heads(y), maps

    @classmethod
    def from_heads(cls, heads: list[Head], proj: nn.Linear) -> MultiHeadAttention:
        """The batched module that computes exactly what `heads` side by side, then `proj`, compute."""
        return multi_head_from_heads(cls, heads, proj)


def multi_head_from_heads(
    cls: type[MultiHeadAttention], heads: list[Head], proj: nn.Linear
) -> MultiHeadAttention:
    """MultiHeadAttention.from_heads: each head's q, k and v rows stacked into the one qkv Linear."""
    head_size, n_embd = heads[0].query.weight.shape
    qkv_bias = heads[0].query.bias is not None
    config = GPTConfig(
        n_embd=head_size * len(heads), n_head=len(heads), bias=proj.bias is not None, qkv_bias=qkv_bias
    )
    if config.n_embd != n_embd:
        raise ValueError(
            f"{len(heads)} heads of size {head_size} concatenate to {config.n_embd} channels, "
            f"but they read {n_embd}: MultiHeadAttention needs n_head * head_size == n_embd"
        )
    mha = cls(config)
    with torch.no_grad():
        for part, name in enumerate(("query", "key", "value")):
            rows = slice(part * n_embd, (part + 1) * n_embd)
            mha.qkv.weight[rows] = torch.cat([getattr(h, name).weight for h in heads])
            if qkv_bias:
                mha.qkv.bias[rows] = torch.cat([getattr(h, name).bias for h in heads])
        mha.proj.load_state_dict(proj.state_dict())
    return mha


class CrossAttention(nn.Module):
    """Queries from x (B, Tq, C), keys and values from a second sequence, `memory` (B, Tk, C).

    The decoder's reading of the encoder: each target token asks its question of the source's tokens.
    No causal mask (the whole source is known); `key_padding_mask` (B, Tk) hides the source's padding.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.query = nn.Linear(config.n_embd, config.n_embd, bias=config.qkv_bias)  # from x
        self.kv = nn.Linear(config.n_embd, 2 * config.n_embd, bias=config.qkv_bias)  # from memory
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.attention_weights_dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def _qkv(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (B, nh, Tq, hs) from x; keys and values (B, nh, Tk, hs) from memory."""
        if memory.size(0) != x.size(0) or memory.size(-1) != self.n_embd:
            raise AttentionError(
                f"memory of shape {tuple(memory.shape)} for x of shape {tuple(x.shape)}: "
                f"cross-attention needs (B, Tk, C) = ({x.size(0)}, Tk, {self.n_embd})"
            )
        k, v = self.kv(memory).split(self.n_embd, dim=2)  # 2 x (B, Tk, C)
        q = self.query(x)  # (B, Tq, C)
        return split_heads(q, self.n_head), split_heads(k, self.n_head), split_heads(v, self.n_head)

    def _mask(self, key_padding_mask: torch.Tensor | None) -> Mask:
        return "none" if key_padding_mask is None else key_padding_mask

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (B, Tq, C) reads memory (B, Tk, C) -> (B, Tq, C)."""
        q, k, v = self._qkv(x, memory)
        y = attend(q, k, v, mask=self._mask(key_padding_mask), dropout=self.dropout if self.training else 0.0)
        return self.resid_dropout(self.proj(merge_heads(y)))

    def forward_with_maps(
        self, x: torch.Tensor, memory: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, AttentionMaps]:
        """forward's output by the teaching path, and every head's maps (B, nh, Tq, Tk)."""
        y, maps = attend_with_maps(*self._qkv(x, memory), mask=self._mask(key_padding_mask))
        return self.resid_dropout(self.proj(merge_heads(y))), maps


@contextlib.contextmanager
def recording_attention(model: nn.Module) -> Iterator[list[AttentionMaps]]:
    """Inside the block, every attention layer of `model` runs its teaching path (forward_with_maps)
    and appends its maps to the list yielded, in the order the layers run.

    Forward hooks replace each layer's output with the teaching path's, which equals it (tested), so
    the model's own forward carries on from it; a cached step (kv_cache=...) has no maps to give.
    """
    recorded: list[AttentionMaps] = []

    def teach(module: nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> torch.Tensor:
        if kwargs.get("kv_cache") is not None:
            raise AttentionError("attention maps come from the whole sequence: run without a KV cache")
        extra = {k: v for k, v in kwargs.items() if k not in ("kv_cache", "layer")}
        y, maps = module.forward_with_maps(*args, **extra)  # type: ignore[operator]  # checked below
        recorded.append(maps)
        return y

    handles = [
        module.register_forward_hook(teach, with_kwargs=True)
        for module in model.modules()
        if callable(getattr(module, "forward_with_maps", None)) and not _holds_attention(module)
    ]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def stack_maps(maps: list[AttentionMaps]) -> AttentionMaps:
    """Per-layer maps, each (B, nh, Tq, Tk) -> one AttentionMaps of shape (L, B, nh, Tq, Tk)."""
    return AttentionMaps(torch.stack([m.scores for m in maps]), torch.stack([m.weights for m in maps]))


def _holds_attention(module: nn.Module) -> bool:
    """True for a module with attention layers inside it (a block): only the innermost ones record."""
    return any(callable(getattr(m, "forward_with_maps", None)) for m in module.modules() if m is not module)
