"""The contract every model of the course keeps, and two small helpers for any nn.Module."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .sampling import evaluating, generate

if TYPE_CHECKING:
    from .attention import AttentionMaps
    from .sampling import KVCache

__all__ = ["LanguageModel", "evaluating", "uncompiled"]  # evaluating is defined in sampling.py


class LanguageModel(nn.Module):
    """What every model of the course shares: forward(idx, targets) -> (logits, loss), generate."""

    block_size: int | None = None  # the longest context it reads; None: any length
    vocab_size: int  # how many different tokens it reads and predicts: every model sets it
    supports_kv_cache: bool = False  # True where forward(idx, kv_cache=...) and new_kv_cache() work
    has_attention: bool = False  # True where attention_maps(idx) works

    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of every layer and head, (L, B, nh, T, T); models with attention override it."""
        raise TypeError(
            f"a {type(self).__name__} has no attention to show: use an AttentionLanguageModel or a GPT"
        )

    def new_kv_cache(self, batch_size: int) -> KVCache:
        """An empty cache for this model's keys and values; models with supports_kv_cache override it."""
        raise TypeError(f"a {type(self).__name__} has no KV cache: sample with use_cache=False")

    @staticmethod
    def loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        """Mean cross-entropy of the next token over every position, or None without targets."""
        if targets is None:
            return None
        B, T, V = logits.shape
        return F.cross_entropy(logits.reshape(B * T, V).float(), targets.reshape(B * T))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        return generate(
            self, idx, max_new_tokens, temperature, top_k, generator=generator, use_cache=use_cache
        )


def uncompiled(model: nn.Module) -> nn.Module:
    """The module under torch.compile's wrapper, whose state_dict has no `_orig_mod.` prefix."""
    return getattr(model, "_orig_mod", model)
