"""Pictures of attention and training. Pure functions: tensors in, a matplotlib Figure out.

They never call plt.show() or write files: the notebook (or the caller) decides what to show.
The widgets at the end (softmax_explorer, attention_explorer) are thin: each redraws one of these
functions when a slider moves, and keeps what it drew so tests (and learners) can read it.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from torch import nn

from .attention import causal_mask, masked_softmax
from .tokenizers import Tokenizer, token_labels
from .training import History

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
) -> None:
    """One (T_query, T_key) heatmap on `ax`: rows are the tokens that read, columns those read."""
    weights = _as_2d(weights)
    Tq, Tk = weights.shape
    finite = weights[torch.isfinite(weights)]
    shown = weights.masked_fill(~torch.isfinite(weights), float("nan"))  # -inf drawn in MASKED_COLOR
    colormap = plt.get_cmap(cmap).with_extremes(bad=MASKED_COLOR)
    ax.imshow(shown.numpy(), cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if labels is not None:
        rotation = 90 if max((len(label) for label in labels), default=0) > 1 else 0  # one char: upright
        x_ticks = [(i, label) for i, label in enumerate(labels[-Tk:]) if label]  # "" means no tick
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
    highlight: tuple[int, int] | None = None,
    highlight_query: int | None = None,
) -> Figure:
    """Small heatmaps side by side: (nh, T, T) is one layer's heads; (L, nh, T, T) a grid.

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
                highlight_query=highlight_query,
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


# ---------------------------------------------------------------------------------------------------
# The attention explorer: one prompt's attention, one head at a time, with its scores and softmax.


class PromptAttention(NamedTuple):
    """A model's attention over one prompt, on the CPU: what the explorer and head_patterns read."""

    ids: list[int]  # the prompt's token ids (cropped to block_size)
    labels: list[str]  # each token's text, spaces and newlines made visible
    scores: torch.Tensor  # (L, nh, T, T) scaled q.k, before the causal mask
    weights: torch.Tensor  # (L, nh, T, T) the model's own softmax weights (temperature 1)
    note: str  # why the prompt was cropped, or ""


def prompt_attention(model: nn.Module, tokenizer: Tokenizer, text: str) -> PromptAttention:
    """Run `text` through `model` (in eval mode, on its own device) and keep every head's attention."""
    if not hasattr(model, "attention_maps"):
        raise TypeError(
            f"a {type(model).__name__} has no attention to explore: use an AttentionLanguageModel "
            "or a GPT (anything with an attention_maps(idx) method)"
        )
    ids = tokenizer.encode(text)
    if not ids:
        raise ValueError("the prompt is empty: pass some text for the model to read")
    note = ""
    block_size = getattr(model, "block_size", None)
    if block_size is not None and len(ids) > block_size:
        note = (
            f"the prompt has {len(ids)} tokens but this model reads at most block_size={block_size}: "
            f"showing its first {block_size} tokens"
        )
        ids = ids[:block_size]
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    was_training = model.training
    model.eval()  # no dropout: the attention the model uses when it predicts
    try:
        maps = model.attention_maps(idx)  # (L, 1, nh, T, T) each
    finally:
        model.train(was_training)
    scores = maps.scores[:, 0].detach().float().cpu()  # (L, nh, T, T)
    weights = maps.weights[:, 0].detach().float().cpu()
    return PromptAttention(ids, token_labels(tokenizer, ids), scores, weights, note)


class HeadView(NamedTuple):
    """Everything the explorer shows for one head and one query, as plain tensors and strings."""

    layer: int
    head: int
    query: int
    temperature: float
    labels: list[str]
    scores: torch.Tensor  # (T, T) this head's scaled q.k, before the mask
    masked_scores: torch.Tensor  # (T, T) the same, with -inf where a query would read the future
    weights: torch.Tensor  # (T, T) masked_softmax(scores, temperature): rows sum to 1
    top: list[tuple[int, str, float]]  # the keys the query reads most: (position, label, weight)
    title: str


