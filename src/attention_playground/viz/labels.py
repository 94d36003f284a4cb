"""Tick labels for heatmaps of tokens: thinned, shortened, the chosen one emphasised."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def thin_labels(
    labels: Sequence[str], side_inches: float, keep: int | None = None
) -> tuple[list[str], float]:
    """Tick labels that fit along a side: a font size, and every k-th label (and `keep`) when crowded."""
    slot = 0.9 * side_inches * 72 / max(len(labels), 1)  # points available per token
    fontsize = min(8.0, slot)
    if fontsize >= 5:
        return list(labels), fontsize
    step = math.ceil(5 / slot)
    shown = [label if i % step == 0 or i == keep else "" for i, label in enumerate(labels)]
    return shown, 5.0


def emphasize_tick(axis: Any, position: int) -> None:
    """Red bold tick label at `position` (the query), where there is one."""
    for tick_position, label in zip(axis.get_ticklocs(), axis.get_ticklabels(), strict=True):
        if tick_position == position:
            label.set(color="C3", fontweight="bold")


def short_label(label: str, limit: int = 8) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
