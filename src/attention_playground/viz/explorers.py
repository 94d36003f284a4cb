"""The notebooks' widgets: sliders that redraw a plot, keeping what they drew so tests can read it.

softmax_explorer puts a scale slider on plot_softmax_scales; AttentionExplorer puts layer, head,
query and temperature sliders on one prompt's attention (analysis.py) and draws it (plots.py); given
the model, it also takes a typed prompt and knocks the chosen head out (ablation.py).
HeadsFormingExplorer puts a training-step slider on the snapshots a HeadRecorder kept.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from matplotlib.figure import Figure
from torch import nn

from ..analysis.ablation import knock_out, next_token_probs
from ..analysis.attention_maps import (
    HeadSnapshot,
    HeadView,
    PromptAttention,
    cross_prompt_attention,
    head_view,
    prompt_attention,
)
from ..data.tokenizers import Tokenizer, token_labels
from ..errors import PlaygroundError
from ..nn.base import LanguageModel
from ..training.history import History
from .head_views import (
    plot_head_view,
    plot_next_token,
    plot_prompt_heads,
    prompt_heads_title,
)
from .heatmaps import figure_png, plot_softmax_scales
from .training_plots import (
    plot_heads_forming,
)

if TYPE_CHECKING:
    import ipywidgets

    from ..nn.encoder import EncoderDecoder


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

    Given `model` and `tokenizer`, it changes the model too: a text box takes the prompt, and a
    toggle knocks the chosen head out (its output zeroed) and reruns the model. The next-token bars
    under the tabs show what the model predicts after the query, with and without the head
    (`.next_token`, `.next_token_knocked_out`, `.next_token_figure`); while the head is out, the
    maps shown are the knocked-out model's (later layers read what it no longer passes on).
    """

    def __init__(
        self,
        prompt: PromptAttention,
        layer: int = 0,
        head: int = 0,
        query: int | None = None,
        temperature: float = 1.0,
        dpi: float = 96,
        *,
        model: nn.Module | None = None,
        tokenizer: Tokenizer | None = None,
        text: str | None = None,
    ):
        # a clear error, not a clamp
        head_view(
            prompt.scores, prompt.labels, layer, head, query, temperature,
            key_labels=prompt.key_labels, causal=prompt.causal,
        )  # fmt: skip
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer (to rerun the model), or neither")
        self.prompt = prompt
        self.model, self.tokenizer = model, tokenizer
        self.intact_prompt = prompt  # the model's own attention, with no head knocked out
        self.dpi = dpi
        self._make_sliders(layer, head, query, temperature)
        self._make_model_controls(text)
        self._make_layout()
        self.view: HeadView
        self.figure: Figure
        self.heads_figure: Figure | None = None
        self._heads_drawn_for: tuple | None = None
        self.next_token: torch.Tensor | None = None  # (V,) after the query, every head in place
        self.next_token_knocked_out: torch.Tensor | None = None  # (V,) with the chosen head out
        self.next_token_figure: Figure | None = None
        for control in (self.layer, self.head, self.query, self.temperature):
            control.observe(self._on_change, names="value")
        self.tabs.observe(self._on_change, names="selected_index")
        if self.model is not None:
            self.knock_out.observe(self._on_change, names="value")
            self.text.observe(self._on_text, names="value")
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

    def _make_model_controls(self, text: str | None) -> None:
        """With a model: a prompt box, a knock-out toggle, and a title and image for the next token."""
        import ipywidgets as widgets

        if self.model is None:
            return
        if text is None:
            text = self.tokenizer.decode(self.prompt.ids)  # type: ignore[union-attr]
        self.text = widgets.Text(
            text, description="prompt", continuous_update=False,
            layout=widgets.Layout(width="520px"), style={"description_width": "90px"},
        )  # fmt: skip
        self.knock_out = widgets.ToggleButton(False, description="knock out this head", icon="ban")
        self.message = widgets.HTML()  # why a typed prompt could not be read, or ""
        self.next_title = widgets.HTML()
        self.next_image = widgets.Image(format="png", layout=widgets.Layout(max_width="min(100%, 640px)"))

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
        rows = [widgets.HBox([self.layer, self.head]), widgets.HBox([self.query, self.temperature])]
        names = ["layer", "head", "query", "temperature", "title", "image", "heads_title", "heads_image"]
        if self.model is not None:
            rows += [widgets.HBox([self.text, self.knock_out]), self.message]
            names += ["text", "knock_out", "message", "next_title", "next_image"]
        parts = [widgets.VBox(rows), self.tabs]
        if self.model is not None:
            parts.append(widgets.VBox([self.next_title, self.next_image]))
        if self.prompt.note:
            parts.insert(0, widgets.HTML(f"<b>Note:</b> {html.escape(self.prompt.note)}"))
        self.widget = widgets.VBox(parts)
        # CSS classes: how the browser test (and a curious learner's devtools) find each part
        for name in names:
            getattr(self, name).add_class(f"ap-explorer-{name.replace('_', '-')}")
        self.widget.add_class("ap-explorer")

    def _on_change(self, change: dict[str, Any]) -> None:
        self.update()

    def _on_text(self, change: dict[str, Any]) -> None:
        """A typed prompt: read it with the model, or say why not and keep the last one."""
        try:
            prompt = prompt_attention(self.model, self.tokenizer, change["new"])  # type: ignore[arg-type]
        except (PlaygroundError, ValueError) as error:  # an unknown character, an empty prompt
            self.message.value = f"<b>Cannot read this prompt:</b> {html.escape(str(error))}"
            return
        self.message.value = f"<b>Note:</b> {html.escape(prompt.note)}" if prompt.note else ""
        self.prompt = self.intact_prompt = prompt
        T = len(prompt.ids)
        with self.query.hold_trait_notifications():
            self.query.max = T - 1
            self.query.value = T - 1  # a new prompt: read from its last token
        self._heads_drawn_for = None
        self.update()

    def _rerun_model(self) -> None:
        """The prompt's attention and the next token, with the chosen head in place and knocked out."""
        assert self.model is not None
        ids, query = self.intact_prompt.ids, self.query.value
        self.next_token = next_token_probs(self.model, ids, query)
        self.next_token_knocked_out = None
        self.prompt = self.intact_prompt
        if self.knock_out.value:
            with knock_out(self.model, [(self.layer.value, self.head.value)]):
                self.next_token_knocked_out = next_token_probs(self.model, ids, query)
                assert self.tokenizer is not None  # set with the model
                self.prompt = prompt_attention(self.model, self.tokenizer, self.tokenizer.decode(ids))  # type: ignore[arg-type]

    def _draw_next_token(self, top: int = 8) -> None:
        assert self.next_token is not None and self.tokenizer is not None
        distributions = {"every head": self.next_token}
        title = f"next token after '{self.prompt.labels[self.query.value]}' (position {self.query.value})"
        if self.next_token_knocked_out is not None:
            name = f"layer {self.layer.value} head {self.head.value} knocked out"
            distributions[name] = self.next_token_knocked_out
            title += f": with {name}"
        shown = sorted({int(t) for p in distributions.values() for t in p.topk(min(top, p.numel())).indices})
        labels = dict(zip(shown, token_labels(self.tokenizer, shown), strict=True))  # not all V of GPT-2
        likeliest = int(self.next_token.argmax())
        title += f"; likeliest '{labels[likeliest]}' {self.next_token[likeliest].item():.2f}"
        if self.next_token_knocked_out is not None:
            title += f" -> {self.next_token_knocked_out[likeliest].item():.2f}"
        self.next_token_figure = plot_next_token(distributions, labels, top)
        self.next_image.value = figure_png(self.next_token_figure, self.dpi)
        self.next_title.value = f"<b>{html.escape(title)}</b>"

    def update(self) -> None:
        """Recompute the view from the sliders and redraw the visible tab."""
        if self.model is not None:
            self._rerun_model()
        self.view = head_view(
            self.prompt.scores, self.prompt.labels, self.layer.value, self.head.value, self.query.value,
            self.temperature.value, key_labels=self.prompt.key_labels, causal=self.prompt.causal,
        )  # fmt: skip
        self.figure = plot_head_view(self.view, title=False)  # the title is the HTML line above it
        self.image.value = figure_png(self.figure, self.dpi)
        self.title.value = f"<b>{html.escape(self.view.title)}</b>"
        if self.model is not None:
            self._draw_next_token()
        if self.tabs.selected_index == 1:
            self._update_heads()

    def _update_heads(self) -> None:
        """The all-heads grid is slower to draw: only when its tab is open and something changed."""
        knocked_out = self.model is not None and self.knock_out.value
        key = (self.layer.value, self.head.value, self.query.value, self.temperature.value, knocked_out)
        if key == self._heads_drawn_for:
            return
        layer, head, query, temperature, _ = key
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
    """Explore what every head of `model` attends to in `text` (cropped to block_size, with a note);
    type another prompt in its text box, or knock the chosen head out and watch the next token.
    A model that predicts no next token (an encoder) gets the sliders alone."""
    prompt = prompt_attention(model, tokenizer, text)
    if not isinstance(model, LanguageModel):  # EncoderClassifier: no next token to knock out
        return AttentionExplorer(prompt, layer, head, query, temperature)
    return AttentionExplorer(
        prompt, layer, head, query, temperature, model=model, tokenizer=tokenizer, text=text
    )


