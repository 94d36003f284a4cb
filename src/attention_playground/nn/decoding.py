"""How the next token is picked from the model's logits: greedy, temperature, top-k and top-p."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def check_sampling(
    max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None = None
) -> None:
    """The sampling settings, each checked in one line that says what to change."""
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={max_new_tokens!r} must be a whole number >= 0")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise ConfigError(
            f"temperature={temperature!r} must be >= 0 and finite (0 picks the likeliest token)"
        )
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k!r} must be >= 1, or None for no limit")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ConfigError(
            f"top_p={top_p!r} must be in (0, 1]: the share of probability the likeliest tokens keep "
            "(1 keeps them all), or None"
        )


def sampling_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """The distribution next_token draws from: softmax(logits / temperature), cut to the top_k tokens
    and to the fewest likeliest tokens whose probabilities reach top_p (nucleus sampling), renormalised.

    Logits (..., V) -> probabilities (..., V); temperature 0 puts everything on the likeliest token.
    """
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.size(-1)).float()
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[..., [-1]]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # the probability of the tokens ahead of each
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the first token is always kept
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row from the last position's logits (B, V): greedy at temperature 0."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    probs = sampling_probs(logits, temperature, top_k, top_p)  # (B, V)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)  # sample where the generator lives: same seed, same text
    return torch.multinomial(probs, num_samples=1, generator=generator).to(logits.device)
