"""Widgets over one prediction: type a prompt, move a control, see the view redrawn.

- NextTokenExplorer: the next-token bars, with temperature, top-k and top-p sliders, and a "next"
  button that draws one token with the library's own next_token and appends it;
- LogitLensExplorer: each layer's guess at every position;
- AttributionExplorer: who wrote the logit of the chosen next token, at the chosen position.

Each keeps what is on screen (`.figure` and the numbers it drew) so tests can read it, and draws the
static twin of viz/prediction.py.
"""

from __future__ import annotations

import html
from typing import Any

import torch
from matplotlib.figure import Figure

from ..analysis.lens import Attribution, LogitLens, direct_logit_attribution, logit_lens
from ..analysis.prediction import NextToken, next_token_distribution, read_prompt
from ..data.tokenizers import Tokenizer, token_labels
from ..errors import PlaygroundError, check_seed
from ..nn.base import LanguageModel, evaluating
from ..nn.decoding import next_token
from .heatmaps import figure_png
from .prediction import (
    attribution_title,
    lens_title,
    next_token_title,
    plot_attribution,
    plot_logit_lens,
    plot_next_token_bars,
)

_SLIDER = {"continuous_update": False, "style": {"description_width": "90px"}}


class PromptView:
    """What every view of one prediction shares: a prompt box, a line that says why a prompt could not
    be read, a title and an image. Subclasses compute (`_compute`) and draw (`_draw`)."""

    css = "ap-view"

    def __init__(self, model: LanguageModel, tokenizer: Tokenizer, text: str, dpi: float = 96):
        import ipywidgets as widgets

        self.model, self.tokenizer, self.dpi = model, tokenizer, dpi
        self.text = widgets.Text(
            text,
            description="prompt",
            continuous_update=False,
            layout=widgets.Layout(width="560px"),
            style=_SLIDER["style"],
        )
        self.message = widgets.HTML()
        self.title = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="min(100%, 900px)"))
        self.figure: Figure

    def _layout(self, controls: list) -> None:
        """The prompt, the controls, the message, the title over the image; a CSS class on each part."""
        import ipywidgets as widgets

        self.widget = widgets.VBox([self.text, *controls, self.message, self.title, self.image])
        self.widget.add_class(self.css)
        for name in ("text", "message", "title", "image"):
            getattr(self, name).add_class(f"{self.css}-{name}")
        self.text.observe(self._on_text, names="value")

    def _on_text(self, change: dict[str, Any]) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute from the prompt and the controls and redraw; a prompt the model cannot read is
        said in the message line, and the last picture stays."""
        try:
            self._compute()
        except (PlaygroundError, ValueError) as error:  # an unknown character, an empty prompt
            self.message.value = f"<b>Cannot read this prompt:</b> {html.escape(str(error))}"
            return
        self.message.value = ""
        title = self._draw()
        self.image.value = figure_png(self.figure, self.dpi)
        self.title.value = f"<b>{html.escape(title)}</b>"

    def _compute(self) -> None:
        raise NotImplementedError

    def _draw(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return self.widget._repr_mimebundle_(**kwargs)


class NextTokenExplorer(PromptView):
    """The likeliest next tokens after a typed prompt, under temperature, top-k and top-p sliders
    (top-k 0 and top-p 1 switch them off). "next" draws one token from the bars' distribution with
    next_token and a seeded generator, and appends it: pressed n times, it writes what
    sample_text(..., seed=seed, use_cache=False) writes with the same knobs."""

    css = "ap-next"

    def __init__(
        self,
        model: LanguageModel,
        tokenizer: Tokenizer,
        text: str,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int = 1337,
        top: int = 10,
        dpi: float = 96,
    ):
        import ipywidgets as widgets

        super().__init__(model, tokenizer, text, dpi)
        check_seed(seed)
        self.generator, self.top = torch.Generator().manual_seed(seed), top
        self.temperature = widgets.FloatSlider(
            temperature, min=0, max=2, step=0.05, description="temperature", **_SLIDER
        )
        self.top_k = widgets.IntSlider(
            top_k or 0, min=0, max=min(50, tokenizer.vocab_size), description="top-k (0: off)", **_SLIDER
        )
        self.top_p = widgets.FloatSlider(
            1.0 if top_p is None else top_p,
            min=0.05,
            max=1,
            step=0.05,
            description="top-p (1: off)",
            **_SLIDER,
        )
        self.next_button = widgets.Button(description="next", icon="forward", tooltip="draw one token")
        self.ids: list[int] = tokenizer.encode(text) if text else []
        self.drawn: list[int] = []  # the tokens "next" appended, in order
        self.view: NextToken
        for control in (self.temperature, self.top_k, self.top_p):
            control.observe(lambda change: self.refresh(), names="value")
        self.next_button.on_click(lambda button: self.draw_next())
        rows = [widgets.HBox([self.temperature, self.top_k]), widgets.HBox([self.top_p, self.next_button])]
        self._layout(rows)
        for name in ("temperature", "top_k", "top_p", "next_button"):
            getattr(self, name).add_class(f"{self.css}-{name.replace('_', '-')}")
        self._appending = False
        self.refresh()

    def knobs(self) -> tuple[float, int | None, float | None]:
        """(temperature, top_k, top_p) as the sampling functions take them: 0 and 1 switch off."""
        top_p = self.top_p.value if self.top_p.value < 1 else None
        return self.temperature.value, self.top_k.value or None, top_p

    def _on_text(self, change: dict[str, Any]) -> None:
        if not self._appending:  # a prompt typed by hand: its own tokens
            try:
                self.ids = self.tokenizer.encode(change["new"]) if change["new"] else []
            except PlaygroundError:  # an unknown character: said by refresh, the last ids kept
                self.ids = []
            self.drawn = []
        self.refresh()

    def _compute(self) -> None:
        temperature, top_k, top_p = self.knobs()
        text_or_ids = self.ids or self.text.value  # text: an empty prompt says so
        self.view = next_token_distribution(
            self.model, self.tokenizer, text_or_ids, temperature, top_k, top_p, self.top
        )

    def _draw(self) -> str:
        self.figure = plot_next_token_bars(self.view, title=False)
        return next_token_title(self.view)

    def draw_next(self) -> int:
        """Draw one token from the bars' distribution, append it to the prompt, redraw; return it."""
        temperature, top_k, top_p = self.knobs()
        token = int(next_token(self.view.logits[None], temperature, top_k, top_p, self.generator))
        self.ids = [*self.ids, token]
        self.drawn.append(token)
        self._appending = True
        try:
            self.text.value = self.tokenizer.decode(self.ids)  # redraws through the text's observer
        finally:
            self._appending = False
        return token


