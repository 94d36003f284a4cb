"""Draw the course's diagrams into images/ with matplotlib.

Usage: .venv/bin/python scripts/draw_diagrams.py   (writes the three PNGs the notebooks link)

    images/weighted_average.png      a row-normalised lower-triangular matrix averages the past (02)
    images/queries_keys_values.png   one head: x -> q, k, v -> scores -> mask -> softmax -> out (03, 04)
    images/transformer_block.png     the GPT and one pre-LayerNorm Block inside it (05, 06)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window, the same output on every machine

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

IMAGES = Path(__file__).resolve().parent.parent / "images"
DPI = 150

# One palette for all three diagrams, so a colour means the same thing everywhere.
INK = "#222222"
MUTED = "#777777"
QUERY = "#4C72B0"  # blue: queries, and the row that reads
KEY = "#DD8452"  # orange: keys
VALUE = "#55A868"  # green: values, and what is read
ATTN = "#8172B3"  # purple: attention (communication)
FFWD = "#C44E52"  # red: feed-forward (computation)
NORM = "#CCB974"  # sand: LayerNorm
PLAIN = "#EEEEEE"
HIGHLIGHT = "#FFE08A"


def save(fig: Figure, name: str) -> Path:
    """Write a PNG without the matplotlib version in its metadata, so a re-run changes no bytes."""
    IMAGES.mkdir(exist_ok=True)
    path = IMAGES / name
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return path


def box(
    ax: Axes,
    center: tuple[float, float],
    text: str,
    color: str = PLAIN,
    width: float = 2.6,
    height: float = 0.8,
    fontsize: float = 11,
    weight: str = "normal",
) -> tuple[float, float, float, float]:
    """A rounded box with centred text; returns (left, right, bottom, top) for arrows."""
    x, y = center
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2), width, height,
            boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=color, edgecolor=INK, linewidth=1.2,
        )
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=INK, weight=weight)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    color: str = INK,
    style: str = "-|>",
    connection: str = "arc3",
    linewidth: float = 1.4,
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style, mutation_scale=14, color=color, linewidth=linewidth,
            connectionstyle=connection, shrinkA=0, shrinkB=0,
        )
    )  # fmt: skip


def blank_axes(fig: Figure, xlim: tuple[float, float], ylim: tuple[float, float]) -> Axes:
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


# --- 1. weighted_average.png ------------------------------------------------------------------


def grid(
    ax: Axes,
    left: float,
    top: float,
    cells: list[list[str]],
    colors: list[list[str]],
    size: float = 0.9,
    width: float | None = None,
    fontsize: float = 12,
) -> None:
    """A table of cells whose top-left corner is (left, top); rows go down."""
    width = width or size
    for i, row in enumerate(cells):
        for j, text in enumerate(row):
            x, y = left + j * width, top - (i + 1) * size
            ax.add_patch(Rectangle((x, y), width, size, facecolor=colors[i][j], edgecolor=INK, lw=1))
            ax.text(x + width / 2, y + size / 2, text, ha="center", va="center", fontsize=fontsize, color=INK)


def draw_weighted_average() -> Path:
    T = 4
    highlight_row = 2  # the third row: out[3] = (x1 + x2 + x3) / 3
    fractions = ["1", "1/2", "1/3", "1/4"]
    weights = [[fractions[t] if s <= t else "0" for s in range(T)] for t in range(T)]
    weight_colors = [
        [
            (HIGHLIGHT if t == highlight_row else "#DCE6F2") if s <= t else "white"
            for s in range(T)
        ]
        for t in range(T)
    ]  # fmt: skip
    x_cells = [[f"x{s + 1}"] for s in range(T)]
    x_colors = [[VALUE + "55" if s <= highlight_row else "white"] for s in range(T)]
    out_cells = [["x1"], ["(x1 + x2) / 2"], ["(x1 + x2 + x3) / 3"], ["(x1 + x2 + x3 + x4) / 4"]]
    out_colors = [[HIGHLIGHT if t == highlight_row else "white"] for t in range(T)]

    fig = plt.figure(figsize=(11, 6.6))
    ax = blank_axes(fig, (0, 13.5), (-1.6, 6.4))
    size, top = 0.9, 4.6
    grid(ax, 0.6, top, weights, weight_colors, size=size)
    grid(ax, 5.4, top, x_cells, x_colors, size=size, width=1.2)
    grid(ax, 8.3, top, out_cells, out_colors, size=size, width=4.2, fontsize=11)
    middle = top - T * size / 2
    ax.text(4.95, middle, "@", ha="center", va="center", fontsize=22, color=INK)
    ax.text(7.45, middle, "=", ha="center", va="center", fontsize=22, color=INK)

    ax.text(0.6 + T * size / 2, top + 0.35, "weights  (T, T)", ha="center", fontsize=12, weight="bold")
    ax.text(6.0, top + 0.35, "x  (T, C)", ha="center", fontsize=12, weight="bold")
    ax.text(10.4, top + 0.35, "out = weights @ x  (T, C)", ha="center", fontsize=12, weight="bold")
    for t in range(T):  # row and column labels: query t reads keys s <= t
        ax.text(0.45, top - (t + 0.5) * size, f"t={t + 1}", ha="right", va="center", fontsize=10, color=MUTED)
    for s in range(T):
        ax.text(
            0.6 + (s + 0.5) * size, top - T * size - 0.3, f"s={s + 1}", ha="center", fontsize=10, color=MUTED
        )

    ax.text(
        6.75, 6.0, "A lower-triangular matrix whose rows sum to 1 is a weighted average of the past",
        ha="center", va="center", fontsize=14, weight="bold",
    )  # fmt: skip
    notes = [
        "zeros above the diagonal: position t never reads the future (s > t)",
        "each row sums to 1: out[t] is an average of x[1..t], not a sum that grows with t",
        "highlighted: row t=3 gives 1/3 to each of x1, x2, x3, so out[3] = (x1 + x2 + x3) / 3",
        "any weights with these two properties work; attention learns them instead of fixing them to 1/t",
    ]
    for i, note in enumerate(notes):
        ax.text(0.6, 0.1 - i * 0.45, "• " + note, ha="left", va="center", fontsize=11, color=INK)
    return save(fig, "weighted_average.png")


# --- 2. queries_keys_values.png ---------------------------------------------------------------


def elbow(ax: Axes, points: list[tuple[float, float]], color: str = INK) -> None:
    """Straight segments through `points`, with an arrowhead on the last one."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=color, linewidth=1.4, solid_capstyle="butt")
    arrow(ax, points[-2], points[-1], color=color)


