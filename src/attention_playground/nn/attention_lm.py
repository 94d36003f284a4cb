"""The lecture's steps between the bigram and the GPT: embeddings, one attention layer, logits."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .attention import Head, MultiHeadAttention
from .base import init_weights
from .config import GPTConfig
from .embeddings import EmbeddingLanguageModel
from .gpt import FeedForward
from .variants import ExtendedAttention


class AttentionLanguageModel(EmbeddingLanguageModel):
    """Embeddings -> one attention layer (one Head, or MultiHeadAttention) -> optional FeedForward ->
    logits. No residuals, no LayerNorm: notebooks 04 and 05."""

    def __init__(self, config: GPTConfig, feed_forward: bool = False):
        super().__init__(config)  # self.token_embedding, self.position_embedding (embeddings.py)
        self.attention = attention_layer(config)  # one Head (n_head=1), or MultiHeadAttention
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


def attention_layer(config: GPTConfig) -> Head | MultiHeadAttention:
    """The lecture's Head for n_head=1 (one head as wide as the embeddings), else MultiHeadAttention;
    with RoPE or without the 1/sqrt(hs) scale, the ExtendedAttention that builds those switches."""
    switched = config.position == "rope" or not config.attention_scale
    if config.n_head == 1 and switched:
        raise ConfigError(
            "the lecture's single Head always scales by 1/sqrt(hs) and has no RoPE: use n_head >= 2 "
            "(MultiHeadAttention has both switches), or a GPT"
        )
    if config.n_head == 1:
        return Head(config.n_embd, config.n_embd, config.attention_weights_dropout, config.qkv_bias)
    return ExtendedAttention(config) if switched or config.qk_norm else MultiHeadAttention(config)
