"""Pictures of the embedding tables and of a forward trace. Pure functions: numbers in
(analysis/embeddings.py, analysis/trace.py), a matplotlib Figure out.

Each character class has a colour of Okabe and Ito's palette and a marker shape of its own, so the
classes part without colour; the similarity heatmap uses PuOr, a diverging map safe for colour-blind
readers.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..analysis.embeddings import CHARACTER_CLASSES, TokenMap
from ..analysis.trace import ForwardTrace

_CLASS_STYLE = {  # class: (Okabe-Ito colour, marker)
    "vowel": ("#D55E00", "o"),
    "consonant": ("#0072B2", "s"),
    "capital": ("#009E73", "^"),
    "digit": ("#CC79A7", "D"),
    "punctuation": ("#E69F00", "P"),
    "whitespace": ("#000000", "X"),
}
_SIMILARITY_COLORMAP = "PuOr"


def plot_token_map(
    token_map: TokenMap, x: int = 0, y: int = 1, annotate: bool | None = None, highlight: str | None = None
) -> Figure:
    """Every token at its coordinates on components x and y, coloured and shaped by its class. Tokens
    are written in where there are few (a character vocabulary); `highlight` fades the other classes."""
    k = token_map.coords.size(1)
    if not (0 <= x < k and 0 <= y < k):
        raise ValueError(f"components x={x}, y={y}: this map has components 0..{k - 1}")
    annotate = len(token_map.labels) <= 200 if annotate is None else annotate
    fig, ax = plt.subplots(figsize=(6.2, 5.0), layout="constrained")
    coords = token_map.coords
    for name in CHARACTER_CLASSES:
        rows = [i for i, c in enumerate(token_map.classes) if c == name]
        if not rows:
            continue
        color, marker = _CLASS_STYLE[name]
        faded = highlight is not None and highlight != name
        ax.scatter(
            coords[rows, x],
            coords[rows, y],
            c=color,
            marker=marker,
            s=28 if annotate else 4,
            alpha=0.15 if faded else 0.85,
            label=f"{name} ({len(rows)})",
        )
        if annotate and not faded:
            for i in rows:
                ax.annotate(
                    token_map.labels[i],
                    (coords[i, x].item(), coords[i, y].item()),
                    fontsize=7,
                    xytext=(3, 2),
                    textcoords="offset points",
                )
    shares = token_map.explained
    ax.set_xlabel(f"component {x} ({shares[x].item():.0%} of the variance)", fontsize=8)
    ax.set_ylabel(f"component {y} ({shares[y].item():.0%} of the variance)", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("the token embeddings, projected on two principal components", fontsize=9)
    plt.close(fig)
    return fig


def plot_position_similarity(similarity: torch.Tensor, title: str = "") -> Figure:
    """(T, T) cosine similarity of the position vectors: a bright diagonal band is a table in which
    nearby positions look alike."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    image = ax.imshow(similarity.numpy(), cmap=_SIMILARITY_COLORMAP, vmin=-1, vmax=1)
    ax.set_xlabel("position", fontsize=8)
    ax.set_ylabel("position", fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.85).set_label("cosine similarity", fontsize=8)
    ax.set_title(title or "how alike the position vectors are", fontsize=9)
    plt.close(fig)
    return fig


def _as_rows(tensor: torch.Tensor) -> torch.Tensor:
    """A traced tensor as a picture: one row per position where it has positions, its batch of one
    dropped: (1, T) -> (T, 1), (1, T, C) -> (T, C), (1, nh, T, X) -> (T, nh * X)."""
    t = tensor.detach().float()
    if t.dim() >= 1 and t.size(0) == 1:
        t = t[0]
    if t.dim() == 1:
        return t[:, None]
    if t.dim() == 3:  # (nh, T, X): the heads side by side
        return t.transpose(0, 1).reshape(t.size(1), -1)
    return t.reshape(t.size(0), -1)


def plot_trace_step(trace: ForwardTrace, name: str) -> Figure:
    """One step of the trace as a heatmap: a row per position, a column per number (heads side by side)."""
    step = trace.step(name)
    values = _as_rows(step.tensor)
    fig, ax = plt.subplots(figsize=(6.4, min(7.0, 0.12 * values.size(0) + 1.6)), layout="constrained")
    image = ax.imshow(values.numpy(), cmap="cividis", aspect="auto", interpolation="nearest")
    labels = trace.prompt.labels
    if values.size(0) == len(labels):
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel(f"{values.size(1):,} numbers per row", fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.9)
    ax.set_title(f"{step.name} {step.shape}: {step.what}", fontsize=9)
    plt.close(fig)
    return fig


def plot_trace(trace: ForwardTrace) -> Figure:
    """How many numbers each step of the forward pass holds (log scale), its shape written beside it."""
    steps = trace.steps
    fig, ax = plt.subplots(figsize=(7.0, 0.22 * len(steps) + 1.2), layout="constrained")
    ys = list(range(len(steps)))
    ax.barh(ys, [s.size for s in steps], color="#0072B2")
    ax.set_xscale("log")
    for y, s in zip(ys, steps, strict=True):
        ax.text(s.size * 1.15, y, str(s.shape), va="center", fontsize=7)
    ax.set_yticks(ys, [s.name for s in steps], fontsize=7)
    ax.invert_yaxis()  # first step at the top
    largest = max(s.size for s in steps)
    ax.set_xlim(0.8, largest * 10 ** max(1.0, math.log10(largest) / 4))  # room for the shapes
    ax.set_xlabel("numbers in the step (log scale)", fontsize=8)
    ax.set_title(f"one forward pass over {len(trace.prompt.ids)} tokens, step by step", fontsize=9)
    plt.close(fig)
    return fig
