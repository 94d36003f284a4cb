"""`attention-playground bench`: how fast this machine trains and samples, measured, never assumed.

Two training runs share one process and take turns in slices of about a second, so both see the
same machine (a shared laptop or CI box speeds up and slows down by 20% and more over a minute):

- reference: our GPT with the public nanoGPT "CPU/MacBook" recipe for character-level Tiny
  Shakespeare (4 layers, 4 heads, 128 channels, block 64, batch 12, AdamW lr 1e-3 with 100 warmup
  steps and cosine decay to 1e-4 over 2000 steps, no dropout, float32, 20 eval batches every 250).
  nanoGPT itself reports val loss 1.886 at step 2000 with it.
- cpu preset: the `cpu` preset of this package, the fastest recipe we found (docs/benchmarks.md).

For each it prints ms per step (median), tokens/s, achieved GFLOP/s and MFU against a float32
matmul probe timed in between the slices, the process's peak memory, the val loss at every
evaluation, and the wall time to reach val loss 1.886. Then the KV cache: tokens/s for 1,000 new
tokens with and without it. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import PRESETS, GPTConfig, TrainConfig
from .data import Splits, load_text, split
from .gpt import GPT
from .tokenizers import encode_corpus, get_tokenizer
from .training import Trainer, cpu_has_fast_bf16, resolve_dtype

TARGET_VAL_LOSS = 1.886  # nanoGPT's val loss after the reference recipe's 2000 steps

REFERENCE = (
    GPTConfig(vocab_size=65, block_size=64, n_embd=128, n_head=4, n_layer=4, dropout=0.0, bias=False),
    TrainConfig(
        batch_size=12, max_iters=2000, eval_interval=250, eval_iters=20, learning_rate=1e-3,
        warmup=100, min_lr=1e-4, weight_decay=0.1, grad_clip=1.0, dtype="float32", device="cpu",
    ),
)  # fmt: skip

LECTURE_SIZED = GPTConfig(vocab_size=65, block_size=256, n_embd=384, n_head=6, n_layer=6)


# ---------------------------------------------------------------------------------------------
# What a step costs, and what the machine can do


def linear_weights(model: nn.Module) -> int:
    """Weights that take part in a matmul: every nn.Linear (embedding lookups and LayerNorms do not)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: GPT) -> int:
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
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    now = _proc_status_mb("VmRSS")
    return now if now is not None else peak_rss_mb()


def memory_window_peak() -> float:
    """Peak RSS (MB) since start_memory_window (or since the start, where it cannot be reset)."""
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else peak_rss_mb()


@torch.no_grad()
def split_loss(model: nn.Module, data: torch.Tensor, block_size: int, max_tokens: int | None = None) -> float:
    """Mean next-token loss over the whole split, cut into back-to-back windows of block_size.

    The same quantity estimate_loss samples with random windows, without its sampling noise.
    """
    was_training = model.training
    model.eval()
    data = data if max_tokens is None else data[: max_tokens + 1]
    n = (len(data) - 1) // block_size
    offsets = torch.arange(block_size + 1)
    total = 0.0
    for first in range(0, n, 256):
        starts = torch.arange(first, min(n, first + 256)) * block_size
        windows = data[starts[:, None] + offsets]  # (B, T + 1)
        _, loss = model(windows[:, :-1], windows[:, 1:])
        total += loss.item() * len(starts)
    model.train(was_training)
    return total / n


# ---------------------------------------------------------------------------------------------
# Training runs, interleaved


@dataclass
class Run:
    name: str
    model_config: GPTConfig
    train_config: TrainConfig
    stop_at: int  # steps to run (max_iters, or fewer for --quick: the schedule stays the same)
    model: GPT = field(init=False)
    trainer: Trainer = field(init=False)
    rss_before: float = 0.0  # MB, at the start of its first slice
    rss_peak: float = 0.0  # MB, the process's peak during its first slice
    full_val: float = float("nan")

    def start(self, splits: Splits) -> None:
        torch.manual_seed(self.train_config.seed)
        self.model = GPT(self.model_config)
        self.trainer = Trainer(self.model, splits, self.train_config)

    @property
    def done(self) -> bool:
        return self.trainer.step >= self.stop_at

    def reached(self, target: float) -> tuple[int, float] | None:
        """(step, seconds) of the first evaluation with val loss <= target, if any."""
        h = self.trainer.history
        for step, val, seconds in zip(h.eval_steps, h.val_loss, h.eval_seconds, strict=True):
            if val <= target:
                return step + 1, seconds
        return None