def draw_queries_keys_values() -> Path:
    fig = plt.figure(figsize=(12, 7.2))
    ax = blank_axes(fig, (0, 15), (0, 9))
    ax.text(7.5, 8.55, "One head of causal self-attention", ha="center", fontsize=16, weight="bold")

    x_box = box(ax, (1.2, 4.4), "x\n(B, T, C)", width=1.8, height=1.1, fontsize=12, weight="bold")
    rows = {"query": (7.0, QUERY), "key": (4.4, KEY), "value": (1.8, VALUE)}
    roles = {
        "query": "what am I looking for?",
        "key": "what do I contain?",
        "value": "what do I pass on if read?",
    }
    ends = {}
    for name, (y, color) in rows.items():
        left, right, *_ = box(ax, (3.9, y), f"Linear\n{name}", color=color + "55", width=1.9, height=1.0)
        elbow(ax, [(x_box[1], 4.4), (2.6, 4.4), (2.6, y), (left, y)])
        letter = name[0]
        q_left, q_right, _, top = box(
            ax, (6.25, y), f"{letter}\n(B, T, hs)", color=color + "99", width=1.7, height=1.0
        )
        arrow(ax, (right, y), (q_left, y))
        ax.text(
            5.1, top + 0.15, roles[name], ha="center", va="bottom", fontsize=10.5, style="italic", color=color
        )
        ends[letter] = (q_right, y)

    # q and k meet in the scores; v waits for the weights.
    cx, width, left = 9.5, 3.2, 7.9
    s_box = box(ax, (cx, 5.7), "scores = q @ kᵀ / √hs\n(B, T, T)", color="#F3F3F3", width=width, height=1.0)
    elbow(ax, [ends["q"], (7.5, 7.0), (7.5, 5.95), (left, 5.95)])
    elbow(ax, [ends["k"], (7.5, 4.4), (7.5, 5.45), (left, 5.45)])
    m_box = box(
        ax, (cx, 4.1), "mask the future (−inf above\nthe diagonal), softmax each row",
        color=ATTN + "33", width=width, height=1.0, fontsize=10.5,
    )  # fmt: skip
    arrow(ax, (cx, s_box[2]), (cx, m_box[3]))
    w_box = box(ax, (cx, 2.5), "weights (B, T, T)\nrows sum to 1", color=ATTN + "66", width=width, height=1.0)
    arrow(ax, (cx, m_box[2]), (cx, w_box[3]))
    o_box = box(
        ax,
        (cx, 0.8),
        "out = weights @ v\n(B, T, hs)",
        color=VALUE + "55",
        width=width,
        height=1.0,
        weight="bold",
    )
    arrow(ax, (cx, w_box[2]), (cx, o_box[3]))
    elbow(ax, [ends["v"], (7.5, 1.8), (7.5, 0.8), (left, 0.8)])

    # A small picture of the weights: lower-triangular, each row a distribution over the past.
    inset = fig.add_axes((0.785, 0.16, 0.19, 0.32))
    example = [
        [1.0, 0, 0, 0, 0],
        [0.3, 0.7, 0, 0, 0],
        [0.6, 0.1, 0.3, 0, 0],
        [0.1, 0.5, 0.1, 0.3, 0],
        [0.2, 0.1, 0.4, 0.1, 0.2],
    ]
    inset.imshow(example, cmap="Purples", vmin=0, vmax=1)
    inset.set_xticks(range(5), [f"k{s + 1}" for s in range(5)], fontsize=9)
    inset.set_yticks(range(5), [f"q{t + 1}" for t in range(5)], fontsize=9)
    inset.set_title("weights: row t reads keys 1..t", fontsize=10)
    inset.tick_params(length=0)
    ax.plot([w_box[1], 11.55], [2.5, 2.5], color=MUTED, linestyle=":", linewidth=1.2)
    return save(fig, "queries_keys_values.png")


