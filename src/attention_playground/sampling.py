"""Sampling text: the plain loop of the lecture, and the same loop with a KV cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError


def _check_sampling(max_new_tokens: int, temperature: float, top_k: int | None) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={max_new_tokens!r} must be a whole number >= 0")
    if temperature < 0:
        raise ConfigError(f"temperature={temperature!r} must be >= 0 (0 picks the likeliest token)")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k!r} must be >= 1, or None for no limit")


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row from the last position's logits (B, V): greedy at temperature 0."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)  # (B, V)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)  # sample where the generator lives: same seed, same text
    return torch.multinomial(probs, num_samples=1, generator=generator).to(logits.device)


@torch.no_grad()
def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Append max_new_tokens sampled tokens to idx (B, T), reading at most block_size of context."""
    _check_sampling(max_new_tokens, temperature, top_k)
    was_training = model.training
    model.eval()
    try:
        if use_cache and hasattr(model, "generate_with_cache"):
            return model.generate_with_cache(idx, max_new_tokens, temperature, top_k, generator)
        block_size = getattr(model, "block_size", None)
        for _ in range(max_new_tokens):
            context = idx if block_size is None else idx[:, -block_size:]  # crop to what it can read
            logits, _ = model(context)  # (B, T, V)
            token = next_token(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            idx = torch.cat((idx, token), dim=1)  # (B, T + 1)
        return idx
    finally:
        model.train(was_training)


def sample_text(
    model: nn.Module,
    tokenizer,
    prompt: str = "\n",
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = 1337,
    use_cache: bool = True,
) -> str:
    """The prompt and its continuation as text; the same seed gives the same text."""
    _check_sampling(max_new_tokens, temperature, top_k)
    ids = tokenizer.encode(prompt or "\n")  # an unknown character is a TokenizerError here
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    out = generate(model, idx, max_new_tokens, temperature, top_k, generator, use_cache)
    return tokenizer.decode(out[0].tolist())
