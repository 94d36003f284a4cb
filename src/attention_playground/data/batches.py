"""Tokens cut into what a model trains on: the train/val split, and (context -> next token) batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..errors import DataError


class Splits(NamedTuple):
    train: torch.Tensor
    val: torch.Tensor


def split(data: torch.Tensor, val_fraction: float = 0.1) -> Splits:
    """The first (1 - val_fraction) of the tokens train, the rest validate: no shuffling of text."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction={val_fraction} must be between 0 and 1")
    n = int(len(data) * (1 - val_fraction))
    return Splits(data[:n], data[n:])


def check_long_enough(data: torch.Tensor, block_size: int, name: str = "the corpus") -> None:
    if len(data) < block_size + 1:
        raise DataError(
            f"{name} has {len(data)} tokens, but a batch needs at least block_size + 1 = "
            f"{block_size + 1}: use a longer text or a smaller block_size"
        )


def token_windows(
    data: torch.Tensor, starts: torch.Tensor, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows that begin at `starts`: x = data[i : i+T], y = data[i+1 : i+T+1], each (B, T)."""
    windows = data[starts[:, None] + torch.arange(block_size + 1)]  # (B, T+1): one gather, no loop
    return windows[:, :-1], windows[:, 1:]


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random windows: x = data[i : i+T], y = data[i+1 : i+T+1], each (B, T)."""
    check_long_enough(data, block_size)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    x, y = token_windows(data, starts, block_size)
    return move_batch(x, y, device)


def move_batch(
    x: torch.Tensor, y: torch.Tensor, device: torch.device | str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y on `device` (None: where they are): to_device for a batch of two."""
    x, y = to_device((x, y), device)
    return x, y


def to_device(tensors: Sequence[torch.Tensor], device: torch.device | str | None) -> tuple[torch.Tensor, ...]:
    """Each tensor on `device` (None: where it is); to a GPU through pinned memory, without waiting."""
    if device is None or torch.device(device).type == "cpu":
        return tuple(tensors)
    pin = torch.device(device).type == "cuda"
    return tuple((t.pin_memory() if pin else t).to(device, non_blocking=pin) for t in tensors)
