"""A prompt's heads at once, one head's view of three maps, the alignment, and what heads are worth.

Pure functions: tensors in, a matplotlib Figure out. They never call plt.show() or write files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.attention_maps import HeadView, PromptAttention
from ..nn.attention import masked_softmax
from .heatmaps import draw_attention, draw_query_bars, plot_heads
from .labels import emphasize_tick, short_label, thin_labels


def _draw_three_heatmaps(
    axes: tuple[Axes, Axes, Axes],
    view: HeadView,
    limit: float,
    masked_title: str,
    heatmap_args: dict[str, Any],
) -> None:
    """plot_head_view's heatmaps: raw scores, masked scores, softmax weights, sharing one row of labels."""
    raw_ax, masked_ax, weights_ax = axes
    draw_attention(
        raw_ax, view.scores, title="scores q·k/√hs", cmap="RdBu_r", vmin=-limit, vmax=limit, **heatmap_args
    )
    draw_attention(
        masked_ax, view.masked_scores, title=masked_title, cmap="RdBu_r",
        vmin=-limit, vmax=limit, **heatmap_args,
    )  # fmt: skip
    draw_attention(
        weights_ax, view.weights, title=f"softmax weights (temperature {view.temperature:.3g})",
        vmin=0.0, vmax=1.0, **heatmap_args,
    )  # fmt: skip
    for ax in (masked_ax, weights_ax):  # same rows as the first heatmap: its labels serve all three
        ax.set_ylabel("")
        ax.tick_params(labelleft=False)
    emphasize_tick(raw_ax.yaxis, view.query)  # the query's row


