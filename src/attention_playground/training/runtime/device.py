"""Where tensors live, and how randomness is pinned down."""

from __future__ import annotations

import random

import torch

from ...errors import ConfigError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then the CPU; an explicit request wins and must exist."""
    if requested in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"unknown device {requested!r}: use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {requested!r} was asked for, but this PyTorch sees no CUDA GPU: use cpu or auto"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {requested!r} was asked for, but only {torch.cuda.device_count()} "
            "CUDA GPU(s) are visible"
        )
    if device.type == "mps" and not _mps_available():
        raise ConfigError(
            f"device {requested!r} was asked for, but Apple MPS is not available: use cpu or auto"
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device {requested!r}: use auto, cpu, cuda or mps")
    return device


def set_seed(seed: int) -> torch.Generator:
    """Seed Python and torch, and return a CPU generator to hand to batching and sampling."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
