"""Where a token stands: the 2017 paper's sinusoidal positions (learned ones are an nn.Embedding)."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(T: int, C: int, start: int = 0) -> torch.Tensor:
    """(T, C) table: PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(pos / 10000^(2i/C))."""
    if C % 2:
        raise ValueError(f"sinusoidal positions need an even number of channels, got C={C}")
    position = torch.arange(start, start + T, dtype=torch.float32)[:, None]  # (T, 1)
    frequency = torch.exp(torch.arange(0, C, 2, dtype=torch.float32) * (-math.log(10000.0) / C))  # (C/2,)
    table = torch.zeros(T, C)
    table[:, 0::2] = torch.sin(position * frequency)  # even channels
    table[:, 1::2] = torch.cos(position * frequency)  # odd channels
    return table