def interleave(runs: list[Run], slice_seconds: float, probe: Callable[[], None], probe_every: float) -> None:
    """Advance the run that has used the least time, a slice at a time, until all are done."""
    since_probe = 0.0
    while True:
        waiting = [r for r in runs if not r.done]
        if not waiting:
            return
        run = min(waiting, key=lambda r: r.trainer.history.seconds)
        first = run.trainer.step == 0
        if first:
            run.rss_before = start_memory_window()
        before = run.trainer.history.seconds
        run.trainer.run(steps=run.stop_at - run.trainer.step, seconds=slice_seconds)
        if first:
            run.rss_peak = memory_window_peak()
        since_probe += run.trainer.history.seconds - before
        if since_probe >= probe_every:
            probe()
            since_probe = 0.0


def warm_up(splits: Splits) -> None:
    """Two throwaway steps of a small model: first-call costs go here, not into a run's figures."""
    config = TrainConfig(batch_size=4, max_iters=2, eval_interval=2, eval_iters=1, device="cpu")
    torch.manual_seed(0)
    Trainer(GPT(GPTConfig(block_size=16, n_embd=32, n_head=2, n_layer=1)), splits, config).run()


# ---------------------------------------------------------------------------------------------
# KV cache


@dataclass
class CacheResult:
    name: str
    config: GPTConfig
    plain_tokens_per_s: float
    cached_tokens_per_s: float
    same_within_block: bool
    compared: int


def time_generation(model: GPT, new_tokens: int, use_cache: bool) -> tuple[torch.Tensor, float]:
    idx = torch.zeros((1, 1), dtype=torch.long)  # one newline-ish token as the prompt
    began = time.perf_counter()
    out = model.generate(idx, new_tokens, temperature=0.0, use_cache=use_cache)
    return out, time.perf_counter() - began


def kv_cache_speed(name: str, model: GPT, new_tokens: int) -> CacheResult:
    """Greedy tokens/s with and without the cache, and whether both agree within block_size."""
    model.eval()
    plain, plain_s = time_generation(model, new_tokens, use_cache=False)
    cached, cached_s = time_generation(model, new_tokens, use_cache=True)
    within = min(model.config.block_size, plain.size(1))
    same = torch.equal(plain[:, :within], cached[:, :within])
    return CacheResult(name, model.config, new_tokens / plain_s, new_tokens / cached_s, same, within)


# ---------------------------------------------------------------------------------------------
# The report


def _shape(c: GPTConfig) -> str:
    return f"{c.n_layer}L {c.n_head}H {c.n_embd}C T{c.block_size}"


