"""The simplest language model: the next token depends only on the current one."""

from __future__ import annotations

import torch
from torch import nn

from .base import LanguageModel


class BigramLanguageModel(LanguageModel):
    """A (V, V) table: row i holds the logits of the token that follows token i."""

    block_size = None  # reads one token: any context length works
    supports_kv_cache = False
    has_attention = False

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)
        nn.init.normal_(self.token_embedding_table.weight, mean=0.0, std=0.02)  # loss starts at ln V

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.token_embedding_table(idx)  # (B, T) -> (B, T, V)
        return logits, self.loss(logits, targets)
