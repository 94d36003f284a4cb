"""The notebooks' one import for pictures: `from attention_playground import viz`, then `viz.X`.

The numbers come from analysis/; the pictures from heatmaps.py, head_views.py and training_plots.py
(matplotlib figures); explorers.py puts ipywidgets sliders on them; export.py writes the explorer as
one HTML file that needs no Python (export_explorer).
"""

from ..analysis.attention_maps import (
    HeadPatterns,
    HeadSnapshot,
    HeadView,
    PromptAttention,
    cross_prompt_attention,
    head_patterns,
    head_view,
    induction_scores,
    prompt_attention,
    uniform_attention,
)
from .explorers import (
    AttentionExplorer,
    HeadsFormingExplorer,
    attention_explorer,
    cross_attention_explorer,
    softmax_explorer,
)
from .export import export_explorer
from .head_views import (
    plot_alignment,
    plot_head_scores,
    plot_head_view,
    plot_next_token,
    plot_prompt_heads,
    prompt_heads_title,
)
from .heatmaps import (
    MASKED_COLOR,
    draw_attention,
    draw_query_bars,
    figure_png,
    plot_attention,
    plot_heads,
    plot_softmax_scales,
)
from .training_plots import (
    draw_heads_forming,
    draw_step_marker,
    plot_heads_forming,
    plot_loss_curves,
    plot_pattern_over_training,
    plot_phase_change,
    plot_training_curves,
)

__all__ = [
    "MASKED_COLOR",
    "AttentionExplorer",
    "HeadPatterns",
    "HeadSnapshot",
    "HeadView",
    "HeadsFormingExplorer",
    "PromptAttention",
    "attention_explorer",
    "cross_attention_explorer",
    "cross_prompt_attention",
    "draw_attention",
    "draw_heads_forming",
    "draw_query_bars",
    "draw_step_marker",
    "export_explorer",
    "figure_png",
    "head_patterns",
    "head_view",
    "induction_scores",
    "plot_alignment",
    "plot_attention",
    "plot_head_scores",
    "plot_head_view",
    "plot_heads",
    "plot_heads_forming",
    "plot_loss_curves",
    "plot_next_token",
    "plot_pattern_over_training",
    "plot_phase_change",
    "plot_prompt_heads",
    "plot_softmax_scales",
    "plot_training_curves",
    "prompt_attention",
    "prompt_heads_title",
    "softmax_explorer",
    "uniform_attention",
]