def _table(rows: list[list[str]], out: Callable[[str], None]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        first, *rest = row
        out("  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]))


def run_bench(
    quick: bool = False,
    *,
    compile: bool = False,
    steps: int | None = None,
    kv_tokens: int | None = None,
    probe_sizes: Sequence[int] = (1024, 2048),
    val_tokens: int | None = None,
    slice_seconds: float = 1.0,
    out: Callable[[str], None] = print,
) -> dict:
    """Run the benchmark and print it; returns the figures as a dict.

    quick: the same two recipes, stopped after 200 and 100 steps (their schedules unchanged), and
    200 new tokens for the KV cache. compile: both runs torch.compile their model. steps /
    kv_tokens / probe_sizes / val_tokens shrink it further (the tests use them).
    """
    began = time.perf_counter()
    preset = PRESETS["cpu"]
    text = load_text("tinyshakespeare")
    tokenizer = get_tokenizer("char", text)
    splits = split(encode_corpus(text, tokenizer))
    ref_model, ref_train = REFERENCE
    cpu_model = preset.model_config(tokenizer.vocab_size)
    cpu_train = dataclasses.replace(preset.train, device="cpu")
    if compile:
        ref_train = dataclasses.replace(ref_train, compile=True)
        cpu_train = dataclasses.replace(cpu_train, compile=True)
    ref_stop, cpu_stop = ref_train.max_iters, cpu_train.max_iters
    if quick:
        ref_stop, cpu_stop = 200, 100
    if steps is not None:
        ref_stop, cpu_stop = min(ref_stop, steps), min(cpu_stop, steps)
    if ref_stop < ref_train.max_iters or cpu_stop < cpu_train.max_iters:  # evaluate within the steps run
        ref_train = dataclasses.replace(ref_train, eval_interval=max(1, ref_stop // 2))
        cpu_train = dataclasses.replace(cpu_train, eval_interval=max(1, cpu_stop // 2))
    kv_tokens = kv_tokens if kv_tokens is not None else (200 if quick else 1000)

    bf16 = "yes" if cpu_has_fast_bf16() else "no"
    flags = (" --quick" if quick else "") + (" --compile" if compile else "")
    out(
        f"attention-playground bench{flags}: torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.machine()} {platform.processor() or ''}".rstrip()
        + f", native bf16 matmuls: {bf16}"
    )
    out(
        "Tiny Shakespeare, char tokens. Two runs in one process take turns in ~1 s slices, so both see "
        "the same machine;\neach run's wall time counts only its own slices (training steps and its own "
        "evaluations),\nnot model setup, the other run, the matmul probes, or the untimed full-split val."
        + ("\n--compile: both runs are torch.compiled; compiling is in their wall time and first step, "
           "not in ms/step (a median)." if compile else "")
    )  # fmt: skip
    probes: list[float] = []

    def probe() -> None:
        probes.append(matmul_probe(probe_sizes))

    warm_up(splits)  # library start-up costs (thread pools, MKL buffers) land on no run
    probe()
    runs = [
        Run("reference", ref_model, ref_train, ref_stop),
        Run("cpu preset", cpu_model, cpu_train, cpu_stop),
    ]
    for run in runs:
        run.start(splits)
        t = run.train_config
        out(
            f"  {run.name}: {_shape(run.model_config)}, {run.model.num_params() / 1e6:.2f}M params, batch "
            f"{t.batch_size}, AdamW lr {t.learning_rate:g} (warmup {t.warmup}, cosine to {t.min_lr:g} at "
            f"step {t.max_iters}), {run.stop_at} steps, {t.eval_iters} eval batches every {t.eval_interval}"
        )
    out("training both runs" + (" (about 2-3 minutes on 2 cores)..." if ref_stop >= 2000 else "..."))
    interleave(runs, slice_seconds, probe, probe_every=10.0)
    probe()
    for run in runs:
        run.full_val = split_loss(run.model, splits.val, run.model_config.block_size, val_tokens)
    peak = statistics.median(probes)

    out("")
    out(
        f"matmul probe: float32 {'/'.join(f'{n}^3' for n in probe_sizes)}, best size's median, "
        f"{len(probes)} probes during the runs: median {peak:.1f} GFLOP/s "
        f"(range {min(probes):.1f}-{max(probes):.1f})"
    )
    out("FLOPs per token = 6*N + 12*L*T*C (N: Linear weights; attention's full T*T square, as nanoGPT/PaLM)")
    out("")
    rows = [
        ["run", "model", "batch", "lr", "dtype", "steps", "ms/step", "tokens/s", "GFLOP/s", "MFU",
         "RSS MB", "wall s", "val", "full val", f"val<={TARGET_VAL_LOSS}"],
    ]  # fmt: skip
    results = {"probe_gflops": peak, "probes": probes, "runs": {}, "kv_cache": {}}
    for run in runs:
        h = run.trainer.history
        ms = statistics.median(h.step_seconds) * 1e3
        tokens_per_s = run.train_config.batch_size * run.model_config.block_size / (ms / 1e3)
        gflops = flops_per_token(run.model) * tokens_per_s / 1e9
        hit = run.reached(TARGET_VAL_LOSS)
        dtype = resolve_dtype(torch.device("cpu"), run.train_config.dtype)
        dtype += " compiled" if run.train_config.compile else ""
        rss = run.rss_peak - run.rss_before
        rows.append([
            run.name, _shape(run.model_config), str(run.train_config.batch_size),
            f"{run.train_config.learning_rate:g}", dtype, str(run.trainer.step), f"{ms:.1f}",
            f"{tokens_per_s:,.0f}", f"{gflops:.1f}", f"{gflops / peak:.0%}", f"+{rss:.0f}",
            f"{h.seconds:.1f}", f"{h.val_loss[-1]:.4f}", f"{run.full_val:.4f}",
            f"{hit[1]:.1f} s (step {hit[0]})" if hit else "not reached",
        ])  # fmt: skip
        results["runs"][run.name] = {
            "ms_per_step": ms, "tokens_per_s": tokens_per_s, "gflops": gflops, "mfu": gflops / peak,
            "seconds": h.seconds, "val": h.val_loss[-1], "full_val": run.full_val,
            "reached": hit, "eval_steps": h.eval_steps, "val_loss": h.val_loss,
            "eval_seconds": h.eval_seconds, "steps": run.trainer.step,
        }  # fmt: skip
    _table(rows, out)
    out(
        "RSS MB: how far the process's resident memory peaked above where it was when the run's first "
        f"slice began\n(activations, gradients, optimizer state); the whole process peaked at "
        f"{peak_rss_mb():.0f} MB, torch included.\nfull val: the whole val split in back-to-back "
        "windows of block_size (untimed)."
    )

    out("")
    out("val loss at each evaluation (seconds of the run so far, its evaluations included)")
    by_step: dict[int, dict[str, str]] = {}
    for run in runs:
        h = run.trainer.history
        for step, val, seconds in zip(h.eval_steps, h.val_loss, h.eval_seconds, strict=True):
            by_step.setdefault(step + 1, {})[run.name] = f"{val:.4f} ({seconds:5.1f} s)"
    rows = [["step", *(r.name for r in runs)]]
    rows += [[str(s), *(by_step[s].get(r.name, "") for r in runs)] for s in sorted(by_step)]
    _table(rows, out)
    ref_hit, cpu_hit = runs[0].reached(TARGET_VAL_LOSS), runs[1].reached(TARGET_VAL_LOSS)
    ref_seconds = ref_hit[1] if ref_hit else runs[0].trainer.history.seconds
    if cpu_hit:
        ratio = cpu_hit[1] / ref_seconds
        results["time_ratio"] = ratio
        label = "its time to reach it" if ref_hit else "its full run (it did not reach it)"
        out(
            f"cpu preset reached val <= {TARGET_VAL_LOSS} in {cpu_hit[1]:.1f} s = {ratio:.2f}x the "
            f"reference's {ref_seconds:.1f} s ({label})"
        )
    else:
        out(f"cpu preset did not reach val <= {TARGET_VAL_LOSS} in the steps run")

    out("")
    out(f"KV cache: {kv_tokens:,} new tokens, greedy, batch 1, untrained weights except the cpu preset's")
    rows = [["model", "params", "no cache tok/s", "cache tok/s", "speedup", "same tokens within block"]]
    torch.manual_seed(0)
    cache_models = {"lecture-sized (untrained)": GPT(LECTURE_SIZED), "cpu preset (trained)": runs[1].model}
    for name, model in cache_models.items():
        r = kv_cache_speed(name, model, kv_tokens)
        speedup = r.cached_tokens_per_s / r.plain_tokens_per_s
        rows.append([
            f"{name}: {_shape(r.config)}", f"{model.num_params() / 1e6:.2f}M", f"{r.plain_tokens_per_s:,.0f}",
            f"{r.cached_tokens_per_s:,.0f}", f"{speedup:.1f}x",
            f"{'yes' if r.same_within_block else 'NO'} (first {r.compared} tokens)",
        ])  # fmt: skip
        results["kv_cache"][name] = {
            "plain_tokens_per_s": r.plain_tokens_per_s, "cached_tokens_per_s": r.cached_tokens_per_s,
            "speedup": speedup, "same_within_block": r.same_within_block,
        }  # fmt: skip
    _table(rows, out)
    out(f"\nbench took {time.perf_counter() - began:.0f} s")
    return results


def build_parser() -> argparse.ArgumentParser:
    from .cli import BENCH_COMPILE_HELP, OneLineParser

    parser = OneLineParser(prog="python -m attention_playground.bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the same recipes stopped after 200 and 100 steps, 200 KV-cache tokens: under a minute",
    )
    parser.add_argument("--compile", action="store_true", help=BENCH_COMPILE_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_bench(quick=args.quick, compile=args.compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
