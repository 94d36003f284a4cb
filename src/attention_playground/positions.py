"""Where a token stands: the 2017 paper's sinusoidal positions, added to the embeddings, and RoPE's
rotations of queries and keys (learned positions are an nn.Embedding in gpt.py)."""

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


def rotary_angles(
    T: int, head_size: int, start: int = 0, device: torch.device | str | None = None
) -> torch.Tensor:
    """(T, hs/2) angles of RoPE: position p turns channel pair i by p / 10000^(2i/hs) radians."""
    if head_size % 2:
        raise ValueError(f"rotary positions need an even head size, got hs={head_size}")
    position = torch.arange(start, start + T, dtype=torch.float32, device=device)[:, None]  # (T, 1)
    frequency = 10000.0 ** (-torch.arange(0, head_size, 2, dtype=torch.float32, device=device) / head_size)
    return position * frequency  # (T, hs/2): fast turns in the first pairs, slow in the last


def rotate_by_position(x: torch.Tensor, start: int = 0) -> torch.Tensor:
    """RoPE (Su et al., 2021): turn each channel pair (2i, 2i+1) of x (..., T, hs) by its position's angle.

    Queries and keys turned this way give q_m·k_n that depends on m - n only: attention sees how far
    apart two tokens are, not where they stand. A rotation keeps every vector's length.
    """
    angles = rotary_angles(x.size(-2), x.size(-1), start, x.device)  # (T, hs/2)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2].float(), x[..., 1::2].float()  # (..., T, hs/2) each: the pairs
    turned = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # (..., T, hs/2, 2)
    return turned.flatten(-2).to(x.dtype)  # (..., T, hs): pairs back in place
