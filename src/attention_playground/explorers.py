"""The notebooks' widgets: sliders that redraw a plot, keeping what they drew so tests can read it.

softmax_explorer puts a scale slider on plot_softmax_scales; AttentionExplorer puts layer, head,
query and temperature sliders on one prompt's attention (analysis.py) and draws it (plots.py).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from matplotlib.figure import Figure

from .analysis import HeadView, PromptAttention, cross_prompt_attention, head_view, prompt_attention
from .model import LanguageModel
from .plots import figure_png, plot_head_view, plot_prompt_heads, plot_softmax_scales, prompt_heads_title
from .tokenizers import Tokenizer

if TYPE_CHECKING:
    import ipywidgets

    from .encoder import EncoderDecoder


def softmax_explorer(scores: torch.Tensor, max_scale: float = 16.0) -> ipywidgets.interactive:
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
        # a clear error, not a clamp
        head_view(
            prompt.scores, prompt.labels, layer, head, query, temperature,
            key_labels=prompt.key_labels, causal=prompt.causal,
        )  # fmt: skip
        self.prompt = prompt
        self.dpi = dpi
        self._make_sliders(layer, head, query, temperature)
        self._make_layout()
        self.view: HeadView
        self.figure: Figure
        self.heads_figure: Figure | None = None
        self._heads_drawn_for: tuple | None = None
        for control in (self.layer, self.head, self.query, self.temperature):
            control.observe(self._on_change, names="value")
        self.tabs.observe(self._on_change, names="selected_index")
        self.update()

    def _make_sliders(self, layer: int, head: int, query: int | None, temperature: float) -> None:
        """One slider per choice; a slider with a single position (one layer, one head) is greyed out."""
        import ipywidgets as widgets

        L, nh, T, _ = self.prompt.scores.shape
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

    def _make_layout(self) -> None:
        """The sliders above two tabs ("one head", "all heads"), each a title line over an image."""
        import ipywidgets as widgets

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
        if self.prompt.note:
            parts.insert(0, widgets.HTML(f"<b>Note:</b> {html.escape(self.prompt.note)}"))
        self.widget = widgets.VBox(parts)
        # CSS classes: how the browser test (and a curious learner's devtools) find each part
        for name in ("layer", "head", "query", "temperature", "title", "image", "heads_title", "heads_image"):
            getattr(self, name).add_class(f"ap-explorer-{name.replace('_', '-')}")
        self.widget.add_class("ap-explorer")

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Recompute the view from the sliders and redraw the visible tab."""
        self.view = head_view(
            self.prompt.scores, self.prompt.labels, self.layer.value, self.head.value, self.query.value,
            self.temperature.value, key_labels=self.prompt.key_labels, causal=self.prompt.causal,
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
    model: LanguageModel,
    tokenizer: Tokenizer,
    text: str,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    temperature: float = 1.0,
) -> AttentionExplorer:
    """Explore what every head of `model` attends to in `text` (cropped to block_size, with a note)."""
    return AttentionExplorer(prompt_attention(model, tokenizer, text), layer, head, query, temperature)


def cross_attention_explorer(
    model: EncoderDecoder,
    tokenizer: Tokenizer,
    source: str,
    target: str,
    query_labels: Sequence[str] | None = None,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
    temperature: float = 1.0,
) -> AttentionExplorer:
    """Explore an encoder-decoder's cross-attention: rows are the target's tokens (as the decoder
    reads them, or `query_labels`), columns the source's; no mask. See cross_prompt_attention."""
    prompt = cross_prompt_attention(model, tokenizer, source, target, query_labels)
    return AttentionExplorer(prompt, layer, head, query, temperature)
