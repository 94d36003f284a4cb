"""The notebooks' one import for pictures: `from attention_playground import viz`, then `viz.X`.

The numbers come from analysis/; the figures from heatmaps.py, head_views.py and training_plots.py
(attention and training), prediction.py (next token, logit lens, attribution) and embedding_plots.py
(embeddings, forward trace); the widgets that redraw them from explorers.py, prediction_explorers.py
and embedding_explorers.py; export.py writes the attention explorer as one HTML file that needs no
Python (export_explorer).
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
from ..analysis.embeddings import (
    CHARACTER_CLASSES,
    TokenMap,
    character_class,
    neighbour_similarity,
    position_similarity,
    token_map,
)
from ..analysis.lens import Attribution, LogitLens, direct_logit_attribution, logit_lens
from ..analysis.prediction import NextToken, next_token_distribution
from ..analysis.trace import ForwardTrace, TraceStep, trace_forward
from .embedding_explorers import EmbeddingExplorer, TraceExplorer, trace_table_html
from .embedding_plots import (
    plot_position_similarity,
    plot_token_map,
    plot_trace,
    plot_trace_step,
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
from .prediction import (
    attribution_title,
    lens_title,
    next_token_title,
    plot_attribution,
    plot_logit_lens,
    plot_next_token_bars,
)
from .prediction_explorers import AttributionExplorer, LogitLensExplorer, NextTokenExplorer, PromptView
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
    "CHARACTER_CLASSES",
    "MASKED_COLOR",
    "AttentionExplorer",
    "Attribution",
    "AttributionExplorer",
    "EmbeddingExplorer",
    "ForwardTrace",
    "HeadPatterns",
    "HeadSnapshot",
    "HeadView",
    "HeadsFormingExplorer",
    "LogitLens",
    "LogitLensExplorer",
    "NextToken",
    "NextTokenExplorer",
    "PromptAttention",
    "PromptView",
    "TokenMap",
    "TraceExplorer",
    "TraceStep",
    "attention_explorer",
    "attribution_title",
    "character_class",
    "cross_attention_explorer",
    "cross_prompt_attention",
    "direct_logit_attribution",
    "draw_attention",
    "draw_heads_forming",
    "draw_query_bars",
    "draw_step_marker",
    "export_explorer",
    "figure_png",
    "head_patterns",
    "head_view",
    "induction_scores",
    "lens_title",
    "logit_lens",
    "neighbour_similarity",
    "next_token_distribution",
    "next_token_title",
    "plot_alignment",
    "plot_attention",
    "plot_attribution",
    "plot_head_scores",
    "plot_head_view",
    "plot_heads",
    "plot_heads_forming",
    "plot_logit_lens",
    "plot_loss_curves",
    "plot_next_token",
    "plot_next_token_bars",
    "plot_pattern_over_training",
    "plot_phase_change",
    "plot_position_similarity",
    "plot_prompt_heads",
    "plot_softmax_scales",
    "plot_token_map",
    "plot_trace",
    "plot_trace_step",
    "plot_training_curves",
    "position_similarity",
    "prompt_attention",
    "prompt_heads_title",
    "softmax_explorer",
    "token_map",
    "trace_forward",
    "trace_table_html",
    "uniform_attention",
]
