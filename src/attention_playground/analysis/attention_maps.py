"""What the attention pictures show, as numbers: a prompt's attention, one head's view, head patterns.

No plotting here: plots.py draws these, explorers.py puts sliders on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch

from ..data.tokenizers import Tokenizer, token_labels
from ..nn.attention import causal_mask, masked_softmax
from ..nn.base import LanguageModel, evaluating

if TYPE_CHECKING:
    from ..nn.encoder import EncoderDecoder


class PromptAttention(NamedTuple):
    """A model's attention over one prompt, on the CPU: what the explorer and head_patterns read.

    Self-attention by default: the queries are the keys, (L, nh, T, T). Cross-attention (see
    cross_prompt_attention) has its own key_labels, (L, nh, Tq, Tk), and causal=False.
    """

    ids: list[int]  # the prompt's token ids (cropped to block_size)
    labels: list[str]  # each query token's text, spaces and newlines made visible
    scores: torch.Tensor  # (L, nh, Tq, Tk) scaled q.k, before the mask
    weights: torch.Tensor  # (L, nh, Tq, Tk) the model's own softmax weights (temperature 1)
    note: str  # why the prompt was cropped, or ""
    key_labels: list[str] | None = None  # the keys' texts, where they are not the queries'
    causal: bool = True  # False: every query may read every key (an encoder, cross-attention)


def prompt_attention(model: LanguageModel, tokenizer: Tokenizer, text: str) -> PromptAttention:
    """Run `text` through `model` (in eval mode, on its own device) and keep every head's attention."""
    if not getattr(model, "has_attention", False):  # a LanguageModel says; any other module has none
        raise TypeError(
            f"a {type(model).__name__} has no attention to explore: use an AttentionLanguageModel "
            "or a GPT (a LanguageModel with has_attention and an attention_maps(idx) method)"
        )
    ids = tokenizer.encode(text)
    if not ids:
        raise ValueError("the prompt is empty: pass some text for the model to read")
    note = ""
    block_size = model.block_size  # None: the model reads any length
    if block_size is not None and len(ids) > block_size:
        note = (
            f"the prompt has {len(ids)} tokens but this model reads at most block_size={block_size}: "
            f"showing its first {block_size} tokens"
        )
        ids = ids[:block_size]
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    with evaluating(model):  # no dropout: the attention the model uses when it predicts
        maps = model.attention_maps(idx)  # (L, 1, nh, T, T) each
    scores = maps.scores[:, 0].detach().float().cpu()  # (L, nh, T, T)
    weights = maps.weights[:, 0].detach().float().cpu()
    causal = getattr(model, "causal", True)  # an encoder (EncoderClassifier) says False
    return PromptAttention(ids, token_labels(tokenizer, ids), scores, weights, note, causal=causal)


def cross_prompt_attention(
    model: EncoderDecoder,
    tokenizer: Tokenizer,
    source: str,
    target: str,
    query_labels: Sequence[str] | None = None,
) -> PromptAttention:
    """What each token of `target` (as the decoder reads it, start token first) reads of `source`:
    every layer's and head's cross-attention, (L, nh, Tq = len(target), Tk = len(source)).

    `query_labels` names the rows (e.g. by the token each row writes) instead of the target's tokens.
    """
    if not getattr(model, "has_cross_attention", False):
        raise TypeError(
            f"a {type(model).__name__} has no cross-attention: use an EncoderDecoder "
            "(a model with has_cross_attention and a cross_attention_maps(src, tgt_in) method)"
        )
    src_ids, tgt_ids = tokenizer.encode(source), tokenizer.encode(target)
    for name, ids in (("source", src_ids), ("target", tgt_ids)):
        if not ids:
            raise ValueError(f"the {name} is empty: pass some text")
        if len(ids) > model.block_size:
            raise ValueError(f"the {name} has {len(ids)} tokens; this model reads at most {model.block_size}")
    labels = token_labels(tokenizer, tgt_ids) if query_labels is None else list(query_labels)
    if len(labels) != len(tgt_ids):
        raise ValueError(f"{len(labels)} query labels for a target of {len(tgt_ids)} tokens")
    device = next(model.parameters()).device
    src, tgt = (torch.tensor([ids], dtype=torch.long, device=device) for ids in (src_ids, tgt_ids))
    with evaluating(model):
        maps = model.cross_attention_maps(src, tgt)  # (L, 1, nh, Tq, Tk) each
    scores = maps.scores[:, 0].detach().float().cpu()  # (L, nh, Tq, Tk)
    weights = maps.weights[:, 0].detach().float().cpu()
    key_labels = token_labels(tokenizer, src_ids)
    return PromptAttention(tgt_ids, labels, scores, weights, "", key_labels, causal=False)


