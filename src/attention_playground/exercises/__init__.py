"""Your turn: one check per exercise of the notebooks.

A check runs your function or class against the library's reference on small seeded inputs, and
first tests what gives a mistake away (shapes, causality, rows summing to 1, the scores' variance,
shifted targets, the generator). Right: it prints one line saying what it verified. Wrong: it raises
an `ExerciseError` that names the mistake when it knows it, shows the smallest input where it shows,
and gives a hint. A skeleton still raising NotImplementedError prints "not done yet" instead.
`show_solution` shows one answer to one exercise.

    from attention_playground.exercises import check_masked_softmax, show_solution
    check_masked_softmax(my_masked_softmax)
    show_solution("masked_softmax")
"""

from __future__ import annotations

from typing import NamedTuple

from ..course.show import Source, show_source
from ._core import NOT_DONE, ExerciseError
from .attention import (
    check_attend,
    check_attention_scores,
    check_causal_average,
    check_head,
    check_masked_softmax,
)
from .bigram import check_bigram_counts, check_bigram_loss
from .data import check_char_tokenizer, check_get_batch, check_split
from .gpt import check_block, check_feed_forward, check_gpt_forward, check_next_token
from .multihead import check_multi_head, check_split_heads
from .solutions import SOLUTIONS


class Exercise(NamedTuple):
    """One exercise: its check, the notebook it lives in, and what the learner writes."""

    check: object
    notebook: str
    task: str


EXERCISES: dict[str, Exercise] = {
    "check_char_tokenizer": Exercise(check_char_tokenizer, "00", "my_tokenizer(text) -> (encode, decode)"),
    "check_split": Exercise(check_split, "00", "my_split(data, val_fraction) -> (train, val)"),
    "check_get_batch": Exercise(
        check_get_batch, "00", "my_get_batch(data, batch_size, block_size, generator) -> (x, y)"
    ),
    "check_bigram_loss": Exercise(
        check_bigram_loss, "01", "my_bigram_loss(logits (B, T, V), targets (B, T)) -> loss"
    ),
    "check_bigram_counts": Exercise(
        check_bigram_counts, "01", "my_bigram_counts(tokens, vocab_size) -> (V, V) probs"
    ),
    "check_causal_average": Exercise(
        check_causal_average, "02", "my_causal_average(x (B, T, C)) -> (B, T, C)"
    ),
    "check_masked_softmax": Exercise(
        check_masked_softmax, "03", "my_masked_softmax(scores (..., T, T)) -> weights"
    ),
    "check_attention_scores": Exercise(
        check_attention_scores, "03", "my_attention_scores(q, k) -> (..., T, T)"
    ),
    "check_attend": Exercise(check_attend, "04", "my_attend(q, k, v) -> (B, T, hs)"),
    "check_head": Exercise(check_head, "04", "MyHead(n_embd, head_size), forward (B, T, C) -> (B, T, hs)"),
    "check_split_heads": Exercise(
        check_split_heads, "05", "my_split_heads(x (B, T, C), n_head) -> (B, nh, T, hs)"
    ),
    "check_multi_head": Exercise(
        check_multi_head, "05", "MyMultiHead(n_embd, n_head), forward (B, T, C) -> (B, T, C)"
    ),
    "check_feed_forward": Exercise(
        check_feed_forward, "06", "MyFeedForward(n_embd), forward (B, T, C) -> (B, T, C)"
    ),
    "check_block": Exercise(check_block, "06", "MyBlock(config).forward: pre-norm, two residuals"),
    "check_gpt_forward": Exercise(
        check_gpt_forward, "06", "my_gpt_forward(model, idx (B, T)) -> logits (B, T, V)"
    ),
    "check_next_token": Exercise(
        check_next_token, "06", "my_next_token(logits (B, V), temperature, top_k, generator)"
    ),
}


def show_solution(exercise: str) -> Source:
    """One answer to one exercise, by its name ("masked_softmax"), its check's ("check_masked_softmax")
    or the notebook's name for what you write ("my_masked_softmax", "MyHead"); try the exercise first."""
    names = {}
    for check_name, entry in EXERCISES.items():
        short = check_name.removeprefix("check_")
        for name in (short, check_name, entry.check.title):  # type: ignore[attr-defined]
            names[name] = check_name
    if exercise not in names:
        known = ", ".join(repr(name.removeprefix("check_")) for name in EXERCISES)
        raise ValueError(f"there is no exercise called {exercise!r}: name one of {known}")
    return show_source(SOLUTIONS[names[exercise]])


__all__ = ["EXERCISES", "NOT_DONE", "ExerciseError", "show_solution", *EXERCISES]
