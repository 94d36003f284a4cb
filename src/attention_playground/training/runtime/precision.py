"""How fast the numbers are computed, never what they are: bf16 autocast, TF32, compile and denormals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matmuls (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(device: torch.device, dtype: str) -> str:
    """'float32' or 'bfloat16': what `dtype` means on `device` ('auto' picks bf16 where it has it)."""
    if dtype == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if cuda_bf16 or cpu_has_fast_bf16() and device.type == "cpu" else "float32"
    return dtype


def autocast_context(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for matmuls where asked for (or 'auto' on a GPU that has it)."""
    if resolve_dtype(device, dtype) == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def enable_tf32(device: torch.device, dtype: str) -> None:
    """What a GPU user expects: TF32 for float32 matmuls on CUDA, unless float32 was asked for exactly."""
    if device.type == "cuda" and dtype != "float32":
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere and later: ~8x the fp32 matmul rate
        torch.backends.cudnn.allow_tf32 = True


def compile_settings() -> contextlib.AbstractContextManager:
    """How torch.compile should split a training step into forward and backward: recompute views.

    Otherwise, because the next matmul's backward saves a *view* of ReLU's output, the partitioner
    also saves ReLU's mask as a bool tensor; inductor's bool store ran 50x slower than a float one
    on an AVX-512 CPU (docs/benchmarks.md), and compiled steps came out 1.2x slower than eager ones.
    Recomputing a view costs nothing, and the mask is then recomputed inside the backward kernel.
    """
    try:  # a private knob: where this PyTorch lacks it, compile as it is
        from torch._functorch import config

        return config.patch(recompute_views=True)
    except (ImportError, AttributeError):
        return contextlib.nullcontext()


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """On the CPU, treat numbers below 1e-38 as zero while training.

    Such "denormal" numbers take a slow path through the CPU (GELU of inputs near zero runs 50x
    slower with them). Losses and weights come out bit for bit the same: they are far above 1e-38.
    """
    if device.type != "cpu" or denormals_flushed() or not torch.set_flush_denormal(True):
        yield  # not a CPU, already on (the caller's setting, left as it is), or not supported
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def denormals_flushed() -> bool:
    """Whether this thread already treats denormal floats as zero (PyTorch has no getter for it)."""
    return (torch.tensor([1e-40]) * 1.0).item() == 0.0  # 1e-40 is a denormal float32
