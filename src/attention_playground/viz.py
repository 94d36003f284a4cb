"""The notebooks' one import for pictures: `from attention_playground import viz`, then `viz.X`.

The code lives in three modules, each depending only on the ones before it:
analysis.py (the numbers) <- plots.py (matplotlib figures) <- explorers.py (ipywidgets sliders).
"""

from .analysis import (
    HeadPatterns,
    HeadView,
    PromptAttention,
    cross_prompt_attention,
    head_patterns,
    head_view,
    prompt_attention,
    uniform_attention,
)
from .explorers import AttentionExplorer, attention_explorer, cross_attention_explorer, softmax_explorer
from .plots import (
    MASKED_COLOR,
    draw_attention,
    draw_query_bars,
    figure_png,
    plot_alignment,
    plot_attention,
    plot_head_view,
    plot_heads,
    plot_loss_curves,
    plot_prompt_heads,
    plot_softmax_scales,
    prompt_heads_title,
)

__all__ = [
    "MASKED_COLOR",
    "AttentionExplorer",
    "HeadPatterns",
    "HeadView",
    "PromptAttention",
    "attention_explorer",
    "cross_attention_explorer",
    "cross_prompt_attention",
    "draw_attention",
    "draw_query_bars",
    "figure_png",
    "head_patterns",
    "head_view",
    "plot_alignment",
    "plot_attention",
    "plot_head_view",
    "plot_heads",
    "plot_loss_curves",
    "plot_prompt_heads",
    "plot_softmax_scales",
    "prompt_attention",
    "prompt_heads_title",
    "softmax_explorer",
    "uniform_attention",
]
