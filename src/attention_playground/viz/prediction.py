"""Pictures of one prediction: the next-token bars, the logit lens and the attribution of a logit.

Pure functions, numbers in (analysis/prediction.py, analysis/lens.py), a matplotlib Figure out.
Colours are safe for colour-blind readers: cividis for the lens, blue and vermillion for the signs
(Okabe and Ito's palette), never red against green.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..analysis.lens import Attribution, LogitLens
from ..analysis.prediction import NextToken

_BLUE, _VERMILLION, _GREY = "#0072B2", "#D55E00", "#999999"  # Okabe-Ito
_LENS_COLORMAP = "cividis"  # even in lightness, readable without telling red from green


def _knobs(view: NextToken) -> str:
    parts = [f"temperature {view.temperature:g}"]
    if view.top_k is not None:
        parts.append(f"top-k {view.top_k}")
    if view.top_p is not None and view.top_p < 1:
        parts.append(f"top-p {view.top_p:g}")
    return ", ".join(parts)


def next_token_title(view: NextToken) -> str:
    """What the bars show, in one line: the prompt's end, the knobs, and how many tokens can be drawn."""
    tail = "".join(view.prompt.labels[-12:])
    return f"after '…{tail}': {_knobs(view)}; {view.kept:,} of {view.probs.numel():,} tokens can be drawn"


def plot_next_token_bars(view: NextToken, title: bool = True) -> Figure:
    """The likeliest next tokens as bars: what sampling draws from with the knobs (filled), beside the
    model's own probabilities at temperature 1 (outlined)."""
    ids = [token for token, _, _ in view.top]
    labels = [label for _, label, _ in view.top]
    drawn = [view.probs[i].item() for i in ids]
    model = [view.model_probs[i].item() for i in ids]
    xs = torch.arange(len(ids)).float()
    fig, ax = plt.subplots(figsize=(7.0, 2.9), layout="constrained")  # the same size however many are kept
    ax.bar(xs - 0.2, drawn, width=0.4, color=_BLUE, label="drawn from (with the knobs)")
    own = "the model's own"
    ax.bar(xs + 0.2, model, width=0.4, facecolor="white", edgecolor=_GREY, hatch="//", label=own)
    for x, p in zip(xs.tolist(), drawn, strict=True):
        ax.text(x - 0.2, p + 0.02, f"{p:.2f}", ha="center", fontsize=7)
    ax.set_xticks(xs.tolist(), labels, fontsize=9)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("probability", fontsize=8)
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(next_token_title(view), fontsize=9)
    plt.close(fig)
    return fig


def lens_title(lens: LogitLens, position: int = -1) -> str:
    """The model's final guess after the last token, and from which layer it is the top guess."""
    position = position % len(lens.prompt.ids)
    guess = lens.guesses[-1][position]
    row = lens.settles_at(position)
    return (
        f"after '{lens.prompt.labels[position]}' (position {position}) the model predicts '{guess}' "
        f"({lens.top_probs[-1, position].item():.2f}); on top from {lens.layers[row]} on"
    )


def plot_logit_lens(lens: LogitLens, color_by: str = "final", last: int = 24, title: bool = True) -> Figure:
    """Layers (rows) x positions (columns): each cell holds that layer's likeliest next token, coloured
    by the probability it gives the model's final prediction (color_by="final") or its own guess
    ("top"). The last `last` positions are shown; a column is labelled by the token it reads."""
    if color_by not in ("final", "top"):
        raise ValueError(f"color_by={color_by!r} must be 'final' or 'top'")
    values = (lens.final_probs if color_by == "final" else lens.top_probs)[:, -last:]  # (L + 1, T')
    rows, columns = values.shape
    start = len(lens.prompt.ids) - columns
    fig, ax = plt.subplots(figsize=(0.45 * columns + 2.4, 0.42 * rows + 1.5), layout="constrained")
    image = ax.imshow(values.numpy(), cmap=_LENS_COLORMAP, vmin=0, vmax=1, aspect="auto")
    for r in range(rows):
        for c in range(columns):
            guess = lens.guesses[r][start + c]
            final = lens.top_ids[r, start + c] == lens.final_ids[start + c]
            ax.text(
                c,
                r,
                guess[:5],
                ha="center",
                va="center",
                fontsize=7,
                color="black" if values[r, c] > 0.55 else "white",
                fontweight="bold" if final else "normal",
            )
    ax.set_xticks(range(columns), lens.prompt.labels[start:], fontsize=8)
    ax.set_yticks(range(rows), lens.layers, fontsize=8)
    ax.set_xlabel("the token each position reads (the cell guesses the one after it)", fontsize=8)
    label = "probability of the final guess" if color_by == "final" else "probability of this guess"
    fig.colorbar(image, ax=ax, shrink=0.9).set_label(label, fontsize=8)
    if title:
        ax.set_title(lens_title(lens) + " (bold: the final guess)", fontsize=9)
    plt.close(fig)
    return fig


def attribution_title(attribution: Attribution) -> str:
    a = attribution
    name, share = a.largest(1)[0]
    return (
        f"logit of '{a.label}' after '{a.prompt.labels[a.position]}' (position {a.position}): {a.logit:.2f}; "
        f"the parts add to {a.total:.2f}; largest: {name} {share:+.2f}"
    )


def plot_attribution(attribution: Attribution, title: bool = True) -> Figure:
    """Each part's share of one next token's logit, as bars: blue adds to the logit, vermillion takes
    away. The parts are in the order the model adds them to the residual stream."""
    values = attribution.values
    names = attribution.names
    fig, ax = plt.subplots(figsize=(6.4, 0.26 * len(names) + 1.3), layout="constrained")
    ys = list(range(len(names)))
    ax.barh(ys, values.tolist(), color=[_BLUE if v >= 0 else _VERMILLION for v in values.tolist()])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, names, fontsize=8)
    ax.invert_yaxis()  # the embeddings first, as the model adds them
    ax.set_xlabel("share of the logit", fontsize=8)
    if title:
        ax.set_title(attribution_title(attribution), fontsize=9)
    plt.close(fig)
    return fig
