"""Heatmaps of attention weights and the bars of one query: the pictures every view is made of.

Pure functions: tensors in, a matplotlib Figure out. They never call plt.show() or write files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from .labels import emphasize_tick

MASKED_COLOR = "#e4e4e4"  # cells a query may not read (-inf scores) are drawn in light grey


def _as_2d(weights: torch.Tensor) -> torch.Tensor:
    weights = weights.detach().float().cpu()
    while weights.dim() > 2 and weights.size(0) == 1:
        weights = weights[0]
    if weights.dim() != 2:
        raise ValueError(f"expected a (T, T) matrix of weights, got shape {tuple(weights.shape)}")
    return weights


def draw_attention(
    ax: Axes,
    weights: torch.Tensor,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    highlight_query: int | None = None,
    cmap: str | Colormap = "viridis",
    vmin: float | None = 0.0,
    vmax: float | None = None,
    annotate: bool = False,
    fontsize: float = 8,
    key_labels: Sequence[str] | None = None,
) -> None:
    """One (T_query, T_key) heatmap on `ax`: rows are the tokens that read, columns those read.

    `labels` name both (self-attention), or only the rows where `key_labels` name the columns.
    """
    weights = _as_2d(weights)
    Tq, Tk = weights.shape
    finite = weights[torch.isfinite(weights)]
    shown = weights.masked_fill(~torch.isfinite(weights), float("nan"))  # -inf drawn in MASKED_COLOR
    colormap = plt.get_cmap(cmap).with_extremes(bad=MASKED_COLOR)
    ax.imshow(shown.numpy(), cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    _token_ticks(ax, labels, key_labels, Tq, Tk, fontsize)
    if annotate and Tq * Tk <= 144 and finite.numel():
        for i in range(Tq):
            for j in range(Tk):
                value = weights[i, j].item()
                text = "-inf" if value == float("-inf") else f"{value:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=6, color="white")
    if highlight_query is not None:
        linewidth = min(2.0, max(0.8, 40 / Tq))  # thin enough to leave a long prompt's row visible
        ax.add_patch(
            plt.Rectangle(
                (-0.5, highlight_query - 0.5), Tk, 1, fill=False, edgecolor="red", linewidth=linewidth
            )
        )
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_xlabel("key (read from)", fontsize=8)
    ax.set_ylabel("query (reads)", fontsize=8)


def _token_ticks(
    ax: Axes,
    labels: Sequence[str] | None,
    key_labels: Sequence[str] | None,
    Tq: int,
    Tk: int,
    fontsize: float,
) -> None:
    """The queries' labels down the side, the keys' along the bottom (the queries' own by default)."""
    if labels is None:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    keys = labels if key_labels is None else key_labels
    rotation = 90 if max((len(label) for label in keys), default=0) > 1 else 0  # one char: upright
    x_ticks = [(i, label) for i, label in enumerate(keys[-Tk:]) if label]  # "" means no tick
    y_ticks = [(i, label) for i, label in enumerate(labels[-Tq:]) if label]
    ax.set_xticks([i for i, _ in x_ticks], [lab for _, lab in x_ticks], rotation=rotation, fontsize=fontsize)
    ax.set_yticks([i for i, _ in y_ticks], [lab for _, lab in y_ticks], fontsize=fontsize)


def plot_attention(
    weights: torch.Tensor,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    highlight_query: int | None = None,
    annotate: bool = False,
    size: float = 4.5,
    key_labels: Sequence[str] | None = None,
) -> Figure:
    """A heatmap of one head's (Tq, Tk) attention weights, labelled with the tokens (the keys with
    `key_labels` where they are not the queries, as in cross-attention)."""
    fig, ax = plt.subplots(figsize=(size, size), layout="constrained")
    draw_attention(ax, weights, labels, title, highlight_query, annotate=annotate, key_labels=key_labels)
    plt.close(fig)  # returned, not shown: Jupyter displays it when it is a cell's value
    return fig


def plot_heads(
    weights: torch.Tensor,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 2.6,
    highlight: tuple[int, int] | None = None,
    highlight_query: int | None = None,
    key_labels: Sequence[str] | None = None,
) -> Figure:
    """Small heatmaps side by side: (nh, Tq, Tk) is one layer's heads; (L, nh, Tq, Tk) a grid.

    `highlight=(layer, head)` frames one head in red; `highlight_query` outlines that row in each.
    """
    weights = weights.detach().float().cpu()
    if weights.dim() == 3:
        weights = weights[None]
    if weights.dim() != 4:
        raise ValueError(f"expected (nh, T, T) or (L, nh, T, T) weights, got {tuple(weights.shape)}")
    L, nh = weights.shape[:2]
    fig, axes = plt.subplots(L, nh, figsize=(size * nh, size * L), squeeze=False, layout="constrained")
    show_labels = labels is not None and weights.size(-1) <= 24
    for layer in range(L):
        for head in range(nh):
            ax = axes[layer][head]
            draw_attention(
                ax, weights[layer, head], labels if show_labels else None,
                f"layer {layer} head {head}" if L > 1 else f"head {head}",
                highlight_query=highlight_query, key_labels=key_labels,
            )  # fmt: skip
            ax.set_xlabel("")
            ax.set_ylabel("")
            if highlight is not None and (layer, head) == tuple(highlight):
                for spine in ax.spines.values():
                    spine.set(edgecolor="red", linewidth=3)
                ax.title.set(color="red", fontweight="bold")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def plot_softmax_scales(scores: torch.Tensor, scales: Sequence[float] = (0.5, 1.0, 2.0, 8.0)) -> Figure:
    """softmax(scale * scores) as bars for each scale: the larger the scale, the closer to one-hot."""
    scores = scores.detach().float().cpu().flatten()
    fig, axes = plt.subplots(
        1, len(scales), figsize=(3 * len(scales), 2.8), sharey=True, layout="constrained"
    )
    axes = [axes] if len(scales) == 1 else list(axes)
    for ax, scale in zip(axes, scales, strict=True):
        probs = torch.softmax(scores * scale, dim=-1)
        ax.bar(range(len(probs)), probs.numpy(), color="C0")
        ax.set_title(f"softmax({scale:g} x scores)\nmax {probs.max().item():.2f}", fontsize=9)
        ax.set_xlabel("position")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("weight")
    plt.close(fig)
    return fig


def draw_query_bars(
    ax: Axes,
    weights: torch.Tensor,
    labels: Sequence[str],
    query: int,
    top: Sequence[int] = (),
    fontsize: float = 8,
    query_label: str | None = None,
    causal: bool = True,
) -> None:
    """The query's row of weights as bars over the tokens it may read; `top` positions in red.

    `labels` are the keys'; `query_label` names the query where it is not a key (cross-attention).
    Causal: the keys after the query are shaded (masked); otherwise every key may be read.
    """
    weights = weights.detach().float().cpu().flatten()
    T = len(weights)
    query_label = labels[query] if query_label is None else query_label
    colors = ["C3" if position in top else "C0" for position in range(T)]
    ax.bar(range(T), weights.numpy(), color=colors, width=0.8)
    if causal and query < T - 1:  # the positions after the query: the causal mask gives them weight 0
        ax.axvspan(query + 0.5, T - 0.5, color=MASKED_COLOR, zorder=0)
        ax.text((query + T) / 2, 0.95, "future: masked", ha="center", va="top", fontsize=8, color="0.35")
    for position in top:
        value = weights[position].item()
        inside = value > 0.8  # a label above a tall bar would leave the axes: write it inside
        ax.text(
            position, value - 0.02 if inside else value + 0.02, f"{value:.2f}", ha="center",
            va="top" if inside else "bottom", fontsize=7, color="white" if inside else "black",
            rotation=90 if T > 32 else 0,  # upright labels of neighbouring bars would overlap
        )  # fmt: skip
    rotation = 90 if max(len(label) for label in labels) > 1 else 0
    ticks = [(i, label) for i, label in enumerate(labels) if label]  # "" means no tick
    ax.set_xticks([i for i, _ in ticks], [lab for _, lab in ticks], fontsize=fontsize, rotation=rotation)
    if causal:  # the query is one of the keys: its own position
        emphasize_tick(ax.xaxis, query)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"what query '{query_label}' (position {query}) reads", fontsize=10)


def figure_png(fig: Figure, dpi: float = 96) -> bytes:
    """The figure as PNG bytes, for an ipywidgets Image (no display machinery needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---- notebook 08: ablations, knock-outs, heads forming, induction, sampling knobs ----------------
