"""One prediction as numbers: a prompt's token ids as the model reads them, and the distribution the
next token is drawn from under temperature, top-k and top-p (the library's own sampling_probs).

The views of trace.py and lens.py read a model through hooks on its own modules; `model_blocks` says
which models have the blocks they need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.tokenizers import Tokenizer, token_labels
from ..nn.base import LanguageModel, check_context, evaluating, uncompiled
from ..nn.decoding import check_sampling, sampling_probs


class Prompt(NamedTuple):
    """A prompt as the model reads it: at most block_size tokens, the last ones (as generate reads)."""

    ids: list[int]
    labels: list[str]  # each token's text, spaces and newlines made visible
    idx: torch.Tensor  # (1, T) on the model's device
    note: str  # why the prompt was cropped, or ""


def read_prompt(model: LanguageModel, tokenizer: Tokenizer, text: str | Sequence[int]) -> Prompt:
    """`text` (or its token ids) as the model reads it: its last block_size tokens, with a note where
    it was cropped."""
    ids = tokenizer.encode(text) if isinstance(text, str) else [int(i) for i in text]  # TokenizerError
    if not ids:
        raise ValueError("the prompt is empty: type some text for the model to continue")
    note = ""
    block_size = model.block_size
    if block_size is not None and len(ids) > block_size:
        note = f"the prompt has {len(ids)} tokens; the model reads its last block_size={block_size}"
        ids = ids[-block_size:]
    idx = torch.tensor([ids], dtype=torch.long, device=model.device)
    check_context(model, idx)  # ids the model knows
    return Prompt(ids, token_labels(tokenizer, ids), idx, note)


def model_blocks(model: nn.Module, view: str) -> list[Any]:
    """The model's blocks (a GPT's or an ExtendedGPT's), each with ln1, attn and ffwd, before ln_f and
    lm_head; a clear error for a model without them."""
    model = uncompiled(model)
    blocks = getattr(model, "blocks", None)
    if blocks is None or not hasattr(model, "ln_f") or not hasattr(model, "lm_head"):
        raise TypeError(
            f"the {view} reads a residual stream of blocks: a {type(model).__name__} has none "
            "(use a GPT or an ExtendedGPT)"
        )
    return list(blocks)


class NextToken(NamedTuple):
    """What the model predicts after a prompt, and what sampling draws from under the knobs."""

    prompt: Prompt
    logits: torch.Tensor  # (V,) the last position's logits, on the CPU
    model_probs: torch.Tensor  # (V,) softmax(logits): the model's own distribution (temperature 1)
    probs: torch.Tensor  # (V,) sampling_probs(logits, temperature, top_k, top_p): what sample draws from
    temperature: float
    top_k: int | None
    top_p: float | None
    top: list[tuple[int, str, float]]  # the likeliest tokens to be drawn: (id, label, probability)

    @property
    def kept(self) -> int:
        """How many tokens can still be drawn after top-k and top-p."""
        return int((self.probs > 0).sum())


@torch.no_grad()
def next_token_distribution(
    model: LanguageModel,
    tokenizer: Tokenizer,
    text: str | Sequence[int],
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    top: int = 10,
) -> NextToken:
    """The next token after `text` (or token ids): the model's distribution, and the one `sample`
    draws from with these knobs."""
    check_sampling(1, temperature, top_k, top_p)
    prompt = read_prompt(model, tokenizer, text)
    with evaluating(model):
        logits = model(prompt.idx)[0][0, -1].float().cpu()  # (V,) the last position predicts the next
    probs = sampling_probs(logits, temperature, top_k, top_p)  # (V,) the library's own knobs
    values, ids = probs.topk(min(top, probs.numel()))
    shown = [int(i) for i, v in zip(ids, values, strict=True) if v > 0]
    labels = token_labels(tokenizer, shown)
    ranked = [(i, label, probs[i].item()) for i, label in zip(shown, labels, strict=True)]
    return NextToken(prompt, logits, logits.softmax(-1), probs, temperature, top_k, top_p, ranked)