def head_view(
    scores: torch.Tensor,
    labels: Sequence[str],
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    temperature: float = 1.0,
    top_k: int = 3,
) -> HeadView:
    """One head's scores, masked scores and softmax weights (L, nh, T, T) -> (T, T), and what
    the query at position `query` (default: the last token) reads most."""
    if scores.dim() != 4:
        raise ValueError(f"expected (L, nh, T, T) scores, got shape {tuple(scores.shape)}")
    L, nh, T, _ = scores.shape
    query = T - 1 if query is None else query
    for name, value, size in (("layer", layer, L), ("head", head, nh), ("query", query, T)):
        if not 0 <= value < size:
            raise ValueError(f"{name}={value} is out of range: this prompt's attention has 0..{size - 1}")
    if len(labels) != T:
        raise ValueError(f"{len(labels)} labels for {T} tokens")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be positive")
    head_scores = scores[layer, head].detach().float().cpu()  # (T, T)
    mask = causal_mask(T)
    masked_scores = head_scores.masked_fill(~mask, float("-inf"))
    weights = masked_softmax(head_scores, mask, temperature)  # the library's own softmax
    values, positions = weights[query].topk(min(top_k, query + 1))
    top = [(int(p), labels[p], float(v)) for v, p in zip(values, positions, strict=True)]
    reads = ", ".join(f"'{label}' {weight:.2f}" for _, label, weight in top)
    title = f"layer {layer}, head {head}: query '{labels[query]}' (position {query}) reads {reads}"
    if temperature != 1.0:
        title += f" (temperature {temperature:.3g})"
    return HeadView(
        layer, head, query, temperature, list(labels), head_scores, masked_scores, weights, top, title
    )


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
) -> None:
    """The query's row of weights as bars over the tokens it may read; `top` positions in red."""
    weights = weights.detach().float().cpu().flatten()
    T = len(weights)
    colors = ["C3" if position in top else "C0" for position in range(T)]
    ax.bar(range(T), weights.numpy(), color=colors, width=0.8)
    if query < T - 1:  # the positions after the query: the causal mask gives them weight 0
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
    _emphasize_tick(ax.xaxis, query)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"what query '{labels[query]}' (position {query}) reads", fontsize=10)