# --- 3. transformer_block.png -----------------------------------------------------------------


def draw_transformer_block() -> Path:
    fig = plt.figure(figsize=(12, 9.4))
    ax = blank_axes(fig, (0, 14), (-0.6, 10.4))
    ax.text(3.0, 10.0, "GPT", ha="center", fontsize=16, weight="bold")
    ax.text(10.0, 10.0, "one Block (pre-LayerNorm)", ha="center", fontsize=16, weight="bold")

    # Left: the whole model, bottom to top as in the paper's figure.
    cx = 3.0
    steps = [
        (0.5, "token ids  idx  (B, T)", "white", 0.8),
        (1.9, "token embedding + position embedding", PLAIN, 0.8),
        (4.3, "Block  × n_layer", ATTN + "44", 1.8),
        (6.5, "LayerNorm  (ln_f)", NORM + "88", 0.8),
        (7.7, "Linear  (lm_head)", PLAIN, 0.8),
        (8.9, "logits  (B, T, V)", "white", 0.8),
    ]
    previous_top = None
    for y, text, color, height in steps:
        edges = box(ax, (cx, y), text, color=color, width=4.6, height=height, fontsize=11,
                    weight="bold" if "Block" in text else "normal")  # fmt: skip
        if previous_top is not None:
            arrow(ax, (cx, previous_top), (cx, edges[2]))
        previous_top = edges[3]
        if "Block" in text:
            block_edges = edges
    ax.text(cx + 0.15, 2.85, "x  (B, T, C)", fontsize=10, color=MUTED, va="center")

    # Right: inside one Block. The residual stream runs straight up; each sublayer adds to it.
    stream, rx = 7.9, 10.0
    bottom, top = 0.5, 9.2
    ax.plot([stream, stream], [bottom, top - 0.4], color=MUTED, linewidth=3, solid_capstyle="butt", zorder=0)
    arrow(ax, (stream, top - 0.5), (stream, top), color=MUTED, linewidth=3)
    ax.text(stream, bottom - 0.35, "x  (B, T, C)", ha="center", va="center", fontsize=11)
    ax.text(stream, top + 0.3, "out  (B, T, C)", ha="center", va="center", fontsize=11)
    ax.text(
        stream - 0.2, 4.85, "residual stream", rotation=90, ha="right", va="center", fontsize=10, color=MUTED
    )

    def sublayer(y0: float, name: str, color: str, note: str) -> None:
        """LayerNorm at y0, the sublayer above it, and its output added back into the stream."""
        ln = box(ax, (rx, y0), "LayerNorm", color=NORM + "88", width=2.8, height=0.7, fontsize=11)
        layer = box(
            ax, (rx, y0 + 1.3), name, color=color + "55", width=2.8, height=0.9, fontsize=11, weight="bold"
        )
        branch_y, plus_y = y0 - 0.75, y0 + 2.45
        ax.plot([stream], [branch_y], marker="o", color=INK, markersize=5)
        elbow(ax, [(stream, branch_y), (rx, branch_y), (rx, ln[2])])
        arrow(ax, (rx, ln[3]), (rx, layer[2]))
        elbow(ax, [(rx, layer[3]), (rx, plus_y), (stream + 0.25, plus_y)])
        ax.add_patch(
            plt.Circle((stream, plus_y), 0.25, facecolor="white", edgecolor=INK, linewidth=1.4, zorder=3)
        )
        ax.text(stream, plus_y, "+", ha="center", va="center", fontsize=14, zorder=4)
        ax.text(layer[1] + 0.2, y0 + 1.3, note, ha="left", va="center", fontsize=10, color=INK)

    sublayer(1.6, "MultiHeadAttention", ATTN, "tokens\ncommunicate")
    sublayer(5.5, "FeedForward", FFWD, "each token\ncomputes\non its own")

    # Zoom lines from the Block on the left to the detail on the right.
    left, right, lower, upper = block_edges
    for y_from, y_to in ((upper, top), (lower, bottom)):
        ax.plot([right + 0.05, stream - 0.9], [y_from, y_to], color=MUTED, linestyle=":", linewidth=1.2)
    ax.text(
        7.0, -0.45,
        "x = x + attn(ln1(x));  x = x + ffwd(ln2(x)).   GPT-2 and the lecture normalise before "
        "each sublayer; the 2017 paper after the add.",
        ha="center", va="center", fontsize=10, color=MUTED,
    )  # fmt: skip
    return save(fig, "transformer_block.png")


def main() -> None:
    for draw in (draw_weighted_average, draw_queries_keys_values, draw_transformer_block):
        path = draw()
        print(f"wrote {path.relative_to(IMAGES.parent)}")


if __name__ == "__main__":
    main()
