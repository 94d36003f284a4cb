"""The lesson's classes with every GPTConfig switch and a KV cache, layered around them.

- ExtendedAttention(MultiHeadAttention): RoPE, QK-norm, no 1/sqrt(hs) scale, the encoder's unmasked
  reading with padding, and a KV cache.
- ExtendedBlock: post-norm, no LayerNorm, no residuals, no feed-forward (notebook 08's switches).
- ExtendedGPT: learned, sinusoidal, RoPE or no positions; tied weights; sampling through the cache.
With every switch at the lecture's value they compute what GPT, Block and MultiHeadAttention compute,
on the same weights (tested); the command line and the experiments train these.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import AttentionError
from .attention import AttentionMaps, Mask, MultiHeadAttention, attend, attend_with_maps
from .base import init_weights
from .config import GPTConfig
from .embeddings import EmbeddingLanguageModel
from .gpt import FeedForward
from .kv_cache import KVCache
from .positions import rotate_by_position
from .pretrained import GPT2Weights
from .sampling import cached_tokens


class ExtendedAttention(MultiHeadAttention):
    """MultiHeadAttention with the switches. `causal=False` is the encoder's self-attention: every
    token reads every other, and a (B, T) key_padding_mask hides padding."""

    def __init__(self, config: GPTConfig, causal: bool = True):
        super().__init__(config)
        self.causal = causal
        self.scale = None if config.attention_scale else 1.0  # None: attend's own 1/sqrt(hs)
        self.rotary = config.position == "rope"  # RoPE: q and k turned by their positions
        # QK-norm: every query and key at the same length, so no logit can grow without bound
        self.q_norm = nn.RMSNorm(config.head_size) if config.qk_norm else None
        self.k_norm = nn.RMSNorm(config.head_size) if config.qk_norm else None

    def queries_keys_values(
        self, x: torch.Tensor, start: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The lesson's q, k, v (B, nh, T, hs), normed and turned for positions start.. as asked."""
        q, k, v = super().queries_keys_values(x)
        if self.q_norm is not None and self.k_norm is not None:  # over hs, one gain shared by the heads
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary:  # before the cache stores k: a cached key keeps the turn of its own position
            q, k = rotate_by_position(q, start), rotate_by_position(k, start)
        return q, k, v

    def _mask(self, key_padding_mask: torch.Tensor | None) -> Mask:
        if key_padding_mask is None:
            return "causal" if self.causal else "none"
        if self.causal:
            raise AttentionError(
                "causal self-attention takes no padding mask: pad at the end, and the causal mask "
                "already keeps every real token off the padding after it (ignore the padded targets)"
            )
        return key_padding_mask

    def forward(  # the lesson's forward(x), with a cache and padding
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). With a cache, x holds only the new positions; they read the past."""
        q, k, v = self.queries_keys_values(x, kv_cache.length if kv_cache is not None else 0)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, nh, T_past + T, hs)
        mask, dropout = self._mask(key_padding_mask), self.dropout if self.training else 0.0
        return self.combine_heads(attend(q, k, v, mask=mask, dropout=dropout, scale=self.scale))

    def forward_with_maps(  # and the encoder's padding
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, AttentionMaps]:
        """forward's output by the teaching path, and every head's maps (B, nh, T, T)."""
        mask = self._mask(key_padding_mask)
        y, maps = attend_with_maps(*self.queries_keys_values(x), mask=mask, scale=self.scale)
        return self.combine_heads(y), maps


def layer_norm(config: GPTConfig) -> nn.Module:
    """A LayerNorm over the channels, or nothing at all where config.norm is "none"."""
    return nn.Identity() if config.norm == "none" else nn.LayerNorm(config.n_embd, bias=config.bias)


class ExtendedBlock(nn.Module):
    """The lesson's Block with GPTConfig's switches, which take parts away (notebook 08): norm="post"
    normalises after the addition, as the 2017 paper; norm="none" has no LayerNorm; residual=False
    replaces x instead of adding to it; feed_forward=False leaves attention alone."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = layer_norm(config)
        self.attn = ExtendedAttention(config)
        self.ln2 = layer_norm(config) if config.feed_forward else nn.Identity()  # unused without ffwd
        self.ffwd = FeedForward(config) if config.feed_forward else None
        self.residual, self.post_norm = config.residual, config.norm == "post"

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = self._add(x, lambda h: self.attn(h, kv_cache=kv_cache, layer=layer), self.ln1)  # communicate
        if self.ffwd is not None:
            x = self._add(x, self.ffwd, self.ln2)  # compute
        return x

    def _add(self, x: torch.Tensor, sublayer: Callable, norm: nn.Module) -> torch.Tensor:
        """x + sublayer(norm(x)): the residual stream carries x past (pre-norm), or the switched versions."""
        if self.post_norm:  # the 2017 paper: LayerNorm(x + sublayer(x))
            y = sublayer(x)
            return norm(x + y if self.residual else y)
        y = sublayer(norm(x))
        return x + y if self.residual else y


class ExtendedGPT(GPT2Weights, EmbeddingLanguageModel):
    """The GPT with every switch of GPTConfig, and sampling through a KV cache. Its state dict has the
    lesson GPT's names, so a GPT's weights load into it (and back, where the switches allow)."""

    supports_kv_cache = True

    def __init__(self, config: GPTConfig):
        super().__init__(config)  # self.config, self.token_embedding, self.position_embedding
        # no parameters either way, so state dicts load whichever the config says
        self.drop = nn.Dropout(config.dropout) if config.embedding_dropout else nn.Identity()
        self.blocks = nn.ModuleList([ExtendedBlock(config) for _ in range(config.n_layer)])
        # post-norm blocks end normalised already, and norm="none" has none
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias) if config.norm == "pre" else nn.Identity()
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)
        self.tie_output_to_embedding(self.lm_head)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.drop(self.embed(idx, kv_cache.length if kv_cache is not None else 0))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, kv_cache=kv_cache, layer=layer)
        if kv_cache is not None:
            kv_cache.advance(idx.size(1))
        logits = self.lm_head(self.ln_f(x))  # (B, T, V): a prediction at every position
        return logits, self.loss(logits, targets)

    def new_kv_cache(self, batch_size: int) -> KVCache:
        c = self.config
        return KVCache(
            c.n_layer, batch_size, c.n_head, c.block_size, c.head_size,
            device=self.device, dtype=self.lm_head.weight.dtype,
        )  # fmt: skip

    def generate_cached(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        tokens = cached_tokens(self, idx, max_new_tokens, temperature, top_k, top_p, generator)
        return torch.cat([idx, *tokens], dim=1)  # (B, T + max_new_tokens)