def plot_head_view(view: HeadView, width: float = 10.0, title: bool = True) -> Figure:
    """Raw scores, masked scores and softmax weights of one head (the query's row outlined in red),
    and the query's weights as bars. `title=False` leaves out view.title (the explorer shows it above).

    Laid out by hand (no constrained layout): the explorer redraws this at every slider move.
    """
    wide = max(len(label) for label in view.labels) > 1  # GPT-2 pieces: rotated, longer tick labels
    left, gap, colorbar_room = 0.75, 0.25, 0.9  # inches
    side = (width - left - gap - 2 * colorbar_room) / 3  # each heatmap is side x side inches
    below = 0.95 if wide else 0.55  # room for the key labels and axis label under the heatmaps
    bars_height, bars_below = 1.35, 0.75 if wide else 0.4
    top = 0.5 if title else 0.1  # room for the suptitle
    height = top + 0.25 + side + below + 0.3 + bars_height + bars_below

    def rect(x: float, y: float, w: float, h: float) -> list[float]:  # inches -> figure fractions
        return [x / width, y / height, w / width, h / height]

    fig = plt.figure(figsize=(width, height))
    heat_y = height - top - 0.25 - side
    xs = (left, left + side + gap, left + 2 * side + gap + colorbar_room)
    raw_ax, masked_ax, weights_ax = (fig.add_axes(rect(x, heat_y, side, side)) for x in xs)
    bars_ax = fig.add_axes(rect(left, bars_below, width - left - 0.3, bars_height))
    labels, fontsize = _thin_labels([_short(label) for label in view.labels], side, keep=view.query)
    finite = view.scores[torch.isfinite(view.scores)]
    limit = finite.abs().max().item() if finite.numel() else 1.0
    limit = limit or 1.0  # all-zero scores still get a colour scale
    common = dict(labels=labels, highlight_query=view.query, fontsize=fontsize)
    draw_attention(
        raw_ax, view.scores, title="scores q·k/√hs", cmap="RdBu_r", vmin=-limit, vmax=limit, **common
    )
    draw_attention(
        masked_ax, view.masked_scores, title="after the causal mask (future: −∞)", cmap="RdBu_r",
        vmin=-limit, vmax=limit, **common,
    )  # fmt: skip
    draw_attention(
        weights_ax, view.weights, title=f"softmax weights (temperature {view.temperature:.3g})",
        vmin=0.0, vmax=1.0, **common,
    )  # fmt: skip
    for ax in (masked_ax, weights_ax):  # same rows as the first heatmap: its labels serve all three
        ax.set_ylabel("")
        ax.tick_params(labelleft=False)
    _emphasize_tick(raw_ax.yaxis, view.query)  # the query's row
    scores_bar = fig.add_axes(rect(xs[1] + side + 0.1, heat_y + 0.1 * side, 0.12, 0.8 * side))
    weights_bar = fig.add_axes(rect(xs[2] + side + 0.1, heat_y + 0.1 * side, 0.12, 0.8 * side))
    fig.colorbar(masked_ax.images[0], cax=scores_bar).set_label("score", fontsize=8)
    fig.colorbar(weights_ax.images[0], cax=weights_bar).set_label("weight", fontsize=8)
    for bar in (scores_bar, weights_bar):
        bar.tick_params(labelsize=7)
    top_positions = [position for position, _, _ in view.top]
    bar_labels, bar_fontsize = _thin_labels(view.labels, width - left - 0.3, keep=view.query)
    draw_query_bars(bars_ax, view.weights[view.query], bar_labels, view.query, top_positions, bar_fontsize)
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
    weights = masked_softmax(prompt.scores, temperature=temperature)  # (L, nh, T, T)
    return plot_heads(
        weights,
        prompt.labels,
        prompt_heads_title(prompt, temperature, highlight, highlight_query) if title else None,
        size,
        highlight,
        highlight_query,
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


def figure_png(fig: Figure, dpi: float = 96) -> bytes:
    """The figure as PNG bytes, for an ipywidgets Image (no display machinery needed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class AttentionExplorer:
    """Sliders for layer, head, query position and temperature over one prompt's attention.

    Tab "one head" draws plot_head_view(head_view(...)); tab "all heads" draws plot_prompt_heads.
    What is on screen is kept: `.view` (a HeadView), `.figure`, `.heads_figure`. Display it as a
    notebook cell's value, or `display(explorer.widget)`.
    """

    def __init__(
        self,
        prompt: PromptAttention,
        layer: int = 0,
        head: int = 0,
        query: int | None = None,
        temperature: float = 1.0,
        dpi: float = 96,
    ):
        import ipywidgets as widgets

        L, nh, T, _ = prompt.scores.shape
        head_view(prompt.scores, prompt.labels, layer, head, query, temperature)  # a clear error, not a clamp
        self.prompt = prompt
        self.dpi = dpi
        slider = dict(continuous_update=False, style={"description_width": "90px"})
        self.layer = widgets.IntSlider(layer, 0, L - 1, description="layer", disabled=L == 1, **slider)
        self.head = widgets.IntSlider(head, 0, nh - 1, description="head", disabled=nh == 1, **slider)
        self.query = widgets.IntSlider(
            T - 1 if query is None else query, 0, T - 1, description="query", **slider
        )
        self.temperature = widgets.FloatLogSlider(
            temperature, base=2, min=-3, max=3, step=0.25, description="temperature",
            readout_format=".3g", **slider,
        )  # fmt: skip
        self.title = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.heads_title = widgets.HTML()
        self.heads_image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.tabs = widgets.Tab(
            children=[
                widgets.VBox([self.title, self.image]),
                widgets.VBox([self.heads_title, self.heads_image]),
            ],
            titles=("one head", "all heads"),
        )
        controls = widgets.VBox(
            [widgets.HBox([self.layer, self.head]), widgets.HBox([self.query, self.temperature])]
        )
        parts = [controls, self.tabs]
        if prompt.note:
            parts.insert(0, widgets.HTML(f"<b>Note:</b> {html.escape(prompt.note)}"))
        self.widget = widgets.VBox(parts)
        # CSS classes: how the browser test (and a curious learner's devtools) find each part
        for name in ("layer", "head", "query", "temperature", "title", "image", "heads_title", "heads_image"):
            getattr(self, name).add_class(f"ap-explorer-{name.replace('_', '-')}")
        self.widget.add_class("ap-explorer")
        self.view: HeadView
        self.figure: Figure
        self.heads_figure: Figure | None = None
        self._heads_drawn_for: tuple | None = None
        for control in (self.layer, self.head, self.query, self.temperature):
            control.observe(self._on_change, names="value")
        self.tabs.observe(self._on_change, names="selected_index")
        self.update()

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Recompute the view from the sliders and redraw the visible tab."""
        self.view = head_view(
            self.prompt.scores, self.prompt.labels, self.layer.value, self.head.value, self.query.value,
            self.temperature.value,
        )  # fmt: skip
        self.figure = plot_head_view(self.view, title=False)  # the title is the HTML line above it
        self.image.value = figure_png(self.figure, self.dpi)
        self.title.value = f"<b>{html.escape(self.view.title)}</b>"
        if self.tabs.selected_index == 1:
            self._update_heads()

    def _update_heads(self) -> None:
        """The all-heads grid is slower to draw: only when its tab is open and something changed."""
        key = (self.layer.value, self.head.value, self.query.value, self.temperature.value)
        if key == self._heads_drawn_for:
            return
        layer, head, query, temperature = key
        self.heads_figure = plot_prompt_heads(self.prompt, temperature, (layer, head), query, title=False)
        self.heads_image.value = figure_png(self.heads_figure, self.dpi)
        title = prompt_heads_title(self.prompt, temperature, (layer, head), query)
        self.heads_title.value = f"<b>{html.escape(title)}</b>"
        self._heads_drawn_for = key

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        v = self.view
        return (
            f"AttentionExplorer(layer={v.layer}, head={v.head}, query={v.query}, "
            f"temperature={v.temperature:.3g}, tokens={len(v.labels)})"
        )


def attention_explorer(
    model: nn.Module,
    tokenizer: Tokenizer,
    text: str,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    temperature: float = 1.0,
) -> AttentionExplorer:
    """Explore what every head of `model` attends to in `text` (cropped to block_size, with a note)."""
    return AttentionExplorer(prompt_attention(model, tokenizer, text), layer, head, query, temperature)