class HeadsFormingExplorer:
    """A training-step slider over a HeadRecorder's snapshots: every head's map at that step, each
    titled with its `pattern` score, above the loss curve with the step marked. `.figure` is what
    is on screen."""

    def __init__(
        self,
        snapshots: list[HeadSnapshot],
        history: History,
        labels: list[str],
        pattern: str = "previous",
        dpi: float = 80,
    ):
        import ipywidgets as widgets

        if not snapshots:
            raise ValueError("no snapshots: train with a HeadRecorder callback first")
        self.snapshots, self.history, self.labels, self.pattern, self.dpi = (
            snapshots,
            history,
            labels,
            pattern,
            dpi,
        )
        options = [(str(snapshot.step), i) for i, snapshot in enumerate(snapshots)]
        self.step = widgets.SelectionSlider(
            options=options, value=len(snapshots) - 1, description="step", continuous_update=False
        )
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.widget = widgets.VBox([self.step, self.image])
        self.step.observe(lambda change: self.update(), names="value")
        self.figure: Figure
        self.update()

    @property
    def snapshot(self) -> HeadSnapshot:
        return self.snapshots[self.step.value]

    def update(self) -> None:
        self.figure = plot_heads_forming(self.snapshot, self.history, self.labels, self.pattern)
        self.image.value = figure_png(self.figure, self.dpi)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return self.widget._repr_mimebundle_(**kwargs)


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
