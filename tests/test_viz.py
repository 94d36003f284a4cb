"""The plotting functions, without a kernel: what each figure shows, read back from the figure."""

import ast
from pathlib import Path

import matplotlib
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from attention_playground import History, masked_softmax
from attention_playground.viz import (
    HeadPatterns,
    PromptAttention,
    draw_attention,
    head_patterns,
    head_view,
    plot_attention,
    plot_head_view,
    plot_heads,
    plot_loss_curves,
    plot_prompt_heads,
    plot_softmax_scales,
    softmax_explorer,
    uniform_attention,
)

matplotlib.use("Agg")

RED = to_rgba("red")


def random_scores(L: int = 2, nh: int = 3, T: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(L, nh, T, T, generator=torch.Generator().manual_seed(seed))


def outlined_rows(ax) -> list[int]:
    """Rows that draw_attention outlined: red unfilled rectangles, one row tall."""
    return [
        round(p.get_y() + 0.5)
        for p in ax.patches
        if isinstance(p, Rectangle) and not p.get_fill() and p.get_edgecolor() == RED and p.get_height() == 1
    ]


# --- head_view: the numbers behind the explorer's picture -------------------------------------------


def test_head_view_is_the_masked_softmax_of_one_head():
    scores = random_scores()
    labels = list("abcdef")
    view = head_view(scores, labels, layer=1, head=2, query=4)
    expected = masked_softmax(scores[1, 2])
    torch.testing.assert_close(view.weights, expected)
    torch.testing.assert_close(view.scores, scores[1, 2])
    torch.testing.assert_close(view.weights.sum(-1), torch.ones(6))
    upper = torch.ones(6, 6, dtype=torch.bool).triu(1)
    assert (view.weights[upper] == 0).all(), "no weight on the future"
    assert torch.isneginf(view.masked_scores[upper]).all()
    torch.testing.assert_close(view.masked_scores[~upper], scores[1, 2][~upper])
    assert (view.layer, view.head, view.query, view.labels) == (1, 2, 4, labels)


def test_head_view_top_tokens_and_title():
    scores = torch.full((1, 1, 4, 4), -5.0)
    scores[0, 0, 3, 1] = 5.0  # query 3 reads key 1 ("b") almost only
    view = head_view(scores, ["a", "b", "␣", "d"], query=3, top_k=2)
    assert view.top[0][:2] == (1, "b") and view.top[0][2] > 0.99
    assert len(view.top) == 2 and view.top[0][2] >= view.top[1][2]
    assert view.title.startswith("layer 0, head 0: query 'd' (position 3) reads 'b' 1.00")
    # an early query can read at most query + 1 tokens
    assert len(head_view(scores, ["a", "b", "␣", "d"], query=0, top_k=3).top) == 1


def test_head_view_defaults_to_the_last_query():
    assert head_view(random_scores(T=5), list("abcde")).query == 4


def test_lower_temperature_is_sharper_and_one_is_the_models():
    scores = random_scores()
    labels = list("abcdef")
    at_one = head_view(scores, labels, 0, 0, 5, temperature=1.0)
    torch.testing.assert_close(at_one.weights, masked_softmax(scores[0, 0]))
    maxima = [head_view(scores, labels, 0, 0, 5, temperature=t).weights[5].max() for t in (4.0, 1.0, 0.25)]
    assert maxima[0] < maxima[1] < maxima[2]
    assert "temperature 0.25" in head_view(scores, labels, 0, 0, 5, temperature=0.25).title


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": 2}, "layer=2"),
        ({"head": -1}, "head=-1"),
        ({"query": 6}, "query=6"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_head_view_rejects_out_of_range_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        head_view(random_scores(), list("abcdef"), **kwargs)


def test_head_view_needs_one_label_per_token():
    with pytest.raises(ValueError, match="labels"):
        head_view(random_scores(), list("abc"))


# --- plot_head_view: the explorer's "one head" picture ----------------------------------------------


def test_plot_head_view_axes_titles_and_highlighted_row():
    view = head_view(random_scores(), list("ab␣de⏎"), layer=1, head=2, query=3)
    fig = plot_head_view(view)
    assert isinstance(fig, Figure)
    raw, masked, weights, bars, scores_bar, weights_bar = fig.axes  # 3 heatmaps, bars, 2 colorbars
    assert raw.get_title() == "scores q·k/√hs"
    assert masked.get_title().startswith("after the causal mask")
    assert weights.get_title() == "softmax weights (temperature 1)"
    assert bars.get_title() == "what query 'd' (position 3) reads"
    assert fig._suptitle.get_text() == view.title
    for ax in (raw, masked, weights):
        assert outlined_rows(ax) == [3], "the query's row is outlined in red"
        assert [t.get_text() for t in ax.get_xticklabels()] == list("ab␣de⏎")
    # the heatmaps show exactly the view's tensors (-inf as a blank, masked cell)
    torch.testing.assert_close(torch.as_tensor(weights.images[0].get_array().data), view.weights)
    shown_masked = torch.as_tensor(masked.images[0].get_array().filled(float("nan")))
    assert torch.isnan(shown_masked[torch.ones(6, 6, dtype=torch.bool).triu(1)]).all()
    # bars: the query's row of weights, the top tokens in red, the query's own label in red
    heights = torch.tensor(
        [p.get_height() for p in bars.patches if p.get_width() == 0.8], dtype=torch.float32
    )
    torch.testing.assert_close(heights, view.weights[3])
    query_label = [t for t in bars.get_xticklabels() if t.get_text() == "d"][0]
    assert query_label.get_color() == "C3"


def test_plot_head_view_without_title_and_the_all_heads_view():
    scores = random_scores()
    view = head_view(scores, list("abcdef"), 1, 2, 4)
    assert plot_head_view(view, title=False)._suptitle is None
    prompt = PromptAttention([0] * 6, list("abcdef"), scores, masked_softmax(scores), "")
    fig = plot_prompt_heads(prompt, temperature=0.5, highlight=(1, 2), highlight_query=4)
    assert len(fig.axes) == 2 * 3
    expected = "every head's softmax weights at temperature 0.5; layer 1, head 2 framed in red; "
    assert fig._suptitle.get_text() == expected + "query 'e' (position 4) outlined"
    shown = torch.as_tensor(fig.axes[5].images[0].get_array().data)
    torch.testing.assert_close(shown, masked_softmax(scores[1, 2], temperature=0.5))
    assert plot_prompt_heads(prompt, title=False)._suptitle is None


def test_plot_head_view_long_prompts_thin_their_heatmap_labels_but_keep_the_query():
    T = 64
    labels = [chr(ord("a") + i % 26) for i in range(T)]
    view = head_view(random_scores(1, 1, T), labels, query=37)
    raw, _, _, bars = plot_head_view(view).axes[:4]
    ticks = [int(t) for t in raw.get_yticks()]
    assert 37 in ticks and len(ticks) < T
    assert len(bars.get_xticks()) == T, "the wide bar chart labels every token"


def test_plot_head_view_rotates_multi_character_labels():
    labels = ["First", "␣Citizen", ":", "⏎"]
    fig = plot_head_view(head_view(random_scores(1, 1, 4), labels))
    assert fig.axes[0].get_xticklabels()[1].get_rotation() == 90
    one_char = plot_head_view(head_view(random_scores(1, 1, 4), list("abcd")))
    assert one_char.axes[0].get_xticklabels()[1].get_rotation() == 0


# --- the older plots, still working -----------------------------------------------------------------


def test_plot_attention_one_heatmap_with_labels_and_highlight():
    weights = masked_softmax(torch.randn(5, 5))
    fig = plot_attention(weights, list("hello"), title="one head", highlight_query=2)
    (ax,) = fig.axes
    assert ax.get_title() == "one head"
    assert outlined_rows(ax) == [2]
    assert [t.get_text() for t in ax.get_yticklabels()] == list("hello")


def test_draw_attention_draws_minus_infinity_as_masked_cells():
    fig = Figure()
    ax = fig.subplots()
    scores = torch.randn(3, 3).masked_fill(~torch.ones(3, 3, dtype=torch.bool).tril(), float("-inf"))
    draw_attention(ax, scores, cmap="RdBu_r", vmin=-2, vmax=2)
    shown = ax.images[0].get_array()
    assert shown.mask[0, 1] and not shown.mask[1, 0]


def test_plot_heads_grid_titles_and_highlights():
    weights = masked_softmax(random_scores(L=2, nh=3))
    fig = plot_heads(weights, list("abcdef"), title="all", highlight=(1, 2), highlight_query=4)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["layer 0 head 0", "layer 0 head 1", "layer 0 head 2"]
    framed = [ax.get_title() for ax in fig.axes if ax.spines["left"].get_edgecolor() == RED]
    assert framed == ["layer 1 head 2"]
    assert all(outlined_rows(ax) == [4] for ax in fig.axes)
    one_layer = plot_heads(weights[0])
    assert [ax.get_title() for ax in one_layer.axes] == ["head 0", "head 1", "head 2"]


def test_plot_loss_curves_and_softmax_scales():
    history = History(
        step_losses=[4.2, 3.0, 2.5], eval_steps=[1, 2], train_loss=[3.1, 2.6], val_loss=[3.2, 2.7]
    )
    fig = plot_loss_curves({"a": history, "b": history})
    assert fig.axes[0].get_legend() is not None
    fig = plot_softmax_scales(torch.tensor([1.0, 2.0, 3.0]), scales=(1.0, 4.0))
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("softmax(4 x scores)")


def test_softmax_explorer_callback_draws_the_chosen_scale(capsys):
    explorer = softmax_explorer(torch.tensor([1.0, 2.0, 3.0]))
    explorer.children[0].value = 4.0
    assert explorer.result.axes[0].get_title().startswith("softmax(4 x scores)")


# --- head_patterns: the numbers the notebook prints -------------------------------------------------


def test_head_patterns_of_known_heads():
    T = 5
    labels = ["a", "␣", "b", "⏎", "c"]
    previous = torch.zeros(T, T)
    previous[0, 0] = 1.0
    previous[torch.arange(1, T), torch.arange(T - 1)] = 1.0  # each token reads the one before it
    first = torch.zeros(T, T)
    first[:, 0] = 1.0  # every token reads the first
    patterns = head_patterns(torch.stack([previous, first])[None], labels)  # (1, 2, T, T)
    assert isinstance(patterns, HeadPatterns)
    torch.testing.assert_close(patterns.previous, torch.tensor([[1.0, 0.25]]))
    torch.testing.assert_close(patterns.first, torch.tensor([[0.25, 1.0]]))
    torch.testing.assert_close(patterns.itself, torch.tensor([[0.0, 0.0]]))
    torch.testing.assert_close(patterns.space, torch.tensor([[0.25, 0.0]]))  # query 2 reads "␣"
    torch.testing.assert_close(patterns.newline, torch.tensor([[0.25, 0.0]]))  # query 4 reads "⏎"
    assert patterns.strongest("previous") == (0, 0, 1.0)
    assert patterns.strongest("first") == (0, 1, 1.0)


def test_head_patterns_uniform_baseline_and_table():
    labels = list("ab␣cd")
    baseline = head_patterns(uniform_attention(5), labels)
    expected_previous = sum(1 / (t + 1) for t in range(1, 5)) / 4  # query t spreads 1 over t + 1 keys
    assert baseline.previous.item() == pytest.approx(expected_previous)
    torch.testing.assert_close(baseline.previous, baseline.first)
    table = head_patterns(masked_softmax(random_scores(T=5)), labels).table(baseline)
    lines = table.splitlines()
    assert lines[0].split() == ["previous", "first", "itself", "space", "newline"]
    assert len(lines) == 1 + 2 * 3 + 1
    assert lines[1].startswith("layer 0 head 0") and lines[-1].startswith("uniform")


def test_head_patterns_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        head_patterns(torch.ones(1, 1), ["a"])


def module_tree(module) -> ast.Module:
    return ast.parse(Path(module.__file__).read_text(encoding="utf-8"))


def imported_siblings(module) -> set[str]:
    """The attention_playground modules that `module` imports (from .x import ...)."""
    return {n.module for n in ast.walk(module_tree(module)) if isinstance(n, ast.ImportFrom) and n.level == 1}


def defined_names(module) -> set[str]:
    """The names a module defines at its top level (not those it imports)."""
    names = set()
    for node in module_tree(module).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def test_viz_is_a_facade_over_numbers_then_plots_then_widgets():
    from attention_playground import viz
    from attention_playground.analysis import attention_maps, embeddings, lens, prediction, trace
    from attention_playground.viz import (
        embedding_explorers,
        embedding_plots,
        explorers,
        export,
        head_views,
        heatmaps,
        prediction_explorers,
        training_plots,
    )
    from attention_playground.viz import prediction as prediction_plots

    numbers = (attention_maps, embeddings, lens, prediction, trace)
    figures = (heatmaps, head_views, training_plots, prediction_plots, embedding_plots)
    widgets = (explorers, prediction_explorers, embedding_explorers, export)
    assert defined_names(viz) == {"__all__"}, "viz only re-exports"
    for name in viz.__all__:
        homes = [m for m in (*numbers, *figures, *widgets) if name in defined_names(m)]
        assert len(homes) == 1, f"viz.{name} is defined in exactly one module, not {homes}"
        assert getattr(viz, name) is getattr(homes[0], name)
    public = {
        n for m in (attention_maps, *figures, explorers, prediction_explorers, embedding_explorers)
        for n in defined_names(m) if not n.startswith("_")
    }  # fmt: skip
    assert public <= set(viz.__all__), "every public figure and widget (and attention number) is viz.<name>"
    drawing = {
        "heatmaps", "head_views", "training_plots", "prediction", "explorers", "prediction_explorers",
        "embedding_plots", "embedding_explorers", "export",
    }  # fmt: skip
    for module in numbers:
        assert not drawing & imported_siblings(module) - {"prediction"}, (
            f"{module.__name__}: numbers draw nothing"
        )
        assert "matplotlib" not in Path(module.__file__).read_text(encoding="utf-8")
    for module in figures:
        assert not {"explorers", "prediction_explorers", "embedding_explorers"} & imported_siblings(module), (
            f"{module.__name__}: figures know no widgets"
        )