class HeadView(NamedTuple):
    """Everything the explorer shows for one head and one query, as plain tensors and strings."""

    layer: int
    head: int
    query: int
    temperature: float
    labels: list[str]  # the queries' (rows')
    scores: torch.Tensor  # (Tq, Tk) this head's scaled q.k, before the mask
    masked_scores: torch.Tensor  # (Tq, Tk) the same, with -inf where a query would read the future
    weights: torch.Tensor  # (Tq, Tk) masked_softmax(scores, temperature): rows sum to 1
    top: list[tuple[int, str, float]]  # the keys the query reads most: (position, label, weight)
    title: str
    key_labels: list[str] | None = None  # the keys' (columns'); None: the same as labels
    causal: bool = True  # False: no mask, every key may be read


def head_view(
    scores: torch.Tensor,
    labels: Sequence[str],
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    temperature: float = 1.0,
    top_k: int = 3,
    key_labels: Sequence[str] | None = None,
    causal: bool = True,
) -> HeadView:
    """One head's scores, masked scores and softmax weights (L, nh, Tq, Tk) -> (Tq, Tk), and what
    the query at position `query` (default: the last token) reads most.

    Self-attention by default: the keys are the queries (`labels`), behind a causal mask. For an
    encoder or cross-attention pass causal=False, and the keys' own `key_labels` where they differ.
    """
    if scores.dim() != 4:
        raise ValueError(f"expected (L, nh, Tq, Tk) scores, got shape {tuple(scores.shape)}")
    L, nh, Tq, Tk = scores.shape
    query = Tq - 1 if query is None else query
    for name, value, size in (("layer", layer, L), ("head", head, nh), ("query", query, Tq)):
        if not 0 <= value < size:
            raise ValueError(f"{name}={value} is out of range: this prompt's attention has 0..{size - 1}")
    key_labels = list(labels if key_labels is None else key_labels)
    if len(labels) != Tq or len(key_labels) != Tk:
        raise ValueError(f"{len(labels)} labels for {Tq} queries and {len(key_labels)} for {Tk} keys")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be positive")
    head_scores = scores[layer, head].detach().float().cpu()  # (Tq, Tk)
    mask = causal_mask(Tk)[-Tq:] if causal else torch.ones(Tq, Tk, dtype=torch.bool)
    masked_scores = head_scores.masked_fill(~mask, float("-inf"))
    weights = masked_softmax(head_scores, mask, temperature)  # the library's own softmax
    values, positions = weights[query].topk(min(top_k, int(mask[query].sum())))
    top = [(int(p), key_labels[p], float(v)) for v, p in zip(values, positions, strict=True)]
    reads = ", ".join(f"'{label}' {weight:.2f}" for _, label, weight in top)
    title = f"layer {layer}, head {head}: query '{labels[query]}' (position {query}) reads {reads}"
    if temperature != 1.0:
        title += f" (temperature {temperature:.3g})"
    return HeadView(
        layer, head, query, temperature, list(labels), head_scores, masked_scores, weights, top, title,
        key_labels, causal,
    )  # fmt: skip


