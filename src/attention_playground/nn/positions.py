"""Sinusoidal positions, "Attention Is All You Need" (2017), as in Canziani's notebook:

    PE[pos, 2i] = sin(pos / 10000^(2i/C)),   PE[pos, 2i+1] = cos(pos / 10000^(2i/C))

Each pair of channels is a clock at its own speed, from one turn every 2π positions (i = 0) to one
every 2π·10000 (i = C/2): no parameters, any length, and a fixed shift of position is a rotation of
each pair, so "k positions before me" is the same linear map at every position.

RoPE (rotate_by_position) turns queries and keys by their positions instead of adding a table.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def sinusoidal_positions(T: int, C: int, start: int = 0, base: float = 10000.0) -> torch.Tensor:
    """(T, C) table for positions start..start+T-1: sines in even channels, cosines in odd ones."""
    if T < 1 or C < 1:
        raise ConfigError(f"need T >= 1 positions and C >= 1 channels, got T={T}, C={C}")
    position = torch.arange(start, start + T, dtype=torch.float64)[:, None]  # (T, 1)
    frequency = base ** (-torch.arange(0, C, 2, dtype=torch.float64) / C)  # (ceil(C/2),) = 10000^(-2i/C)
    angle = position * frequency  # (T, ceil(C/2))
    table = torch.zeros(T, C, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : C // 2])  # an odd C has one more sine than cosines
    return table.float()


class SinusoidalPositions(nn.Module):
    """The table as a module: positions start..start+T-1 -> (T, C). A buffer, not a parameter."""

    table: torch.Tensor

    def __init__(self, max_len: int, n_embd: int):
        super().__init__()
        # not saved in the state dict: it is the same formula every time
        self.register_buffer("table", sinusoidal_positions(max_len, n_embd), persistent=False)

    def forward(self, T: int, start: int = 0) -> torch.Tensor:
        if start + T > self.table.size(0):
            raise ConfigError(
                f"positions up to {start + T} asked of a table of {self.table.size(0)}: make it longer"
            )
        return self.table[start : start + T]  # (T, C)


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
    apart two tokens are, not where they stand. A rotation keeps every vector's length. Read as the
    complex number x_2i + i·x_2i+1, a pair is turned by θ when multiplied by e^(iθ) = cos θ + i·sin θ:
    one multiplication (a third of the time of the sines and cosines written out).
    """
    angles = rotary_angles(x.size(-2), x.size(-1), start, x.device)  # (T, hs/2)
    turns = torch.polar(torch.ones_like(angles), angles)  # (T, hs/2): e^(iθ), one per pair
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))  # (..., T, hs/2): the pairs
    return torch.view_as_real(pairs * turns).flatten(-2).to(x.dtype)  # (..., T, hs): pairs back in place
