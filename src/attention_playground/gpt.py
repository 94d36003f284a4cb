"""The full GPT: attention to communicate, a feed-forward layer to compute, residuals and LayerNorm
to make it deep. Also the lecture's in-between models, one attention layer and no residuals."""

from __future__ import annotations

import torch
from torch import nn

from .attention import AttentionMaps, Head, KVCache, MultiHeadAttention
from .config import GPTConfig
from .model import LanguageModel
from .sampling import next_token


class FeedForward(nn.Module):
    """Each position thinks on its own about what it gathered: Linear -> ReLU -> Linear."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias),  # (B, T, 4C)
            nn.ReLU() if config.activation == "relu" else nn.GELU(),  # the lecture's, or GPT-2's
            nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias),  # (B, T, C)
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Block(nn.Module):
    """Communication then computation, each added to a residual stream (pre-LayerNorm)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MultiHeadAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.ffwd = FeedForward(config)

    def forward(
        self,
        x: torch.Tensor,
        return_attention: bool = False,
        kv_cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor | tuple[torch.Tensor, AttentionMaps]:
        a = self.attn(self.ln1(x), return_attention, kv_cache, layer)
        a, maps = a if return_attention else (a, None)
        x = x + a  # (B, T, C): the residual stream carries x past the attention
        x = x + self.ffwd(self.ln2(x))
        return (x, maps) if return_attention else x


def init_weights(module: nn.Module) -> None:
    """The lecture's init: normal(0, 0.02) weights, zero biases, so the loss starts near ln V."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _stack(maps: list[AttentionMaps]) -> AttentionMaps:
    """Per-layer maps -> one AttentionMaps of shape (L, B, nh, T, T)."""
    return AttentionMaps(torch.stack([m.scores for m in maps]), torch.stack([m.weights for m in maps]))


class GPT(LanguageModel):
    """Token and position embeddings -> n_layer Blocks -> LayerNorm -> logits over the vocabulary."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        B, T = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(
                f"a sequence of {start + T} tokens is longer than block_size="
                f"{self.config.block_size}: crop the context to the last block_size tokens"
            )
        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        return self.drop(x)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self._embed(idx, kv_cache.length if kv_cache is not None else 0)  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, kv_cache=kv_cache, layer=layer)
        if kv_cache is not None:
            kv_cache.advance(idx.size(1))
        logits = self.lm_head(self.ln_f(x))  # (B, T, V): a prediction at every position
        return logits, self.loss(logits, targets)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of every layer and head, (L, B, nh, T, T), from the teaching path."""
        x = self._embed(idx)
        maps = []
        for layer, block in enumerate(self.blocks):
            x, layer_maps = block(x, return_attention=True, layer=layer)
            maps.append(layer_maps)
        return _stack(maps)

    def num_params(self, embeddings: bool = True) -> int:
        """All parameters, or (embeddings=False) those outside the token and position tables."""
        n = super().num_params()
        if not embeddings:
            n -= self.token_embedding.weight.numel() + self.position_embedding.weight.numel()
        return n

    def new_kv_cache(self, batch_size: int) -> KVCache:
        c = self.config
        return KVCache(
            c.n_layer,
            batch_size,
            c.n_head,
            c.block_size,
            c.head_size,
            device=self.device,
            dtype=self.lm_head.weight.dtype,
        )

    @torch.no_grad()
    def generate_with_cache(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Like the plain loop, but each new token runs through the model alone (T = 1).

        Within block_size tokens this gives exactly the plain loop's tokens. Past it, positions
        would shift at every step, so the cache restarts from the last block_size // 2 tokens.
        """
        block_size = self.config.block_size
        cache = None
        for _ in range(max_new_tokens):
            if cache is None or cache.length == block_size:
                keep = block_size if cache is None else max(1, block_size // 2)
                cache = self.new_kv_cache(idx.size(0))
                logits, _ = self(idx[:, -keep:], kv_cache=cache)  # (B, T, V)
            else:
                logits, _ = self(idx[:, -1:], kv_cache=cache)  # (B, 1, V)
            token = next_token(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            idx = torch.cat((idx, token), dim=1)
        return idx


class AttentionLanguageModel(LanguageModel):
    """The lecture's steps between bigram and GPT: embeddings -> one attention layer
    (one Head, or MultiHeadAttention) -> optional FeedForward -> logits. No residuals, no LayerNorm."""

    def __init__(self, config: GPTConfig, feed_forward: bool = False):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        if config.n_head == 1:
            self.attention = Head(config.n_embd, config.n_embd, config.dropout, config.bias)
        else:
            self.attention = MultiHeadAttention(config)
        self.ffwd = FeedForward(config) if feed_forward else None
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)

    @property
    def block_size(self) -> int:
        return self.config.block_size

    def _embed(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.size(1)
        if self.config.block_size < T:
            raise ValueError(f"a sequence of {T} tokens is longer than block_size={self.config.block_size}")
        positions = torch.arange(T, device=idx.device)
        return self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.attention(self._embed(idx))  # (B, T, C)
        if self.ffwd is not None:
            x = self.ffwd(x)
        logits = self.lm_head(x)  # (B, T, V)
        return logits, self.loss(logits, targets)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of the one attention layer, (1, B, nh, T, T)."""
        _, maps = self.attention(self._embed(idx), return_attention=True)
        return _stack([maps])
