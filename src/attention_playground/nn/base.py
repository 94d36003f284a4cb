"""The contract every model of the course keeps: forward(idx, targets) -> (logits, loss), and the
lecture's generate loop; with two small helpers for any nn.Module (eval mode for a block, the module
under torch.compile) and the lecture's weight init."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, TokenizerError
from .attention import AttentionMaps, recording_attention, stack_maps
from .decoding import check_sampling, next_token

if TYPE_CHECKING:
    from .kv_cache import KVCache


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (no dropout) inside the block; the model's own train/eval mode restored after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def uncompiled(model: nn.Module) -> nn.Module:
    """The module under torch.compile's wrapper, whose state_dict has no `_orig_mod.` prefix."""
    return getattr(model, "_orig_mod", model)


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) weights and zero biases, so the loss starts near ln V.

    Not in the video: Karpathy added this init to the lecture's gpt.py after it (ng-video-lecture,
    commit d38c865, "not covered in the original GPT video, but important").
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def check_context(model: LanguageModel, idx: torch.Tensor) -> None:
    """idx is (B, T) token ids the model knows, with at least one token to continue."""
    if idx.dim() != 2 or idx.size(1) == 0:
        raise ConfigError(
            f"generate needs a (B, T) tensor of token ids with T >= 1 to continue, got shape "
            f"{tuple(idx.shape)}: start from at least one token (e.g. a newline)"
        )
    if idx.dtype != torch.long:
        raise ConfigError(f"token ids must be a torch.long tensor, got {idx.dtype}")
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= model.vocab_size:
        bad = low if low < 0 else high
        raise TokenizerError(f"token id {bad} is outside the model's vocabulary (0..{model.vocab_size - 1})")


class LanguageModel(nn.Module):
    """What every model of the course shares: forward(idx, targets) -> (logits, loss), generate."""

    block_size: int | None = None  # the longest context it reads; None: any length
    vocab_size: int  # how many different tokens it reads and predicts: every model sets it
    supports_kv_cache: bool = False  # True where new_kv_cache() and generate_cached() work
    has_attention: bool = False  # True where attention_maps(idx) works

    @staticmethod
    def loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        """Mean cross-entropy of the next token over every position, or None without targets."""
        if targets is None:
            return None
        B, T, V = logits.shape
        return F.cross_entropy(logits.reshape(B * T, V).float(), targets.reshape(B * T))

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T): the lecture's loop, in eval mode.

        A model with a KV cache runs the same loop through its cache (sampling.cached_tokens).
        """
        check_sampling(max_new_tokens, temperature, top_k, top_p)
        check_context(self, idx)
        if use_cache and self.supports_kv_cache:
            return self.generate_cached(idx, max_new_tokens, temperature, top_k, top_p, generator)
        with evaluating(self):
            for _ in range(max_new_tokens):
                context = idx if self.block_size is None else idx[:, -self.block_size :]  # what it reads
                logits, _ = self(context)  # (B, T, V)
                logits = logits[:, -1, :]  # (B, V): the last position predicts what comes next
                idx_next = next_token(logits, temperature, top_k, top_p, generator)  # (B, 1)
                idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)
        return idx

    def generate_cached(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """generate() through a KV cache; models with supports_kv_cache override it."""
        raise TypeError(f"a {type(self).__name__} has no KV cache: sample with use_cache=False")

    def new_kv_cache(self, batch_size: int) -> KVCache:
        """An empty cache for this model's keys and values; models with supports_kv_cache override it."""
        raise TypeError(f"a {type(self).__name__} has no KV cache: sample with use_cache=False")

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> AttentionMaps:
        """Scores and weights of every layer and head, (L, B, nh, T, T), from the teaching path."""
        with recording_attention(self) as recorded:
            self(idx)
        if not recorded:
            raise TypeError(f"a {type(self).__name__} has no attention to show: use a model with attention")
        return stack_maps(recorded)

    def num_params(self, embeddings: bool = True) -> int:
        """All parameters, or (embeddings=False) those outside the token and position tables.

        A tied lm_head is the token table, so it is counted once, and not at all without embeddings.
        """
        n = sum(p.numel() for p in self.parameters())
        for name in () if embeddings else ("token_embedding", "position_embedding"):
            table = getattr(self, name, None)
            n -= table.weight.numel() if table is not None else 0
        return n

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