class HeadPatterns(NamedTuple):
    """How much weight each head (L, nh) puts, on average over queries 1..T-1, on a kind of key."""

    previous: torch.Tensor  # the token just before the query
    first: torch.Tensor  # the prompt's first token
    itself: torch.Tensor  # the query's own token
    space: torch.Tensor  # tokens that are (or begin with) a space
    newline: torch.Tensor  # tokens that hold a newline

    def strongest(self, pattern: str) -> tuple[int, int, float]:
        """(layer, head, mean weight) of the head that does `pattern` (e.g. "previous") most."""
        values = getattr(self, pattern)
        index = int(values.argmax())
        layer, head = divmod(index, values.size(1))
        return layer, head, values[layer, head].item()

    def table(self, baseline: HeadPatterns | None = None) -> str:
        """A text table, one row per head; `baseline` (e.g. uniform attention) as a last row."""
        header = f"{'':16}" + "".join(f"{name:>10}" for name in self._fields)
        rows = [header]
        L, nh = self.previous.shape
        for layer in range(L):
            for head in range(nh):
                cells = "".join(f"{getattr(self, name)[layer, head].item():>10.2f}" for name in self._fields)
                rows.append(f"{f'layer {layer} head {head}':16}{cells}")
        if baseline is not None:
            cells = "".join(
                f"{getattr(baseline, name).flatten()[0].item():>10.2f}" for name in baseline._fields
            )
            rows.append(f"{'uniform':16}{cells}")
        return "\n".join(rows)


def head_patterns(weights: torch.Tensor, labels: Sequence[str]) -> HeadPatterns:
    """Mean weight on the previous token, the first, itself, spaces and newlines, for every head.

    Position 0 is left out: it can only read itself, which would inflate every head's numbers.
    """
    weights = weights.detach().float().cpu()
    if weights.dim() == 2:
        weights = weights[None, None]
    if weights.dim() == 3:
        weights = weights[None]
    T = weights.size(-1)
    if T < 2 or len(labels) != T:
        raise ValueError(f"need at least 2 tokens and one label per token; got T={T}, {len(labels)} labels")
    later = weights[..., 1:, :]  # (L, nh, T-1, T): queries 1..T-1
    is_space = torch.tensor([label.startswith("␣") for label in labels], dtype=weights.dtype)
    is_newline = torch.tensor(["⏎" in label for label in labels], dtype=weights.dtype)
    return HeadPatterns(
        previous=weights.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1),  # w[t, t-1]
        first=later[..., 0].mean(-1),
        itself=weights.diagonal(dim1=-2, dim2=-1)[..., 1:].mean(-1),
        space=(later * is_space).sum(-1).mean(-1),
        newline=(later * is_newline).sum(-1).mean(-1),
    )


def uniform_attention(T: int) -> torch.Tensor:
    """(T, T) weights of a head that averages its past evenly: the baseline for head_patterns."""
    return masked_softmax(torch.zeros(T, T))


def induction_scores(weights: torch.Tensor, half: int) -> torch.Tensor:
    """(..., nh, T, T) weights over `half` tokens repeated -> (..., nh): the mean weight from each token
    of the repeat to the token after its earlier occurrence (what an induction head reads)."""
    T = weights.size(-1)
    if not 2 <= half <= T - 1:
        raise ValueError(f"half={half} needs a sequence of at least half + 2 tokens; got T={T}")
    earlier = weights.detach().float().diagonal(offset=-(half - 1), dim1=-2, dim2=-1)  # w[t, t - half + 1]
    return earlier[..., 1:].mean(-1)  # queries half..T-1: the repeated tokens


class HeadSnapshot(NamedTuple):
    """A fixed prompt's attention at one point of training, and each head's measured job."""

    step: int  # steps trained so far (0: at initialisation)
    weights: torch.Tensor  # (L, nh, T, T)
    patterns: HeadPatterns
    val_loss: float  # nan at step 0, before any evaluation
