"""Widgets over the embedding tables and over one forward pass.

- EmbeddingExplorer: the token table on two principal components (menus choose which, and which
  character class to bring forward), beside the position vectors' similarity;
- TraceExplorer: the forward trace of a typed prompt as a table (a menu keeps one part of the model),
  and the chosen step's numbers as a heatmap.

Each keeps what it drew (`.figure`, ...) and draws the static twins of viz/embedding_plots.py.
"""

from __future__ import annotations

import html
from typing import Any

from matplotlib.figure import Figure
from torch import nn

from ..analysis.embeddings import CHARACTER_CLASSES, TokenMap, position_similarity, token_map
from ..analysis.trace import ForwardTrace, trace_forward
from ..data.tokenizers import Tokenizer
from ..nn.base import LanguageModel
from .embedding_plots import plot_position_similarity, plot_token_map, plot_trace_step
from .heatmaps import figure_png
from .prediction_explorers import PromptView

_STYLE = {"description_width": "90px"}  # room for each menu's name
_EVERY = "every"  # the menus' first choice: no class brought out, no part left out


class EmbeddingExplorer:
    """Menus for the two components of the token map (x, y) and for a class to bring forward; the
    position similarity beside it, where the model has a position table. `.figure` and
    `.positions_figure` are on screen; `.map` holds the numbers."""

    def __init__(self, model: nn.Module, tokenizer: Tokenizer, components: int = 4, dpi: float = 80):
        import ipywidgets as widgets

        self.map: TokenMap = token_map(model, tokenizer, components)
        self.dpi = dpi
        options = [(f"component {i} ({share:.0%})", i) for i, share in enumerate(self.map.explained.tolist())]
        self.x = widgets.Dropdown(options=options, value=0, description="x", style=_STYLE)
        self.y = widgets.Dropdown(
            options=options, value=min(1, len(options) - 1), description="y", style=_STYLE
        )
        present = [name for name in CHARACTER_CLASSES if name in self.map.classes]
        self.highlight = widgets.Dropdown(
            options=[("every class", _EVERY), *[(n, n) for n in present]],  # not None: a blank menu
            value=_EVERY,
            description="bring out",
            style=_STYLE,
        )
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="min(100%, 560px)"))
        self.positions_image = widgets.Image(
            format="png", layout=widgets.Layout(max_width="min(100%, 440px)")
        )
        self.figure: Figure
        self.positions_figure: Figure | None = None
        try:
            self.positions_figure = plot_position_similarity(position_similarity(model))
            self.positions_image.value = figure_png(self.positions_figure, dpi)
        except ValueError:  # RoPE or no positions: no table to compare
            self.positions_image.layout.display = "none"
        for control in (self.x, self.y, self.highlight):
            control.observe(lambda change: self.update(), names="value")
        controls = widgets.HBox([self.x, self.y, self.highlight])
        self.widget = widgets.VBox([controls, widgets.HBox([self.image, self.positions_image])])
        self.widget.add_class("ap-embeddings")
        for name in ("x", "y", "highlight", "image"):
            getattr(self, name).add_class(f"ap-embeddings-{name}")
        self.update()

    def update(self) -> None:
        highlight = None if self.highlight.value == _EVERY else self.highlight.value
        self.figure = plot_token_map(self.map, self.x.value, self.y.value, highlight=highlight)
        self.image.value = figure_png(self.figure, self.dpi)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return self.widget._repr_mimebundle_(**kwargs)


def _model_parts(trace: ForwardTrace) -> list[str]:
    """The parts a trace's steps belong to: "input", "block 0", ..., "output"."""
    blocks = sorted({_block(name) for name in trace.names if name.startswith("blocks.")})
    return ["input", *[f"block {i}" for i in blocks], "output"]


def _block(name: str) -> int:
    """The block a step's name is in: "blocks.3.attn weights" -> 3, "blocks.0 input" -> 0."""
    return int(name.split(".")[1].split(" ")[0])


def _part_of(name: str, parts: list[str]) -> str:
    """Which part a step belongs to: the embeddings are the input, ln_f onwards the output."""
    if name.startswith("blocks."):
        block = _block(name)
        return "input" if name.endswith(" input") and block == 0 else f"block {block}"
    if name in ("idx", "token_embedding", "position_embedding"):
        return "input"
    if name.startswith(("attention", "ffwd")):  # a model of one attention layer, no blocks
        return "block 0" if "block 0" in parts else "output"
    return "output"


def trace_table_html(trace: ForwardTrace, part: str | None = None) -> str:
    """The trace's rows (name, shape, numbers, what it is) as an HTML table, or one part's rows."""
    parts = _model_parts(trace)
    rows = ["<tr><th>step</th><th>shape</th><th>numbers</th><th>what</th></tr>"]
    for name, shape, size, what in trace.rows():
        if part is None or _part_of(name, parts) == part:
            cells = (html.escape(name), str(shape), f"{size:,}", html.escape(what))
            rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return "<table class='ap-trace-rows'>" + "".join(rows) + "</table>"


class TraceExplorer(PromptView):
    """The forward trace of a typed prompt: its table (a menu keeps one part of the model: the input,
    a block, the output) and, for the step chosen in a second menu, its numbers as a heatmap."""

    css = "ap-trace"

    def __init__(
        self,
        model: LanguageModel,
        tokenizer: Tokenizer,
        text: str,
        step: str = "blocks.0.attn weights",
        dpi: float = 80,
    ):
        import ipywidgets as widgets

        super().__init__(model, tokenizer, text, dpi)
        self.trace: ForwardTrace = trace_forward(model, tokenizer, text)
        parts = _model_parts(self.trace)
        self.part = widgets.Dropdown(
            options=[("every part", _EVERY), *[(p, p) for p in parts]],
            value=_EVERY,
            description="part",
            style=_STYLE,
        )
        names = self.trace.names
        self.step = widgets.Dropdown(
            options=names,
            value=step if step in names else names[-1],
            description="draw step",
            style=_STYLE,
        )
        self.table = widgets.HTML()
        self._layout([widgets.HBox([self.part, self.step]), self.table])
        for name in ("part", "step", "table"):
            getattr(self, name).add_class(f"{self.css}-{name}")
        self.part.observe(lambda change: self._show_table(), names="value")
        self.step.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    def _show_table(self) -> None:
        self.table.value = trace_table_html(
            self.trace, None if self.part.value == _EVERY else self.part.value
        )

    def _compute(self) -> None:
        self.trace = trace_forward(self.model, self.tokenizer, self.text.value)

    def _draw(self) -> str:
        self._show_table()
        self.figure = plot_trace_step(self.trace, self.step.value)
        step = self.trace.step(self.step.value)
        tokens, steps = len(self.trace.prompt.ids), len(self.trace.steps)
        return f"{tokens} tokens in, {steps} steps; drawn: {step.name} {step.shape}"
