"""Pictures of attention and training. Pure functions: tensors in, a matplotlib Figure out.

They never call plt.show() or write files: the notebook (or the caller) decides what to show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .train import History


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
    cmap: str = "viridis",
    vmin: float | None = 0.0,
    vmax: float | None = None,
    annotate: bool = False,
) -> None:
    """One (T_query, T_key) heatmap on `ax`: rows are the tokens that read, columns those read."""
    weights = _as_2d(weights)
    Tq, Tk = weights.shape
    finite = weights[torch.isfinite(weights)]
    shown = weights.masked_fill(~torch.isfinite(weights), float("nan"))  # -inf drawn as blank
    ax.imshow(shown.numpy(), cmap=cmap, vmin=vmin, vmax=vmax if vmax is not None else None)
    if labels is not None:
        ax.set_xticks(range(Tk), labels[-Tk:], rotation=90, fontsize=8)
        ax.set_yticks(range(Tq), labels[-Tq:], fontsize=8)
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
        ax.add_patch(
            plt.Rectangle((-0.5, highlight_query - 0.5), Tk, 1, fill=False, edgecolor="red", linewidth=2)
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
) -> Figure:
    """A heatmap of one head's (T, T) attention weights, labelled with the tokens."""
    fig, ax = plt.subplots(figsize=(size, size), layout="constrained")
    draw_attention(ax, weights, labels, title, highlight_query, annotate=annotate)
    plt.close(fig)  # returned, not shown: Jupyter displays it when it is a cell's value
    return fig


def plot_heads(
    weights: torch.Tensor,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    size: float = 2.6,
) -> Figure:
    """Small heatmaps side by side: (nh, T, T) is one layer's heads; (L, nh, T, T) a grid."""
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
            )  # fmt: skip
            ax.set_xlabel("")
            ax.set_ylabel("")
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


def softmax_explorer(scores: torch.Tensor, max_scale: float = 16.0):
    """A slider over the scale of `scores`, redrawing plot_softmax_scales for that one scale."""
    import ipywidgets as widgets

    def show(scale: float = 1.0) -> Figure:
        fig = plot_softmax_scales(scores, scales=(scale,))
        from IPython.display import display

        display(fig)
        return fig

    return widgets.interactive(
        show,
        scale=widgets.FloatLogSlider(
            value=1.0, base=2, min=-3, max=float(torch.log2(torch.tensor(max_scale))), step=0.25,
            description="scale", continuous_update=False,
        ),
    )  # fmt: skip
