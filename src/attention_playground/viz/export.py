"""The attention explorer as one HTML file: every layer's and head's weights over a prompt, stored in
the page, with layer, head, query and temperature sliders in plain JavaScript. It needs no Python,
no kernel and no network: open it in any browser, or send it to someone.

The weights are the model's own (prompt_attention's `weights`), stored as -ln(weight) in steps of
1/1024 (uint16, little-endian, base64): each weight to within 0.05% of itself, and the temperature
slider is exact because softmax(ln(w) / t) is softmax(scores / t). A causal prompt stores only the
keys each query may read (the lower triangle).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..analysis.attention_maps import PromptAttention, head_view, prompt_attention
from ..data.tokenizers import Tokenizer
from ..files import atomic_write
from ..nn.base import LanguageModel

LOG_STEP = 1024  # stored value = round(-ln(weight) * LOG_STEP)
LOG_MAX = 65535  # uint16: weights below e**(-64) are stored as e**(-64)
COLORMAP_STOPS = 32
TEMPLATE = "explorer_template.html"
DATA_MARK = "/*EXPLORER_DATA*/"  # where the template takes its JSON


def _key_counts(prompt: PromptAttention) -> list[int]:
    """How many keys each query may read: all of them, or (causal) those up to its own position."""
    Tq, Tk = prompt.weights.shape[-2:]
    return [Tk - Tq + q + 1 if prompt.causal else Tk for q in range(Tq)]


def encode_weights(prompt: PromptAttention) -> bytes:
    """(L, nh, Tq, Tk) weights -> uint16 little-endian -ln(w) * LOG_STEP, layer by head by query by key;
    a causal prompt keeps each query's first _key_counts()[q] keys."""
    weights = prompt.weights.detach().double().cpu()
    counts = _key_counts(prompt)
    rows = torch.cat([weights[:, :, q, :n] for q, n in enumerate(counts)], dim=-1)  # (L, nh, sum n)
    logs = (-rows.clamp_min(1e-300).log() * LOG_STEP).round().clamp(0, LOG_MAX)
    return logs.to(torch.int32).numpy().astype("<u2").tobytes()


def decode_weights(data: bytes, shape: tuple[int, int, int, int], causal: bool) -> torch.Tensor:
    """encode_weights' bytes back to (L, nh, Tq, Tk) weights, 0 where a query may not read."""
    import numpy as np

    L, nh, Tq, Tk = shape
    counts = [Tk - Tq + q + 1 if causal else Tk for q in range(Tq)]
    logs = torch.from_numpy(np.frombuffer(data, dtype="<u2").astype("float64"))
    stored = torch.exp(-logs / LOG_STEP).reshape(L, nh, sum(counts))
    weights = torch.zeros(L, nh, Tq, Tk, dtype=torch.float64)
    start = 0
    for q, n in enumerate(counts):
        weights[:, :, q, :n] = stored[:, :, start : start + n]
        start += n
    return weights


def _colormap(name: str) -> list[str]:
    """A matplotlib colour map sampled into a small table of hex colours (viridis: safe for
    colour-blind readers, and readable in grey)."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    stops = [cmap(i / (COLORMAP_STOPS - 1)) for i in range(COLORMAP_STOPS)]
    return ["#" + "".join(f"{round(c * 255):02x}" for c in rgba[:3]) for rgba in stops]


def explorer_data(
    prompt: PromptAttention, layer: int = 0, head: int = 0, query: int | None = None, title: str = ""
) -> dict[str, Any]:
    """What the page's JavaScript reads: the labels, the shape, where the sliders start, the weights."""
    L, nh, Tq, Tk = prompt.weights.shape
    query = Tq - 1 if query is None else query
    head_view(
        prompt.scores, prompt.labels, layer, head, query, key_labels=prompt.key_labels, causal=prompt.causal
    )  # a clear error for a layer, head or query out of range
    return {
        "title": title,
        "note": prompt.note,
        "labels": list(prompt.labels),
        "key_labels": list(prompt.labels if prompt.key_labels is None else prompt.key_labels),
        "causal": prompt.causal,
        "shape": [L, nh, Tq, Tk],
        "start": {"layer": layer, "head": head, "query": query},
        "log_step": LOG_STEP,
        "weights": base64.b64encode(encode_weights(prompt)).decode("ascii"),
        "colormap": _colormap("viridis"),
    }


def explorer_html(
    prompt: PromptAttention, layer: int = 0, head: int = 0, query: int | None = None, title: str = ""
) -> str:
    """The explorer page for `prompt` as one string of HTML (nothing in it loads from elsewhere)."""
    data = explorer_data(prompt, layer, head, query, title)
    template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    # "</" inside a <script> would end it early: JSON allows the escaped form
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    page_title = html.escape(title or "Attention explorer")
    return template.replace("<!--TITLE-->", page_title).replace(DATA_MARK, payload)


def describe_model(model: LanguageModel) -> str:
    """'GPT: 2 layers, 4 heads, 64 channels, block 64', from what the model's config says."""
    config = getattr(model, "config", None)
    sizes = {"n_layer": "{} layers", "n_head": "{} heads", "n_embd": "{} channels", "block_size": "block {}"}
    found = [words.format(getattr(config, field)) for field, words in sizes.items() if hasattr(config, field)]
    return ": ".join([type(model).__name__, ", ".join(found)] if found else [type(model).__name__])


def export_explorer(
    model: LanguageModel,
    tokenizer: Tokenizer,
    prompt: str,
    path: str | os.PathLike,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    title: str | None = None,
) -> Path:
    """Write the explorer of `model`'s attention over `prompt` to `path`, one self-contained HTML file
    (about 50 KB for 2 layers of 4 heads over 60 tokens); return the path.

    The sliders start at `layer`, `head` and `query` (default: the last token). The page has no
    model in it: no typed prompts and no knock-out, only the weights the model computed here.
    """
    _check_suffix(path)
    attention = prompt_attention(model, tokenizer, prompt)
    if title is None:
        title = f"Attention explorer: {describe_model(model)}"
    return export_prompt_attention(attention, path, layer, head, query, title)


def export_prompt_attention(
    attention: PromptAttention,
    path: str | os.PathLike,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    title: str = "",
) -> Path:
    """export_explorer for attention already computed: prompt_attention's or cross_prompt_attention's."""
    path = _check_suffix(path)
    page = explorer_html(attention, layer, head, query, title)
    with atomic_write(path) as f:  # a half-written page never replaces a good one
        f.write(page.encode("utf-8"))
    return path


def _check_suffix(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{path} does not end in .html: name the explorer's file something.html")
    return path


def stored_precision(weight: float) -> float:
    """The largest difference between a weight and what the page stores for it (for tests and notes)."""
    return weight * (math.exp(0.5 / LOG_STEP) - 1) + 1e-12
