"""Pictures of attention and training. Pure functions: tensors in, a matplotlib Figure out.

They never call plt.show() or write files: the notebook (or the caller) decides what to show.
The numbers they draw come from analysis.py; explorers.py redraws them when a slider moves.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..analysis.attention_maps import HeadSnapshot, HeadView, PromptAttention
from ..nn.attention import masked_softmax
from ..training.history import History

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
    if labels is not None:
        keys = labels if key_labels is None else key_labels
        rotation = 90 if max((len(label) for label in keys), default=0) > 1 else 0  # one char: upright
        x_ticks = [(i, label) for i, label in enumerate(keys[-Tk:]) if label]  # "" means no tick
        y_ticks = [(i, label) for i, label in enumerate(labels[-Tq:]) if label]
        ax.set_xticks(
            [i for i, _ in x_ticks], [lab for _, lab in x_ticks], rotation=rotation, fontsize=fontsize
        )
        ax.set_yticks([i for i, _ in y_ticks], [lab for _, lab in y_ticks], fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
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


def plot_loss_curves(histories: History | Mapping[str, History], title: str = "loss") -> Figure:
    """Training loss per step (faint) and the train/val estimates (lines), one colour per run."""
    if isinstance(histories, History):
        histories = {"": histories}
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for i, (name, history) in enumerate(histories.items()):
        color = f"C{i}"
        prefix = f"{name} " if name else ""
        ax.plot(history.step_losses, color=color, alpha=0.25, linewidth=0.8)
        steps = [s + 1 for s in history.eval_steps]
        ax.plot(steps, history.train_loss, color=color, linestyle="--", label=f"{prefix}train")
        ax.plot(steps, history.val_loss, color=color, marker="o", label=f"{prefix}val")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
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


def _thin_labels(
    labels: Sequence[str], side_inches: float, keep: int | None = None
) -> tuple[list[str], float]:
    """Tick labels that fit along a side: a font size, and every k-th label (and `keep`) when crowded."""
    slot = 0.9 * side_inches * 72 / max(len(labels), 1)  # points available per token
    fontsize = min(8.0, slot)
    if fontsize >= 5:
        return list(labels), fontsize
    step = math.ceil(5 / slot)
    shown = [label if i % step == 0 or i == keep else "" for i, label in enumerate(labels)]
    return shown, 5.0


def _emphasize_tick(axis: Any, position: int) -> None:
    """Red bold tick label at `position` (the query), where there is one."""
    for tick_position, label in zip(axis.get_ticklocs(), axis.get_ticklabels(), strict=True):
        if tick_position == position:
            label.set(color="C3", fontweight="bold")


def _short(label: str, limit: int = 8) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


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
        _emphasize_tick(ax.xaxis, query)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"what query '{query_label}' (position {query}) reads", fontsize=10)


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
    _emphasize_tick(raw_ax.yaxis, view.query)  # the query's row


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
    labels, fontsize = _thin_labels([_short(label) for label in view.labels], side, keep=view.query)
    keep = view.query if view.causal else None  # the query's own column, where it is a key
    keys, key_fontsize = _thin_labels([_short(label) for label in key_labels], side, keep=keep)
    fontsize = min(fontsize, key_fontsize)
    finite = view.scores[torch.isfinite(view.scores)]
    limit = finite.abs().max().item() if finite.numel() else 1.0
    limit = limit or 1.0  # all-zero scores still get a colour scale
    heatmap_args: dict[str, Any] = dict(
        labels=labels, key_labels=keys, highlight_query=view.query, fontsize=fontsize
    )  # the same in all 3
    masked_title = "after the causal mask (future: −∞)" if view.causal else "no mask: every key is read"
    _draw_three_heatmaps((raw_ax, masked_ax, weights_ax), view, limit, masked_title, heatmap_args)
    scores_bar = fig.add_axes(rect(xs[1] + side + 0.1, heat_y + 0.1 * side, 0.12, 0.8 * side))
    weights_bar = fig.add_axes(rect(xs[2] + side + 0.1, heat_y + 0.1 * side, 0.12, 0.8 * side))
    fig.colorbar(masked_ax.images[0], cax=scores_bar).set_label("score", fontsize=8)
    fig.colorbar(weights_ax.images[0], cax=weights_bar).set_label("weight", fontsize=8)
    for bar in (scores_bar, weights_bar):
        bar.tick_params(labelsize=7)
    top_positions = [position for position, _, _ in view.top]
    bar_labels, bar_fontsize = _thin_labels(key_labels, width - left - 0.3, keep=keep)
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


def figure_png(fig: Figure, dpi: float = 96) -> bytes:
    """The figure as PNG bytes, for an ipywidgets Image (no display machinery needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---- notebook 08: ablations, knock-outs, heads forming, induction, sampling knobs ----------------


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


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """A trailing moving average: what the training loss does, without one batch's noise."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def plot_training_curves(
    histories: Mapping[str, History],
    title: str = "loss",
    window: int = 20,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Every run's training loss (a moving average over `window` steps) and val estimates, one colour each."""
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    for i, (name, history) in enumerate(histories.items()):
        color = f"C{i % 10}"
        style = "-" if i < 10 else "--"
        ax.plot(_smooth(history.step_losses, window), color=color, linestyle=style, linewidth=1.2, label=name)
        steps = [s + 1 for s in history.eval_steps]
        ax.plot(steps, history.val_loss, color=color, marker="o", linestyle="none", markersize=4)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(f"{title} (lines: training loss, {window}-step average; dots: val loss)", fontsize=10)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


def draw_step_marker(ax: Axes, history: History, step: int, window: int = 20) -> None:
    """The run's loss curve on `ax`, a vertical line at `step` (steps trained)."""
    ax.plot(_smooth(history.step_losses, window), color="C0", linewidth=1, label="training loss")
    ax.plot([s + 1 for s in history.eval_steps], history.val_loss, "o", color="C1", markersize=3, label="val")
    ax.axvline(step, color="C3", linewidth=1.5)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper right")


def draw_heads_forming(
    fig: Figure, snapshot: HeadSnapshot, history: History, labels: Sequence[str], pattern: str = "previous"
) -> None:
    """On `fig`: every head's weights at one snapshot of training, each titled with its `pattern`
    score, above the loss curve with the snapshot's step marked (one frame of the animation)."""
    weights = snapshot.weights
    L, nh = weights.shape[:2]
    grid = fig.add_gridspec(L + 1, nh, height_ratios=[1.0] * L + [0.75])
    scores = getattr(snapshot.patterns, pattern)
    for layer in range(L):
        for head in range(nh):
            ax = fig.add_subplot(grid[layer, head])
            draw_attention(
                ax, weights[layer, head], None, f"L{layer} H{head}: {pattern} {scores[layer, head]:.2f}"
            )
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.title.set_fontsize(8)
    draw_step_marker(fig.add_subplot(grid[L, :]), history, snapshot.step)
    loss = "" if math.isnan(snapshot.val_loss) else f", val loss {snapshot.val_loss:.2f}"
    text = "".join(labels).replace("⏎", " ").replace("␣", " ")
    fig.suptitle(f"every head on '{_short(text, 36)}' after {snapshot.step} steps{loss}", fontsize=10)


def plot_heads_forming(
    snapshot: HeadSnapshot,
    history: History,
    labels: Sequence[str],
    pattern: str = "previous",
    size: float = 2.0,
) -> Figure:
    """draw_heads_forming on a figure of its own: the static twin of HeadsFormingExplorer."""
    L, nh = snapshot.weights.shape[:2]
    fig = plt.figure(figsize=(size * nh, size * (L + 0.75) + 0.4), layout="constrained")
    draw_heads_forming(fig, snapshot, history, labels, pattern)
    plt.close(fig)
    return fig


def plot_pattern_over_training(
    snapshots: Sequence[HeadSnapshot], pattern: str, layer: int, baseline: float | None = None
) -> Figure:
    """Each head of `layer`: its `pattern` weight at every snapshot, against the step."""
    steps = [s.step for s in snapshots]
    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    for head in range(snapshots[0].weights.size(1)):
        values = [getattr(s.patterns, pattern)[layer, head].item() for s in snapshots]
        ax.plot(steps, values, marker=".", label=f"layer {layer} head {head}")
    if baseline is not None:
        ax.axhline(baseline, color="0.5", linestyle=":", label="uniform attention")
    ax.set_xlabel("step")
    ax.set_ylabel(f"weight on {pattern}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


def plot_phase_change(
    steps: Sequence[int],
    losses: Mapping[str, Sequence[float]],
    scores: Mapping[str, Sequence[float]],
    marks: Mapping[str, int | None] | None = None,
    title: str = "",
) -> Figure:
    """Losses (left axis) and attention scores (right axis) against the step, with vertical lines
    at `marks` (e.g. where each crosses half its final value)."""
    fig, (loss_ax, score_ax) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, layout="constrained")
    for i, (name, values) in enumerate(losses.items()):
        loss_ax.plot(steps, list(values), color=f"C{i}", label=name)
    for i, (name, values) in enumerate(scores.items()):
        score_ax.plot(steps, list(values), color=f"C{i + len(losses)}", label=name)
    for i, (name, step) in enumerate((marks or {}).items()):
        if step is not None:
            for ax in (loss_ax, score_ax):
                ax.axvline(step, color=f"C{i + 5}", linestyle=":", linewidth=1.2)
            score_ax.text(step, 1.0, f" {name}: {step}", rotation=90, va="top", fontsize=7, color=f"C{i + 5}")
    loss_ax.set_ylabel("loss (nats)")
    score_ax.set_ylabel("attention weight")
    score_ax.set_ylim(0, 1.05)
    score_ax.set_xlabel("step")
    for ax in (loss_ax, score_ax):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        loss_ax.set_title(title, fontsize=10)
    plt.close(fig)
    return fig
