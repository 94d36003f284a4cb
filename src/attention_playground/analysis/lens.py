"""Where the answer comes from: the logit lens and direct logit attribution.

Both read the residual stream of a pre-norm GPT, recorded by hooks while the model runs:
- the logit lens puts the stream after each block through the model's own final LayerNorm and output
  layer, as if the model stopped there: what each layer would predict;
- direct logit attribution splits the logit of one next token into what each head, each feed-forward
  layer and the embeddings wrote, through the final LayerNorm with its scale frozen at the one the
  model used (LayerNorm is linear once its scale is fixed): the parts add up to the logit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.tokenizers import Tokenizer, token_labels
from ..nn.base import LanguageModel, evaluating, uncompiled
from .prediction import Prompt, model_blocks, read_prompt


@contextlib.contextmanager
def _hooks(*handles: torch.utils.hooks.RemovableHandle) -> Iterator[None]:
    """Remove the hooks when the block ends, even on an error."""
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class LogitLens(NamedTuple):
    """Each layer's guess at every position: rows "embeddings", "block 0", ..., the last block."""

    prompt: Prompt
    layers: list[str]
    logits: torch.Tensor  # (L + 1, T, V) ln_f and lm_head applied to the stream after each layer
    top_ids: torch.Tensor  # (L + 1, T) each layer's likeliest next token
    top_probs: torch.Tensor  # (L + 1, T) its probability
    final_ids: torch.Tensor  # (T,) the model's own prediction (the last row's top_ids)
    final_probs: torch.Tensor  # (L + 1, T) the probability each layer gives the model's prediction
    guesses: list[list[str]]  # (L + 1) x T labels of top_ids

    def settles_at(self, position: int = -1) -> int:
        """The first row from which every later layer's top guess is the model's final one."""
        on_top = (self.top_ids[:, position] == self.final_ids[position]).tolist()
        row = len(on_top) - 1
        while row > 0 and on_top[row - 1]:
            row -= 1
        return row


