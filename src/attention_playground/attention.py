"""The lecture's ladder as reusable code: averaging the past, masked softmax, one head, many heads.

Glossary: B batch, T time, C channels (n_embd), nh heads, hs head_size. The lecture's `wei` is our
`weights`; Canziani's "soft(arg)max" is our `masked_softmax`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import GPTConfig


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


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """How much each query matches each key, scaled by 1/sqrt(hs) so the variance stays near 1."""
    return q @ k.transpose(-2, -1) * k.size(-1) ** -0.5  # (..., T, hs) @ (..., hs, T) -> (..., T, T)


class AttentionMaps(NamedTuple):
    """What one attention layer looked at: scores before the mask, and the softmax weights."""

    scores: torch.Tensor  # (B, nh, T, T) scaled q.k, before the causal mask
    weights: torch.Tensor  # (B, nh, T, T) masked softmax of the scores; rows sum to 1


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    dropout: float = 0.0,
    return_attention: bool = False,
) -> tuple[torch.Tensor, AttentionMaps | None]:
    """Causal attention of q (..., Tq, hs) over k, v (..., Tk, hs); queries are the last Tq positions.

    The teaching path (scores, mask, softmax, weighted sum) runs when the maps are asked for;
    otherwise PyTorch's fused scaled_dot_product_attention computes the same thing faster.
    """
    Tq, Tk = q.size(-2), k.size(-2)
    if return_attention:
        scores = attention_scores(q, k)  # (..., Tq, Tk)
        weights = masked_softmax(scores)  # rows sum to 1, zero above the diagonal
        y = F.dropout(weights, p=dropout, training=dropout > 0) @ v  # (..., Tq, hs)
        return y, AttentionMaps(scores, weights)
    if Tq == Tk:
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
    elif Tq == 1:  # one new token reads every cached key: nothing to mask
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    else:  # new tokens after a cache: their mask is the last Tq rows of the full causal mask
        mask = causal_mask(Tk, q.device)[-Tq:]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    return y, None


class Head(nn.Module):
    """One head of causal self-attention, as in the lecture: x -> (queries, keys, values) -> y."""

    def __init__(self, n_embd: int, head_size: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=bias)  # what am I looking for?
        self.key = nn.Linear(n_embd, head_size, bias=bias)  # what do I contain?
        self.value = nn.Linear(n_embd, head_size, bias=bias)  # what do I pass on if read?
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, AttentionMaps]:
        q = self.query(x)[:, None]  # (B, 1, T, hs): one head, so nh = 1
        k = self.key(x)[:, None]
        v = self.value(x)[:, None]
        y, maps = attend(
            q,
            k,
            v,
            dropout=self.dropout if self.training else 0.0,
            return_attention=return_attention,
        )
        y = y[:, 0]  # (B, T, hs)
        return (y, maps) if return_attention else y


class KVCache:
    """Keys and values of every layer for the tokens seen so far, so a new token costs O(T), not O(T^2).

    Preallocated to `max_len` positions; `length` is how many are filled.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        max_len: int,
        head_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        shape = (n_layer, batch_size, n_head, max_len, head_size)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys and values (B, nh, T, hs); return all of them so far."""
        end = self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; {end} were asked for")
        self.keys[layer, :, :, self.length : end] = k
        self.values[layer, :, :, self.length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n: int) -> None:
        """Called once every layer has stored its n new positions."""
        self.length += n


class MultiHeadAttention(nn.Module):
    """n_head heads in parallel, computed as one batched matmul, then concatenated and projected."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        # q, k and v of every head in one Linear: head h owns columns h*hs:(h+1)*hs of each third
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        return_attention: bool = False,
        kv_cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor | tuple[torch.Tensor, AttentionMaps]:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, nh, T_past + T, hs)
        y, maps = attend(
            q,
            k,
            v,
            dropout=self.dropout if self.training else 0.0,
            return_attention=return_attention,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # concatenate the heads: (B, T, C)
        y = self.resid_dropout(self.proj(y))
        return (y, maps) if return_attention else y

    @classmethod
    def from_heads(cls, heads: list[Head], proj: nn.Linear) -> MultiHeadAttention:
        """The batched module that computes exactly what `heads` side by side, then `proj`, compute."""
        head_size, n_embd = heads[0].query.weight.shape
        bias = heads[0].query.bias is not None
        config = GPTConfig(n_embd=head_size * len(heads), n_head=len(heads), bias=bias)
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
                if bias:
                    mha.qkv.bias[rows] = torch.cat([getattr(h, name).bias for h in heads])
            mha.proj.load_state_dict(proj.state_dict())
        return mha