def plot_head_view(view: HeadView, width: float = 10.0, title: bool = True) -> Figure:
    """Raw scores, masked scores and softmax weights of one head (the query's row outlined in red),
    and the query's weights as bars. `title=False` leaves out view.title (the explorer shows it above).

    Laid out by hand (no constrained layout): the explorer redraws this at every slider move.
    """
    key_labels = view.labels if view.key_labels is None else view.key_labels
    wide = max(len(label) for label in key_labels) > 1  # GPT-2 pieces: rotated, longer tick labels
    left, gap, colorbar_room = 0.75, 0.25, 0.9  # inches
    side = (width - left - gap - 2 * colorbar_room) / 3  # each heatmap is side x side inches
    below = 0.95 if wide else 0.55  # room for the key labels and axis label under the heatmaps
    bars_height, bars_below = 1.35, 0.75 if wide else 0.4
    top = 0.5 if title else 0.1  # room for the suptitle
    height = top + 0.25 + side + below + 0.3 + bars_height + bars_below

    def rect(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:  # in -> fractions
        return (x / width, y / height, w / width, h / height)

    fig = plt.figure(figsize=(width, height))
    heat_y = height - top - 0.25 - side
    xs = (left, left + side + gap, left + 2 * side + gap + colorbar_room)
    raw_ax, masked_ax, weights_ax = (fig.add_axes(rect(x, heat_y, side, side)) for x in xs)
    bars_ax = fig.add_axes(rect(left, bars_below, width - left - 0.3, bars_height))
    labels, fontsize = thin_labels([short_label(label) for label in view.labels], side, keep=view.query)
    keep = view.query if view.causal else None  # the query's own column, where it is a key
    keys, key_fontsize = thin_labels([short_label(label) for label in key_labels], side, keep=keep)
    fontsize = min(fontsize, key_fontsize)
    finite = view.scores[torch.isfinite(view.scores)]
    limit = finite.abs().max().item() if finite.numel() else 1.0
    limit = limit or 1.0  # all-zero scores still get a colour scale
    heatmap_args: dict[str, Any] = dict(
        labels=labels, key_labels=keys, highlight_query=view.query, fontsize=fontsize
    )  # the same in all 3
    masked_title = "after the causal mask (future: −∞)" if view.causal else "no mask: every key is read"
    _draw_three_heatmaps((raw_ax, masked_ax, weights_ax), view, limit, masked_title, heatmap_args)
    for x, ax, name in ((xs[1], masked_ax, "score"), (xs[2], weights_ax, "weight")):  # the colour scales
        bar = fig.add_axes(rect(x + side + 0.1, heat_y + 0.1 * side, 0.12, 0.8 * side))
        fig.colorbar(ax.images[0], cax=bar).set_label(name, fontsize=8)
        bar.tick_params(labelsize=7)
    top_positions = [position for position, _, _ in view.top]
    bar_labels, bar_fontsize = thin_labels(key_labels, width - left - 0.3, keep=keep)
    draw_query_bars(
        bars_ax, view.weights[view.query], bar_labels, view.query, top_positions, bar_fontsize,
        query_label=view.labels[view.query], causal=view.causal,
    )  # fmt: skip
    if title:
        fig.suptitle(view.title, fontsize=11, y=1 - 0.12 / height, va="top")
    plt.close(fig)
    return fig


def plot_prompt_heads(
    prompt: PromptAttention,
    temperature: float = 1.0,
    highlight: tuple[int, int] | None = None,
    highlight_query: int | None = None,
    size: float = 2.4,
    title: bool = True,
) -> Figure:
    """Every layer's heads over the prompt, at `temperature`: the explorer's "all heads" view."""
    if prompt.causal:
        weights = masked_softmax(prompt.scores, temperature=temperature)  # (L, nh, T, T)
    else:  # an encoder or cross-attention: no mask
        weights = torch.softmax(prompt.scores / temperature, dim=-1)  # (L, nh, Tq, Tk)
    return plot_heads(
        weights,
        prompt.labels,
        prompt_heads_title(prompt, temperature, highlight, highlight_query) if title else None,
        size,
        highlight,
        highlight_query,
        prompt.key_labels,
    )


def prompt_heads_title(
    prompt: PromptAttention,
    temperature: float = 1.0,
    highlight: tuple[int, int] | None = None,
    highlight_query: int | None = None,
) -> str:
    """What plot_prompt_heads shows, in words."""
    title = "every head's softmax weights"
    if temperature != 1:
        title += f" at temperature {temperature:.3g}"
    if highlight is not None:
        title += f"; layer {highlight[0]}, head {highlight[1]} framed in red"
    if highlight_query is not None:
        title += f"; query '{prompt.labels[highlight_query]}' (position {highlight_query}) outlined"
    return title


def plot_alignment(prompts: Sequence[PromptAttention], layer: int = -1, size: float = 3.6) -> Figure:
    """Cross-attention as an alignment: for each prompt (cross_prompt_attention), one layer's
    weights averaged over its heads, rows (what the decoder writes) against the source's tokens."""
    fig, axes = plt.subplots(
        1, len(prompts), figsize=(size * len(prompts), size), squeeze=False, layout="constrained"
    )
    for ax, prompt in zip(axes[0], prompts, strict=True):
        weights = prompt.weights[layer].mean(0)  # (Tq, Tk): the heads' average
        draw_attention(ax, weights, prompt.labels, key_labels=prompt.key_labels, vmin=0.0, vmax=1.0)
        source = "".join(prompt.key_labels or prompt.labels)
        n_layer = prompt.weights.size(0)
        ax.set_title(f"'{source}': layer {layer % n_layer}, mean of the heads", fontsize=10)
        ax.set_xlabel("source (read from)", fontsize=8)
        ax.set_ylabel("target (written)", fontsize=8)
    fig.colorbar(axes[0][-1].images[0], ax=axes[0].tolist(), shrink=0.8, label="weight")
    plt.close(fig)
    return fig


def plot_head_scores(
    values: torch.Tensor, title: str, label: str = "loss increase", fmt: str = "{:+.2f}"
) -> Figure:
    """One number per head, (L, nh), as a layer x head heatmap with the numbers written in."""
    values = values.detach().float().cpu()
    L, nh = values.shape
    fig, ax = plt.subplots(figsize=(1.1 * nh + 2.2, 0.8 * L + 1.4), layout="constrained")
    image = ax.imshow(values.numpy(), cmap="Reds", aspect="auto")
    for layer in range(L):
        for head in range(nh):
            value = values[layer, head].item()
            dark = value > values.min().item() + 0.6 * (values.max().item() - values.min().item())
            ax.text(head, layer, fmt.format(value), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(nh), [f"head {h}" for h in range(nh)])
    ax.set_yticks(range(L), [f"layer {layer}" for layer in range(L)])
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax).set_label(label, fontsize=8)
    plt.close(fig)
    return fig


def plot_next_token(
    distributions: Mapping[str, torch.Tensor],
    labels: Sequence[str] | Mapping[int, str],
    top: int = 8,
    title: str = "",
) -> Figure:
    """Bars of the likeliest next tokens under each distribution (V,), side by side: the first
    distribution's `top` tokens, and any other's that are not among them. `labels[id]` names a token."""
    names = list(distributions)
    probs = [distributions[name].detach().float().cpu() for name in names]
    tokens: list[int] = []
    for p in probs:
        tokens += [t for t in p.topk(min(top, p.numel())).indices.tolist() if t not in tokens]
    tokens = sorted(tokens[: top + 4], key=lambda t: -probs[0][t].item())
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(tokens) + 1.5), 2.8), layout="constrained")
    for i, (name, p) in enumerate(zip(names, probs, strict=True)):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(tokens))]
        ax.bar(xs, [p[t].item() for t in tokens], width=width, color=f"C{i}", label=name)
    ax.set_xticks(range(len(tokens)), [labels[t] for t in tokens], fontsize=9)
    ax.set_ylabel("probability", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    plt.close(fig)
    return fig