def _residuals(model: Any, idx: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The residual stream (T, C) entering the first block and after each block, and the logits."""
    blocks = model_blocks(model, "logit lens")
    stream: list[torch.Tensor] = []
    first = blocks[0].register_forward_pre_hook(lambda module, args: stream.append(args[0][0]))
    after = [b.register_forward_hook(lambda module, args, out: stream.append(out[0])) for b in blocks]
    with _hooks(first, *after):
        logits, _ = model(idx)  # (1, T, V)
    return stream, logits[0]


@torch.no_grad()
def logit_lens(model: LanguageModel, tokenizer: Tokenizer, text: str | Sequence[int]) -> LogitLens:
    """What the model would predict after each layer, at every position of `text` (in eval mode)."""
    net: Any = uncompiled(model)
    prompt = read_prompt(net, tokenizer, text)
    with evaluating(net):
        stream, output = _residuals(net, prompt.idx)
        logits = torch.stack([net.lm_head(net.ln_f(x)) for x in stream]).float().cpu()  # (L+1, T, V)
    probs = logits.softmax(-1)
    top_probs, top_ids = probs.max(-1)  # (L + 1, T)
    final_ids = output.float().argmax(-1).cpu()  # (T,) the model's own prediction
    final_probs = probs.gather(-1, final_ids.expand(len(stream), -1)[..., None])[..., 0]
    layers = ["embeddings", *[f"block {i}" for i in range(len(stream) - 1)]]
    guesses = [token_labels(tokenizer, row.tolist()) for row in top_ids]
    return LogitLens(prompt, layers, logits, top_ids, top_probs, final_ids, final_probs, guesses)


class Attribution(NamedTuple):
    """One next token's logit, split into what each part of the model wrote to the residual stream."""

    prompt: Prompt
    position: int  # the position whose next token it is
    token: int
    label: str
    names: list[str]  # "embeddings", "L0 H0", ..., "L0 ffwd", ..., "biases"
    values: torch.Tensor  # (parts,) each part's share of the logit
    logit: float  # the model's own logit for the token

    @property
    def total(self) -> float:
        """The shares added up: the logit, up to rounding."""
        return self.values.sum().item()

    def largest(self, n: int = 3) -> list[tuple[str, float]]:
        """The n parts with the largest share, in either direction: (name, share)."""
        order = self.values.abs().argsort(descending=True)[:n].tolist()
        return [(self.names[i], self.values[i].item()) for i in order]


def _check_residual(model: Any) -> None:
    config = getattr(model, "config", None)
    if config is not None and (config.norm != "pre" or not config.residual):
        raise ValueError(
            f"attribution splits a pre-norm residual stream; this model has norm={config.norm!r}, "
            f"residual={config.residual}: use the lecture's (norm='pre', residual=True)"
        )
    if not isinstance(model.ln_f, nn.LayerNorm):
        raise ValueError("attribution goes through the final LayerNorm, and this model has none")


def _writes(model: Any, idx: torch.Tensor) -> tuple[dict[str, list[torch.Tensor]], torch.Tensor]:
    """What each part wrote (B, T, C): the embeddings, each attention's heads side by side (the input of
    its output projection), each feed-forward; the stream entering ln_f; and the logits (1, T, V)."""
    blocks = model_blocks(model, "attribution")
    kept: dict[str, list[torch.Tensor]] = {"embeddings": [], "heads": [], "ffwd": [], "final": []}
    handles = [blocks[0].register_forward_pre_hook(lambda m, args: kept["embeddings"].append(args[0]))]
    handles += [
        b.attn.proj.register_forward_pre_hook(lambda m, args: kept["heads"].append(args[0])) for b in blocks
    ]
    handles += [
        b.ffwd.register_forward_hook(lambda m, args, out: kept["ffwd"].append(out))
        for b in blocks
        if getattr(b, "ffwd", None) is not None
    ]
    handles.append(model.ln_f.register_forward_pre_hook(lambda m, args: kept["final"].append(args[0])))
    with _hooks(*handles):
        logits, _ = model(idx)
    return kept, logits


def _parts(model: Any, kept: dict, position: int) -> tuple[list[str], list[torch.Tensor]]:
    """Each part's write at `position`, (C,): the embeddings, every head, every feed-forward, and the
    attention layers' output biases."""
    blocks = model_blocks(model, "attribution")
    names, writes = ["embeddings"], [kept["embeddings"][0][0, position]]
    bias = torch.zeros_like(writes[0])
    ffwd = iter(kept["ffwd"])
    for i, (block, heads) in enumerate(zip(blocks, kept["heads"], strict=True)):
        proj, hs = block.attn.proj, block.attn.n_embd // block.attn.n_head
        for h in range(block.attn.n_head):
            part = slice(h * hs, (h + 1) * hs)  # head h's channels of the concatenated heads
            names.append(f"L{i} H{h}")
            writes.append(heads[0, position, part] @ proj.weight[:, part].T)  # (C,)
        if proj.bias is not None:
            bias = bias + proj.bias
        if getattr(block, "ffwd", None) is not None:
            names.append(f"L{i} ffwd")
            writes.append(next(ffwd)[0, position])
    return names, writes + [bias]


@torch.no_grad()
def direct_logit_attribution(
    model: LanguageModel,
    tokenizer: Tokenizer,
    text: str | Sequence[int],
    token: int | None = None,
    position: int = -1,
) -> Attribution:
    """How much each head, each feed-forward and the embeddings add to the logit of `token` (default:
    the model's own prediction) after `position` of `text`, through ln_f with its scale frozen.

    share(part) = centred(part) · (W_U[token] * ln_f.weight / scale): the parts, plus the biases (the
    attention layers' output biases, ln_f's and lm_head's), add up to the model's logit.
    """
    net: Any = uncompiled(model)
    model_blocks(net, "attribution")
    _check_residual(net)
    prompt = read_prompt(net, tokenizer, text)
    position = _check_position(position, len(prompt.ids))
    with evaluating(net):
        kept, logits = _writes(net, prompt.idx)
        token = int(logits[0, position].argmax()) if token is None else _check_token(token, logits.size(-1))
        ln = net.ln_f
        final = kept["final"][0][0, position]  # (C,) the stream ln_f normalised
        scale = (final.var(unbiased=False) + ln.eps).sqrt()  # frozen: LayerNorm is then linear
        direction = net.lm_head.weight[token] * ln.weight / scale  # (C,)
        names, writes = _parts(net, kept, position)
        values = [((w - w.mean()) * direction).sum() for w in writes]  # LayerNorm centres each part
        values[-1] = values[-1] + _output_bias(net, token)
    names.append("biases")
    label = token_labels(tokenizer, [token])[0]
    logit = logits[0, position, token].item()
    return Attribution(prompt, position, token, label, names, torch.stack(values).float().cpu(), logit)


def _check_position(position: int, T: int) -> int:
    if not -T <= position < T:
        raise ValueError(f"position={position} is out of range: the prompt has positions 0..{T - 1}")
    return position % T


def _check_token(token: int, V: int) -> int:
    if not 0 <= token < V:
        raise ValueError(f"token={token} is outside the model's vocabulary (0..{V - 1})")
    return token


def _output_bias(model: Any, token: int) -> torch.Tensor:
    """ln_f's bias read by the output layer, and the output layer's own bias, for `token`."""
    total = torch.zeros((), device=model.lm_head.weight.device)
    if model.ln_f.bias is not None:
        total = total + model.lm_head.weight[token] @ model.ln_f.bias
    if model.lm_head.bias is not None:
        total = total + model.lm_head.bias[token]
    return total
