"""The full GPT: attention to communicate, a feed-forward layer to compute, residuals and LayerNorm
to make it deep. Also the lecture's in-between models, one attention layer and no residuals."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError
from .attention import AttentionMaps, Head, MultiHeadAttention
from .base import LanguageModel
from .config import GPTConfig
from .positions import sinusoidal_positions
from .sampling import KVCache

# Dropout sits where the lecture's gpt.py puts it: on the attention weights (attend's dropout, unless
# config.attention_dropout is False), after the attention's output projection
# (MultiHeadAttention.resid_dropout), and at the end of FeedForward.


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
    return {"relu": nn.ReLU, "gelu": nn.GELU, "relu_squared": ReLUSquared}[name]()


class FeedForward(nn.Module):
    """Each position thinks on its own about what it gathered: Linear -> activation -> Linear.

    The activation is the lecture's ReLU by default, GPT-2's GELU (GPTConfig.activation="gelu"), or
    ReLU squared ("relu_squared").
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias),  # (B, T, 4C)
            activation(config.activation),  # the lecture's ReLU, GPT-2's GELU, or ReLU squared
            nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias),  # (B, T, C)
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def layer_norm(config: GPTConfig) -> nn.Module:
    """A LayerNorm over the channels, or nothing at all where config.norm is "none"."""
    return nn.Identity() if config.norm == "none" else nn.LayerNorm(config.n_embd, bias=config.bias)


class Block(nn.Module):
    """Communication then computation, each added to a residual stream (pre-LayerNorm).

    GPTConfig's switches take parts away (notebook 08): norm="post" normalises after the addition,
    as the 2017 paper; norm="none" has no LayerNorm; residual=False replaces x instead of adding to
    it; feed_forward=False leaves attention alone.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = layer_norm(config)
        self.attn = MultiHeadAttention(config)
        self.ln2 = layer_norm(config) if config.feed_forward else nn.Identity()  # unused without ffwd
        self.ffwd = FeedForward(config) if config.feed_forward else None
        self.residual, self.post_norm = config.residual, config.norm == "post"

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = self._add(x, lambda h: self.attn(h, kv_cache, layer), self.ln1)  # (B, T, C): communicate
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

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, AttentionMaps]:
        """forward's output with the attention's teaching path, and its maps (B, nh, T, T)."""
        kept: list[AttentionMaps] = []

        def attend_and_keep(h: torch.Tensor) -> torch.Tensor:
            y, maps = self.attn.forward_with_maps(h)
            kept.append(maps)
            return y

        x = self._add(x, attend_and_keep, self.ln1)
        if self.ffwd is not None:
            x = self._add(x, self.ffwd, self.ln2)
        return x, kept[0]


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) weights and zero biases, so the loss starts near ln V.

    Not in the video: Karpathy added this init to the lecture's gpt.py after it (ng-video-lecture,
    commit d38c865, "not covered in the original GPT video, but important").
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def _stack_layers(maps: list[AttentionMaps]) -> AttentionMaps:
    """Per-layer maps, each (B, nh, T, T) -> one AttentionMaps of shape (L, B, nh, T, T)."""
    return AttentionMaps(torch.stack([m.scores for m in maps]), torch.stack([m.weights for m in maps]))


class EmbeddingLanguageModel(LanguageModel):
    """The start every attention model shares: each token's embedding plus its position's embedding."""

    has_attention = True
    sinusoidal_table: torch.Tensor  # (block_size, C), where config.position is "sinusoidal"

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)  # what each token is
        self.position_embedding: nn.Embedding | None = None  # where it stands: a learned table, or
        if config.position == "learned":  # (rope: q and k are turned in attention; none: nowhere)
            self.position_embedding = nn.Embedding(config.block_size, config.n_embd)
        if config.position == "sinusoidal":  # a buffer, not a parameter: never trained, not saved
            table = sinusoidal_positions(config.block_size, config.n_embd)
            self.register_buffer("sinusoidal_table", table, persistent=False)
        self.vocab_size: int = config.vocab_size
        self.block_size: int = config.block_size

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Tokens idx (B, T) at positions start..start+T-1 -> their embeddings (B, T, C)."""
        T = idx.size(1)
        if self.position_embedding is not None:  # learned: one row per position up to block_size
            if start + T > self.config.block_size:
                raise ValueError(
                    f"a sequence of {start + T} tokens is longer than block_size="
                    f"{self.config.block_size}: crop the context to the last block_size tokens"
                )
            positions = torch.arange(start, start + T, device=idx.device)  # (T,)
            return self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, C)
        if self.config.position == "sinusoidal":
            # the paper scales token embeddings by sqrt(C) (its section 3.4): without it, the fixed
            # sines (size ~0.7) drown tokens initialised at size 0.02
            tokens = self.token_embedding(idx) * self.config.n_embd**0.5  # (B, T, C)
            return tokens + self._sinusoids(start, T)
        return self.token_embedding(idx)  # rope or none: no position added here

    def _sinusoids(self, start: int, T: int) -> torch.Tensor:
        """(T, C) rows of the sinusoidal table; past block_size, the same formula computed afresh."""
        table = self.sinusoidal_table
        if start + T <= table.size(0):
            return table[start : start + T]
        return sinusoidal_positions(T, self.config.n_embd, start).to(table)

    def tie_output_to_embedding(self, lm_head: nn.Linear) -> None:
        """With config.tie_weights, lm_head's (V, C) weight becomes the token table itself, as in GPT-2."""
        if self.config.tie_weights:
            lm_head.weight = self.token_embedding.weight  # one Parameter: trained, saved, counted once

    def num_params(self, embeddings: bool = True) -> int:
        """All parameters, or (embeddings=False) those outside the token and position tables.

        A tied lm_head is the token table, so it is counted once, and not at all without embeddings.
        """
        n = super().num_params()
        if not embeddings:
            n -= self.token_embedding.weight.numel()
            if self.position_embedding is not None:
                n -= self.position_embedding.weight.numel()
        return n


