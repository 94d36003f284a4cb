"""What the bench measures: a step's FLOPs, the machine's matmul rate, memory, loss, the KV cache."""

from __future__ import annotations

import contextlib
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...nn.config import GPTConfig
from ...nn.variants import ExtendedGPT
from ...training.runtime.allocator import trim_freed_memory

LECTURE_SIZED = GPTConfig(vocab_size=65, block_size=256, n_embd=384, n_head=6, n_layer=6)


# ---------------------------------------------------------------------------------------------
# What a step costs, and what the machine can do


def linear_weights(model: nn.Module) -> int:
    """Weights that take part in a matmul: every nn.Linear (embedding lookups and LayerNorms do not)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: ExtendedGPT) -> int:
    """Training FLOPs per token: 6 N + 12 L T C.

    6 N: each of the N Linear weights does a multiply-add (2 FLOPs) per token forward and twice
    that backward. 12 L T C: the attention scores q.k and the weighted sum of values, forward and
    backward, over the full T x T square, as nanoGPT and the PaLM paper count them (causal masking
    makes half of that square unnecessary: counting only the lower half lowers the total by about
    4% for the models here). Element-wise work (ReLU, LayerNorm, softmax, AdamW) is not counted.
    """
    c = model.config
    return 6 * linear_weights(model) + 12 * c.n_layer * c.block_size * c.n_embd


def matmul_probe(sizes: Sequence[int] = (1024, 2048), repeats: int = 3) -> float:
    """GFLOP/s of a large float32 matmul on this machine now: the best size's median of `repeats`."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        torch.mm(a, b, out=out)  # warm up
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            torch.mm(a, b, out=out)
            times.append(time.perf_counter() - began)
        best = max(best, 2 * n**3 / statistics.median(times) / 1e9)
    return best


# ---------------------------------------------------------------------------------------------
# Memory


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    try:
        import resource  # not on Windows
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _proc_status_mb(name: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def start_memory_window() -> float:
    """Free what can be freed, restart the peak-RSS mark where Linux allows it; returns RSS now (MB).

    Linux keeps a process's peak RSS (VmHWM); writing 5 to /proc/self/clear_refs resets it, and
    glibc's malloc_trim hands freed heap back, so the next peak is what the next work needs.
    """
    gc.collect()
    trim_freed_memory()
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    now = _proc_status_mb("VmRSS")
    return now if now is not None else peak_rss_mb()


def memory_window_peak() -> float:
    """Peak RSS (MB) since start_memory_window (or since the start, where it cannot be reset)."""
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else peak_rss_mb()


# ---------------------------------------------------------------------------------------------
# Loss


# ---------------------------------------------------------------------------------------------
# KV cache


@dataclass
class CacheResult:
    """Greedy generation with and without the KV cache, and whether the two agree within a block."""

    config: GPTConfig
    params: int
    plain_tokens_per_s: float
    cached_tokens_per_s: float
    same_within_block: bool
    compared: int  # tokens compared: the first block_size

    @property
    def speedup(self) -> float:
        return self.cached_tokens_per_s / self.plain_tokens_per_s


def time_generation(model: ExtendedGPT, new_tokens: int, use_cache: bool) -> tuple[torch.Tensor, float]:
    idx = torch.zeros((1, 1), dtype=torch.long)  # one newline-ish token as the prompt
    began = time.perf_counter()
    out = model.generate(idx, new_tokens, temperature=0.0, use_cache=use_cache)
    return out, time.perf_counter() - began


def kv_cache_speed(model: ExtendedGPT, new_tokens: int) -> CacheResult:
    """Greedy tokens/s with and without the cache, and whether both agree within block_size."""
    model.eval()
    plain, plain_s = time_generation(model, new_tokens, use_cache=False)
    cached, cached_s = time_generation(model, new_tokens, use_cache=True)
    within = min(model.config.block_size, plain.size(1))
    same = torch.equal(plain[:, :within], cached[:, :within])
    return CacheResult(
        config=model.config,
        params=model.num_params(),
        plain_tokens_per_s=new_tokens / plain_s,
        cached_tokens_per_s=new_tokens / cached_s,
        same_within_block=same,
        compared=within,
    )


def kv_cache_results(trained: ExtendedGPT, new_tokens: int) -> dict[str, CacheResult]:
    """The cache on an untrained model of the lecture's size, and on the cpu preset's trained one."""
    torch.manual_seed(0)
    models = {"lecture-sized (untrained)": ExtendedGPT(LECTURE_SIZED), "cpu preset (trained)": trained}
    return {name: kv_cache_speed(model, new_tokens) for name, model in models.items()}
