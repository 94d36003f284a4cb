"""Notebook 08's experiments in one namespace (`from attention_playground.course import experiments as
ex`): take a part of the GPT away and train (ablations.py), watch heads form while it trains
(heads_forming.py), and grow induction heads on repeated random tokens (induction.py)."""

from .ablations import (
    ABLATIONS,
    BASE_MODEL,
    BASE_TRAIN,
    DROPOUTS,
    OVERFIT_MODEL,
    OVERFIT_TOKENS,
    AblationResult,
    ablation_table,
    overfit_splits,
    run_ablation,
    run_ablations,
    run_dropout_ablations,
)
from .heads_forming import (
    FORMING_MODEL,
    FORMING_PROMPT,
    FORMING_TRAIN,
    HeadRecorder,
    HeadsForming,
    first_step_above,
    train_watching_heads,
)
from .induction import (
    InductionConfig,
    InductionRecorder,
    InductionResult,
    crossing_step,
    letters_tokenizer,
    phase_change,
    repeated_tokens,
    train_induction,
)

__all__ = [
    "ABLATIONS",
    "BASE_MODEL",
    "BASE_TRAIN",
    "DROPOUTS",
    "FORMING_MODEL",
    "FORMING_PROMPT",
    "FORMING_TRAIN",
    "OVERFIT_MODEL",
    "OVERFIT_TOKENS",
    "AblationResult",
    "HeadRecorder",
    "HeadsForming",
    "InductionConfig",
    "InductionRecorder",
    "InductionResult",
    "ablation_table",
    "crossing_step",
    "first_step_above",
    "letters_tokenizer",
    "overfit_splits",
    "phase_change",
    "repeated_tokens",
    "run_ablation",
    "run_ablations",
    "run_dropout_ablations",
    "train_induction",
    "train_watching_heads",
]
