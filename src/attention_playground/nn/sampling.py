"""Sampling text: one loop that reads the whole cropped context at every step, or, for a model with
a KV cache, only the newest token. The cache itself lives here too, beside the loop that fills it.

The loop is a generator, `stream_tokens`, so text can be shown as it is made (`stream_text`) and
stopped at any point; `generate` collects what it yields.
"""

from __future__ import annotations

import codecs
import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, TokenizerError, check_seed

if TYPE_CHECKING:
    from .base import LanguageModel


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (no dropout) inside the block; the model's own train/eval mode restored after it.

    Defined here, below model.py (which re-exports it), so that sampling imports nothing from model.py.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class KVCache:
    """Keys and values of every layer for the tokens seen so far, so a new token costs O(T), not O(T^2).

    Preallocated to `max_len` positions; `length` is how many are filled.
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        max_len: int,
        head_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        shape = (n_layer, batch_size, n_head, max_len, head_size)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys and values (B, nh, T, hs); return all of them so far."""
        end = self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; {end} were asked for")
        self.keys[layer, :, :, self.length : end] = k
        self.values[layer, :, :, self.length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n: int) -> None:
        """Called once every layer has stored its n new positions."""
        self.length += n


def _check_sampling(max_new_tokens: int, temperature: float, top_k: int | None) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={max_new_tokens!r} must be a whole number >= 0")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise ConfigError(
            f"temperature={temperature!r} must be >= 0 and finite (0 picks the likeliest token)"
        )
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k!r} must be >= 1, or None for no limit")


def sampling_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The distribution next_token draws from: softmax(logits / temperature) over the top_k tokens.

    Logits (..., V) -> probabilities (..., V); temperature 0 puts everything on the likeliest token.
    """
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.size(-1)).float()
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[..., [-1]]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1)


def _check_context(model: LanguageModel, idx: torch.Tensor) -> None:
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


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row from the last position's logits (B, V): greedy at temperature 0."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    probs = sampling_probs(logits, temperature, top_k)  # (B, V)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)  # sample where the generator lives: same seed, same text
    return torch.multinomial(probs, num_samples=1, generator=generator).to(logits.device)


def stream_tokens(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Iterator[torch.Tensor]:
    """Yield max_new_tokens sampled tokens (B, 1), one at a time, continuing idx (B, T).

    The arguments are checked here, at once; the tokens come from _sampling_loop as they are drawn.
    """
    _check_sampling(max_new_tokens, temperature, top_k)
    _check_context(model, idx)
    return _sampling_loop(model, idx, max_new_tokens, temperature, top_k, generator, use_cache)


def _sampling_loop(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator | None,
    use_cache: bool,
) -> Iterator[torch.Tensor]:
    """The one sampling loop. It reads at most block_size of context and keeps no more than that,
    so any length is safe to ask for and to stop. With the cache each new token runs through the
    model alone (T = 1), which gives exactly the plain loop's tokens within block_size. Past it,
    positions would shift at every step, so the cache restarts from the last block_size // 2 tokens.
    """
    block_size = model.block_size
    cached = use_cache and model.supports_kv_cache
    cache = None
    with evaluating(model):
        for _ in range(max_new_tokens):
            with torch.no_grad():  # per step: a no_grad held across `yield` would leak to the caller
                if not cached:
                    context = idx if block_size is None else idx[:, -block_size:]  # what it can read
                    logits, _ = model(context)  # (B, T, V)
                elif cache is None or cache.length == block_size:  # the first step, or a full cache
                    assert block_size is not None  # a model with a KV cache has a block size
                    keep = block_size if cache is None else max(1, block_size // 2)
                    cache = model.new_kv_cache(idx.size(0))
                    logits, _ = model(idx[:, -keep:], kv_cache=cache)  # (B, keep, V)
                else:
                    logits, _ = model(idx[:, -1:], kv_cache=cache)  # (B, 1, V): only the newest token
                token = next_token(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            idx = torch.cat((idx, token), dim=1)  # (B, T + 1)
            if block_size is not None:
                idx = idx[:, -block_size:]  # nothing older is ever read again
            yield token


def generate(
    model: LanguageModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Append max_new_tokens sampled tokens to idx (B, T): stream_tokens, collected."""
    tokens = list(stream_tokens(model, idx, max_new_tokens, temperature, top_k, generator, use_cache))
    return torch.cat([idx, *tokens], dim=1)  # (B, T + max_new_tokens)


def _seeded(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    check_seed(seed)
    return torch.Generator().manual_seed(seed)


def stream_text(
    model: LanguageModel,
    tokenizer,
    prompt: str = "\n",
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = 1337,
    use_cache: bool = True,
) -> Iterator[str]:
    """The prompt, then its continuation piece by piece as it is sampled; joined, sample_text's text.

    Bad arguments raise here, before anything is yielded. A GPT-2 token can end inside a character
    (BPE works on bytes): its bytes wait until the character is whole, so no piece shows half of one.
    """
    _check_sampling(max_new_tokens, temperature, top_k)
    ids = tokenizer.encode(prompt or "\n")  # an unknown character is a TokenizerError here
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)  # (1, T)
    tokens = stream_tokens(model, idx, max_new_tokens, temperature, top_k, _seeded(seed), use_cache)
    return _pieces(tokenizer, prompt or "\n", tokens)


def _pieces(tokenizer, prompt: str, tokens: Iterator[torch.Tensor]) -> Iterator[str]:
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
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)  # (1, T)
    out = generate(model, idx, max_new_tokens, temperature, top_k, _seeded(seed), use_cache)
    return tokenizer.decode(out[0].tolist())
