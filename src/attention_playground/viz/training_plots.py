"""Pictures of training: loss curves, and heads forming and induction's phase change along a run.

Pure functions: tensors in, a matplotlib Figure out. They never call plt.show() or write files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis.attention_maps import HeadSnapshot
from ..training.history import History
from .heatmaps import draw_attention
from .labels import short_label


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
    fig.suptitle(f"every head on '{short_label(text, 36)}' after {snapshot.step} steps{loss}", fontsize=10)


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