class LogitLensExplorer(PromptView):
    """The logit lens of a typed prompt: each layer's guess at every position, coloured by the
    probability of the model's final guess, or of the layer's own guess."""

    css = "ap-lens"

    def __init__(
        self,
        model: LanguageModel,
        tokenizer: Tokenizer,
        text: str,
        color_by: str = "final",
        last: int = 24,
        dpi: float = 96,
    ):
        import ipywidgets as widgets

        super().__init__(model, tokenizer, text, dpi)
        self.last = last
        self.color_by = widgets.ToggleButtons(
            options=[("probability of the final guess", "final"), ("of each layer's own guess", "top")],
            value=color_by,
            description="colour",
            style={"description_width": "90px"},
        )
        self.color_by.observe(lambda change: self.refresh(), names="value")
        self.lens: LogitLens
        self._layout([self.color_by])
        self.color_by.add_class(f"{self.css}-color-by")
        self.refresh()

    def _compute(self) -> None:
        self.lens = logit_lens(self.model, self.tokenizer, self.text.value)

    def _draw(self) -> str:
        self.figure = plot_logit_lens(self.lens, self.color_by.value, self.last, title=False)
        return lens_title(self.lens)


class AttributionExplorer(PromptView):
    """Who wrote the logit: for a position of the prompt (slider) and one of the model's likeliest
    next tokens there (menu), each head's, feed-forward's and the embeddings' share, as bars."""

    css = "ap-attribution"

    def __init__(
        self, model: LanguageModel, tokenizer: Tokenizer, text: str, choices: int = 5, dpi: float = 96
    ):
        import ipywidgets as widgets

        super().__init__(model, tokenizer, text, dpi)
        self.choices = choices
        self.position = widgets.IntSlider(0, min=0, max=0, description="position", **_SLIDER)
        self.token = widgets.Dropdown(description="next token", style=_SLIDER["style"])
        self.attribution: Attribution
        self.next_probs = torch.zeros(0)  # (T, V) the model's next-token probabilities at each position
        self._layout([widgets.HBox([self.position, self.token])])
        self.position.add_class(f"{self.css}-position")
        self.token.add_class(f"{self.css}-token")
        self._quiet = False  # True while the slider and the menu are set for a new prompt or position
        self.position.observe(self._on_position, names="value")
        self.token.observe(self._on_token, names="value")
        self._on_text({"new": text})

    def _on_text(self, change: dict[str, Any]) -> None:
        """A new prompt: the position slider spans it, at its last token, with the model's own guess."""
        try:
            prompt = read_prompt(self.model, self.tokenizer, change["new"])
        except (PlaygroundError, ValueError):
            self.refresh()  # says why
            return
        with evaluating(self.model), torch.no_grad():
            self.next_probs = self.model(prompt.idx)[0][0].float().softmax(-1).cpu()  # (T, V)
        self._quiet = True
        try:
            self.position.max = len(prompt.ids) - 1
            self.position.value = len(prompt.ids) - 1
            self._set_choices()
        finally:
            self._quiet = False
        self.refresh()

    def _set_choices(self) -> None:
        """The menu: the model's likeliest next tokens after the chosen position, its own guess first."""
        probs = self.next_probs[self.position.value]  # (V,)
        ids = probs.topk(min(self.choices, probs.numel())).indices.tolist()
        labels = token_labels(self.tokenizer, ids)
        self.token.options = [
            (f"'{label}' ({probs[i].item():.2f})", i) for label, i in zip(labels, ids, strict=True)
        ]
        self.token.value = ids[0]

    def _on_token(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.refresh()

    def _on_position(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self._set_choices()
        finally:
            self._quiet = False
        self.refresh()

    def _compute(self) -> None:
        self.attribution = direct_logit_attribution(
            self.model, self.tokenizer, self.text.value, self.token.value, self.position.value
        )

    def _draw(self) -> str:
        self.figure = plot_attribution(self.attribution, title=False)
        return attribution_title(self.attribution)
