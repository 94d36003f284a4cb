"""The lecture's GPT: attention to communicate, a feed-forward layer to compute, residuals and
LayerNorm to make it deep. Exactly the classes notebook 06 shows and trains.

Dropout sits where the lecture's gpt.py puts it: on the attention weights, after the attention's
output projection, and at the end of FeedForward. The variants (RoPE, QK-norm, post-norm, a KV
cache, ...) are layered around these classes in variants.py.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import activation
from .attention import MultiHeadAttention
from .base import LanguageModel, init_weights
from .config import GPTConfig, check_lecture_config
from .pretrained import GPT2Weights


class FeedForward(nn.Module):
    """Each position thinks on its own about what it gathered: Linear -> activation -> Linear."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias),  # (B, T, 4C)
            activation(config.activation),  # the lecture's ReLU (GPT-2: GELU)
            nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias),  # (B, T, C)
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Block(nn.Module):
    """Communication then computation, each added to the residual stream (pre-LayerNorm)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = MultiHeadAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.ffwd = FeedForward(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, T, C): communicate
        x = x + self.ffwd(self.ln2(x))  # (B, T, C): compute
        return x


class GPT(GPT2Weights, LanguageModel):
    """Token and position embeddings -> n_layer Blocks -> LayerNorm -> logits over the vocabulary."""

    has_attention = True

    def __init__(self, config: GPTConfig):
        super().__init__()
        check_lecture_config(config, "GPT")  # RoPE, post-norm and the rest: ExtendedGPT (variants.py)
        self.config, self.vocab_size, self.block_size = config, config.vocab_size, config.block_size
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)  # what each token is
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)  # where it stands
        self.drop = nn.Dropout(config.dropout) if config.embedding_dropout else nn.Identity()
        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)  # the final LayerNorm
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)
        self.apply(init_weights)  # normal(0, 0.02): the loss starts near ln V
        if config.tie_weights:  # GPT-2's: one (V, C) table reads tokens in and writes logits out
            self.lm_head.weight = self.token_embedding.weight

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        tok_emb = self.token_embedding(idx)  # (B, T, C)
        pos_emb = self.position_embedding(torch.arange(T, device=idx.device))  # (T, C)
        x = self.drop(tok_emb + pos_emb)  # (B, T, C)
        x = self.blocks(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V): a prediction at every position
        return logits, self.loss(logits, targets)
