"""Token embeddings plus a position code, for every model that reads a sequence: the learned table
(the lecture's), the 2017 paper's sinusoids, RoPE (turned inside attention: nothing added here), or
nothing at all."""

from __future__ import annotations

import torch
from torch import nn

from .base import LanguageModel
from .config import GPTConfig
from .positions import sinusoidal_positions


class TokenAndPositionEmbedding(nn.Module):
    """A mixin: build_embeddings() makes token_embedding (and position_embedding or a sinusoidal
    table) on the module itself, so their weights keep the names a GPT's state dict has."""

    token_embedding: nn.Embedding
    position_embedding: nn.Embedding | None
    sinusoidal_table: torch.Tensor  # (block_size, C), where position is "sinusoidal"

    def build_embeddings(
        self, vocab_size: int, block_size: int, n_embd: int, position: str, scale_tokens: bool
    ) -> None:
        """position: "learned" | "sinusoidal" | "rope" | "none"; scale_tokens multiplies the token
        embeddings by sqrt(C) (the 2017 paper's section 3.4: else its fixed sines, of size ~0.7,
        drown tokens initialised at size 0.02)."""
        self.token_embedding = nn.Embedding(vocab_size, n_embd)  # what each token is
        self.position_embedding = None  # where it stands: a learned table, or
        if position == "learned":  # (rope: q and k are turned in attention; none: nowhere)
            self.position_embedding = nn.Embedding(block_size, n_embd)
        if position == "sinusoidal":  # a buffer, not a parameter: never trained, not saved
            self.register_buffer(
                "sinusoidal_table", sinusoidal_positions(block_size, n_embd), persistent=False
            )
        self.position_kind, self.token_scale = position, n_embd**0.5 if scale_tokens else 1.0

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Tokens idx (B, T) at positions start..start+T-1 -> their embeddings (B, T, C)."""
        T = idx.size(1)
        tokens = self.token_embedding(idx)  # (B, T, C)
        if self.token_scale != 1.0:
            tokens = tokens * self.token_scale
        if self.position_embedding is not None:  # learned: one row per position up to block_size
            if start + T > self.position_embedding.num_embeddings:
                raise ValueError(
                    f"a sequence of {start + T} tokens is longer than block_size="
                    f"{self.position_embedding.num_embeddings}: crop it to its last block_size tokens"
                )
            return tokens + self.position_embedding(torch.arange(start, start + T, device=idx.device))
        if self.position_kind == "sinusoidal":
            return tokens + self._sinusoids(start, T)
        return tokens  # rope or none: no position added here

    def _sinusoids(self, start: int, T: int) -> torch.Tensor:
        """(T, C) rows of the sinusoidal table; past block_size, the same formula computed afresh."""
        table = self.sinusoidal_table
        if start + T <= table.size(0):
            return table[start : start + T]
        return sinusoidal_positions(T, table.size(1), start).to(table)


class EmbeddingLanguageModel(TokenAndPositionEmbedding, LanguageModel):
    """The start every attention language model shares: token embeddings plus config.position's code."""

    has_attention = True

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        scale = config.position == "sinusoidal"  # the paper's scaling goes with the paper's sines
        self.build_embeddings(config.vocab_size, config.block_size, config.n_embd, config.position, scale)
        self.vocab_size: int = config.vocab_size
        self.block_size: int = config.block_size

    def tie_output_to_embedding(self, lm_head: nn.Linear) -> None:
        """With config.tie_weights, lm_head's (V, C) weight becomes the token table itself, as in GPT-2."""
        if self.config.tie_weights:
            lm_head.weight = self.token_embedding.weight  # one Parameter: trained, saved, counted once