class GPT(EmbeddingLanguageModel):
    """Token and position embeddings -> n_layer Blocks -> LayerNorm -> logits over the vocabulary."""

    supports_kv_cache = True

    def __init__(self, config: GPTConfig):
        super().__init__(config)  # self.config, self.token_embedding, self.position_embedding
        # no parameters either way, so state dicts load whichever the config says
        self.drop = nn.Dropout(config.dropout) if config.embedding_dropout else nn.Identity()
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
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

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of every layer and head, (L, B, nh, T, T), from the teaching path."""
        x = self.drop(self.embed(idx))
        maps = []
        for block in self.blocks:
            x, layer_maps = block.forward_with_maps(x)  # type: ignore[operator]  # a ModuleList item is typed Module
            maps.append(layer_maps)
        return _stack_layers(maps)

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


class AttentionLanguageModel(EmbeddingLanguageModel):
    """The lecture's steps between bigram and GPT: embeddings -> one attention layer
    (one Head, or MultiHeadAttention) -> optional FeedForward -> logits. No residuals, no LayerNorm.

    Of GPTConfig's switches, `position` and (with n_head >= 2) `attention_scale` apply here too;
    `residual`, `norm` and `feed_forward` are the GPT Block's (this model has its own feed_forward).
    """

    supports_kv_cache = False

    def __init__(self, config: GPTConfig, feed_forward: bool = False):
        super().__init__(config)  # self.config, self.token_embedding, self.position_embedding
        self.attention: Head | MultiHeadAttention
        if config.n_head == 1 and (config.position == "rope" or not config.attention_scale):
            raise ConfigError(
                "the lecture's single Head always scales by 1/sqrt(hs) and has no RoPE: use n_head >= 2 "
                "(MultiHeadAttention has both switches), or a GPT"
            )
        if config.n_head == 1:
            self.attention = Head(
                config.n_embd, config.n_embd, config.attention_weights_dropout, config.qkv_bias
            )
        else:
            self.attention = MultiHeadAttention(config)
        self.ffwd = FeedForward(config) if feed_forward else None
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)
        self.tie_output_to_embedding(self.lm_head)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.attention(self.embed(idx))  # (B, T, C)
        if self.ffwd is not None:
            x = self.ffwd(x)
        logits = self.lm_head(x)  # (B, T, V)
        return logits, self.loss(logits, targets)

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of the one attention layer, (1, B, nh, T, T)."""
        _, maps = self.attention.forward_with_maps(self.embed(idx))
        return _stack_layers([maps])
