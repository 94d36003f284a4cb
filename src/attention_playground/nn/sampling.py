"""Sampling text: the engine around the lecture's generate loop (LanguageModel.generate).

- cached_tokens: the loop through a KV cache, each new token run through the model alone (T = 1).
- stream_tokens: tokens one at a time as they are drawn, so text can be shown as it is made
  (stream_text) and stopped at any point; sample_text collects the text.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

import torch

from ..errors import check_seed
from .base import LanguageModel, check_context, evaluating
from .decoding import check_sampling, next_token, sampling_probs

__all__ = [
    "cached_tokens",
    "generate",
    "next_token",
    "sample_text",
    "sampling_probs",
    "stream_text",
    "stream_tokens",
]


def cached_tokens(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[torch.Tensor]:
    """The lecture's loop through the model's KV cache: yield max_new_tokens tokens (B, 1).

    Each new token runs through the model alone, which gives exactly the plain loop's tokens within
    block_size. Past it, positions would shift at every step, so the cache restarts from the last
    block_size // 2 tokens. It keeps no more than block_size tokens of idx.
    """
    block_size = model.block_size
    assert block_size is not None  # a model with a KV cache has a block size
    cache = None
    with evaluating(model):
        for _ in range(max_new_tokens):
            with torch.no_grad():  # per step: a no_grad held across `yield` would leak to the caller
                if cache is None or cache.length == block_size:  # the first step, or a full cache
                    keep = block_size if cache is None else max(1, block_size // 2)
                    cache = model.new_kv_cache(idx.size(0))
                    logits, _ = model(idx[:, -keep:], kv_cache=cache)  # (B, keep, V)
                else:
                    logits, _ = model(idx[:, -1:], kv_cache=cache)  # (B, 1, V): only the newest token
                token = next_token(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
            idx = torch.cat((idx, token), dim=1)[:, -block_size:]  # nothing older is read again
            yield token


def stream_tokens(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Iterator[torch.Tensor]:
    """Yield max_new_tokens sampled tokens (B, 1), one at a time, continuing idx (B, T): the same
    tokens as model.generate. The arguments are checked here, at once, before the first token."""
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    check_context(model, idx)
    if use_cache and model.supports_kv_cache:
        return cached_tokens(model, idx, max_new_tokens, temperature, top_k, top_p, generator)
    return _one_at_a_time(model, idx, max_new_tokens, temperature, top_k, top_p, generator)


def _one_at_a_time(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> Iterator[torch.Tensor]:
    """model.generate for one token at a time, on the context it reads (at most block_size)."""
    for _ in range(max_new_tokens):
        context = idx if model.block_size is None else idx[:, -model.block_size :]
        idx = model.generate(context, 1, temperature, top_k, top_p, generator, use_cache=False)
        yield idx[:, -1:]


def generate(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """model.generate(...) as a function: idx (B, T) with max_new_tokens sampled tokens appended."""
    return model.generate(idx, max_new_tokens, temperature, top_k, top_p, generator, use_cache)


def _seeded(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    check_seed(seed)
    return torch.Generator().manual_seed(seed)


def stream_text(
    model: LanguageModel,
    tokenizer: Any,
    prompt: str = "\n",
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = 1337,
    use_cache: bool = True,
    top_p: float | None = None,
) -> Iterator[str]:
    """The prompt, then its continuation piece by piece as it is sampled; joined, sample_text's text.

    Bad arguments raise here, before anything is yielded. A GPT-2 token can end inside a character
    (BPE works on bytes): its bytes wait until the character is whole, so no piece shows half of one.
    """
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    idx = _prompt_ids(model, tokenizer, prompt)
    tokens = stream_tokens(model, idx, max_new_tokens, temperature, top_k, top_p, _seeded(seed), use_cache)
    return _pieces(tokenizer, prompt or "\n", tokens)


def _prompt_ids(model: LanguageModel, tokenizer: Any, prompt: str) -> torch.Tensor:
    """The prompt's token ids (1, T) on the model's device; an empty prompt is a newline."""
    ids = tokenizer.encode(prompt or "\n")  # an unknown character is a TokenizerError here
    return torch.tensor([ids], dtype=torch.long, device=model.device)


def _pieces(tokenizer: Any, prompt: str, tokens: Iterator[torch.Tensor]) -> Iterator[str]:
    """The prompt, then each token's text: whole characters only."""
    yield prompt
    to_bytes = getattr(tokenizer, "decode_bytes", None)
    if to_bytes is None:  # one token, one whole piece of text (characters)
        for token in tokens:
            yield tokenizer.decode(token[0].tolist())
        return
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # holds a character's first bytes
    for token in tokens:
        piece = utf8.decode(to_bytes(token[0].tolist()))
        if piece:
            yield piece
    if rest := utf8.decode(b"", final=True):
        yield rest


def sample_text(
    model: LanguageModel,
    tokenizer: Any,
    prompt: str = "\n",
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = 1337,
    use_cache: bool = True,
    top_p: float | None = None,
) -> str:
    """The prompt and its continuation as text; the same seed gives the same text."""
    check_sampling(max_new_tokens, temperature, top_k, top_p)
    idx = _prompt_ids(model, tokenizer, prompt)
    out = model.generate(idx, max_new_tokens, temperature, top_k, top_p, _seeded(seed), use_cache)
    return tokenizer.decode(out[0].tolist())
