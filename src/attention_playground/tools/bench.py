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

With --budget N it also gives the `budget` preset (the recipe of `train --minutes N`) and the
reference recipe N minutes each of their own wall time, in turns the same way, each with its
schedule laid over the time (budget.py), and prints their best val losses side by side.
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

from ..data.batches import Splits, token_windows
from ..data.corpus import load_corpus
from ..errors import PlaygroundError
from ..nn.base import evaluating
from ..nn.config import GPTConfig
from ..nn.variants import ExtendedGPT
from ..training.budget import UNBOUNDED, TimeBudget, budgeted
from ..training.callbacks import Callback, RunningTrainer
from ..training.config import PRESETS, TrainConfig
from ..training.runtime.precision import cpu_has_fast_bf16, resolve_dtype
from ..training.trainer import Trainer
from .argparsing import OneLineParser

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
def split_loss(
    model: nn.Module, data: torch.Tensor, block_size: int, max_tokens: int | None = None, windows: int = 256
) -> float:
    """Mean next-token loss over the whole split, cut into back-to-back windows of block_size.

    The same quantity estimate_loss samples with random windows, without its sampling noise.
    `windows` at a time (fewer for a large vocabulary: the logits are windows x block_size x V).
    """
    data = data if max_tokens is None else data[: max_tokens + 1]
    n = (len(data) - 1) // block_size
    total = 0.0
    with evaluating(model):
        for first in range(0, n, windows):
            starts = torch.arange(first, min(n, first + windows)) * block_size
            x, y = token_windows(data, starts, block_size)  # (B, T) each
            _, loss = model(x, y)
            total += loss.item() * len(starts)
    return total / n


# ---------------------------------------------------------------------------------------------
# Training runs, interleaved


class BenchClock(Callback):
    """The bench's clock on one Trainer: each step's own time, the run's time at each evaluation.

    It also cuts the run into slices: it stops run() once a slice has lasted `slice_seconds`, or
    once `stop_at` steps are done (the schedule still runs to max_iters: --quick stops it early).
    """

    def __init__(self, stop_at: int, slice_seconds: float):
        self.stop_at, self.slice_seconds = stop_at, slice_seconds
        self.step_seconds: list[float] = []  # each step alone, no evaluation
        self.eval_seconds: list[float] = []  # the run's time so far at each evaluation, evaluations included
        self._slice_began = 0.0  # history.seconds when this slice began
        self._mark = 0.0  # perf_counter when the next step began

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        self._slice_began, self._mark = trainer.history.seconds, time.perf_counter()

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        self.step_seconds.append(time.perf_counter() - self._mark)
        self._stop_if_due(trainer)
        self._mark = time.perf_counter()

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        self.eval_seconds.append(trainer.history.seconds)
        self._stop_if_due(trainer)
        self._mark = time.perf_counter()

    def _stop_if_due(self, trainer: RunningTrainer) -> None:
        sliced = trainer.history.seconds - self._slice_began >= self.slice_seconds
        if sliced or trainer.step >= self.stop_at:
            trainer.request_stop()


@dataclass
class Run:
    name: str
    model_config: GPTConfig
    train_config: TrainConfig
    stop_at: int  # steps to run (max_iters, or fewer for --quick: the schedule stays the same)
    budget_seconds: float | None = None  # or: this many seconds of its own time (TimeBudget)
    budget: TimeBudget | None = field(init=False, default=None)
    model: ExtendedGPT = field(init=False)
    trainer: Trainer = field(init=False)
    clock: BenchClock = field(init=False)
    rss_before: float = 0.0  # MB, at the start of its first slice
    rss_peak: float = 0.0  # MB, the process's peak during its first slice

    def start(self, splits: Splits, slice_seconds: float) -> None:
        torch.manual_seed(self.train_config.seed)
        self.model = ExtendedGPT(self.model_config)
        self.clock = BenchClock(self.stop_at, slice_seconds)
        if self.budget_seconds is None:
            self.trainer = Trainer(self.model, splits, self.train_config, callbacks=[self.clock])
            return
        self.budget = TimeBudget(self.budget_seconds)
        config = budgeted(self.train_config)
        self.trainer = Trainer(self.model, splits, config, callbacks=[self.clock, self.budget])

    @property
    def done(self) -> bool:
        if self.budget is not None:
            return self.budget.finished
        return self.trainer.step >= self.stop_at

    def run_slice(self) -> None:
        """Train for one slice; the first one also measures the memory the run needs."""
        first = self.trainer.step == 0
        if first:
            self.rss_before = start_memory_window()
        self.trainer.run()
        if first:
            self.rss_peak = memory_window_peak()


def plan_runs(vocab_size: int, *, quick: bool, compile: bool, steps: int | None) -> list[Run]:
    """The reference and the cpu preset, stopped where --quick or `steps` say (schedules unchanged)."""
    cpu = PRESETS["cpu"]
    recipes = [
        ("reference", *REFERENCE, 200),
        ("cpu preset", cpu.model_config(vocab_size), dataclasses.replace(cpu.train, device="cpu"), 100),
    ]
    runs = []
    for name, model_config, train_config, quick_stop in recipes:
        stop_at = quick_stop if quick else train_config.max_iters
        stop_at = stop_at if steps is None else min(stop_at, steps)
        if stop_at < train_config.max_iters:  # evaluate within the steps run
            train_config = dataclasses.replace(train_config, eval_interval=max(1, stop_at // 2))
        if compile:
            train_config = dataclasses.replace(train_config, compile=True)
        runs.append(Run(name, model_config, train_config, stop_at))
    return runs


def plan_budget_runs(vocab_size: int, seconds: float, *, eval_iters: int | None = None) -> list[Run]:
    """The reference recipe and the budget preset, `seconds` of their own time each (--budget)."""
    budget = PRESETS["budget"]
    recipes = [
        ("reference", *REFERENCE),
        ("budget preset", budget.model_config(vocab_size), dataclasses.replace(budget.train, device="cpu")),
    ]
    runs = []
    for name, model_config, train_config in recipes:
        if eval_iters is not None:
            train_config = dataclasses.replace(train_config, eval_iters=eval_iters)
        runs.append(Run(name, model_config, train_config, UNBOUNDED, budget_seconds=seconds))
    return runs


def interleave(runs: list[Run], probe: Callable[[], None], probe_every: float) -> None:
    """Advance the run that has used the least time, a slice at a time, until all are done."""
    since_probe = 0.0
    while waiting := [r for r in runs if not r.done]:
        run = min(waiting, key=lambda r: r.trainer.history.seconds)
        before = run.trainer.history.seconds
        run.run_slice()
        since_probe += run.trainer.history.seconds - before
        if since_probe >= probe_every:
            probe()
            since_probe = 0.0


def warm_up(splits: Splits) -> None:
    """Two throwaway steps of a small model: first-call costs go here, not into a run's figures."""
    config = TrainConfig(batch_size=4, max_iters=2, eval_interval=2, eval_iters=1, device="cpu")
    torch.manual_seed(0)
    Trainer(ExtendedGPT(GPTConfig(block_size=16, n_embd=32, n_head=2, n_layer=1)), splits, config).run()


def train_interleaved(
    runs: list[Run],
    splits: Splits,
    probe_sizes: Sequence[int],
    slice_seconds: float,
    out: Callable[[str], None],
) -> list[float]:
    """Start both runs, train them in turns, and return the matmul probes timed in between (GFLOP/s)."""
    probes: list[float] = []

    def probe() -> None:
        probes.append(matmul_probe(probe_sizes))

    warm_up(splits)  # library start-up costs (thread pools, MKL buffers) land on no run
    probe()
    for run in runs:
        run.start(splits, slice_seconds)
        out(f"  {run.name}: {_describe(run)}")
    if runs[0].budget_seconds is not None:
        out(f"training both runs ({len(runs) * runs[0].budget_seconds / 60:g} minutes in all, in turns)...")
    else:
        out(
            "training both runs"
            + (" (about 2-3 minutes on 2 cores)..." if runs[0].stop_at >= 2000 else "...")
        )
    interleave(runs, probe, probe_every=10.0)
    probe()
    return probes


# ---------------------------------------------------------------------------------------------
# What the bench found


@dataclass
class RunResult:
    """One training run's figures: a row of the training table and a column of the val-by-step one."""

    model_config: GPTConfig
    train_config: TrainConfig
    params: int
    steps: int
    ms_per_step: float  # the median step, evaluations excluded
    tokens_per_s: float  # batch_size * block_size at ms_per_step
    gflops: float  # achieved, by flops_per_token
    mfu: float  # gflops over the matmul probe's median
    rss_mb: float  # how far the process's peak RSS rose during the run's first slice
    seconds: float  # the run's own wall time, its evaluations included
    val: float  # the last estimate_loss
    full_val: float  # split_loss over the val split
    reached: tuple[int, float] | None  # (steps, seconds) at the first val <= TARGET_VAL_LOSS
    eval_steps: list[int]  # as History.eval_steps: the index of the step before each evaluation
    val_loss: list[float]
    eval_seconds: list[float]  # the run's wall time at each evaluation


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


@dataclass
class BenchResult:
    """Everything the bench printed, as numbers."""

    probe_gflops: float  # the median matmul probe
    probes: list[float]  # every probe, GFLOP/s
    runs: dict[str, RunResult]  # "reference", "cpu preset"
    kv_cache: dict[str, CacheResult]  # "lecture-sized (untrained)", "cpu preset (trained)"
    time_ratio: float | None  # the cpu preset's time to TARGET_VAL_LOSS over the reference's
    seconds: float  # the whole bench
    budget: dict[str, RunResult] | None = None  # --budget: "reference", "budget preset"
    budget_seconds: float | None = None  # each budget run's own wall time allowed


def first_reaching(run: Run, target: float) -> tuple[int, float] | None:
    """(steps, seconds) at the first evaluation with val loss <= target, if any."""
    h = run.trainer.history
    for step, val, seconds in zip(h.eval_steps, h.val_loss, run.clock.eval_seconds, strict=True):
        if val <= target:
            return step + 1, seconds
    return None


def run_result(run: Run, probe_gflops: float, val_data: torch.Tensor, val_tokens: int | None) -> RunResult:
    """A finished run's figures; its full-split val loss is computed here, outside its wall time."""
    h, t = run.trainer.history, run.train_config
    ms = statistics.median(run.clock.step_seconds) * 1e3
    tokens_per_s = t.batch_size * run.model_config.block_size / (ms / 1e3)
    gflops = flops_per_token(run.model) * tokens_per_s / 1e9
    return RunResult(
        model_config=run.model_config,
        train_config=t,
        params=run.model.num_params(),
        steps=run.trainer.step,
        ms_per_step=ms,
        tokens_per_s=tokens_per_s,
        gflops=gflops,
        mfu=gflops / probe_gflops,
        rss_mb=run.rss_peak - run.rss_before,
        seconds=h.seconds,
        val=h.val_loss[-1],
        full_val=split_loss(run.model, val_data, run.model_config.block_size, val_tokens),  # untimed
        reached=first_reaching(run, TARGET_VAL_LOSS),
        eval_steps=list(h.eval_steps),
        val_loss=list(h.val_loss),
        eval_seconds=list(run.clock.eval_seconds),
    )


def reference_seconds(reference: RunResult) -> float:
    """The reference's time to TARGET_VAL_LOSS, or its whole run's where it did not reach it."""
    return reference.reached[1] if reference.reached else reference.seconds


def time_ratio(reference: RunResult, cpu: RunResult) -> float | None:
    """The cpu preset's time to TARGET_VAL_LOSS over reference_seconds; None where it did not reach it."""
    return None if cpu.reached is None else cpu.reached[1] / reference_seconds(reference)


# ---------------------------------------------------------------------------------------------
# KV cache


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


# ---------------------------------------------------------------------------------------------
# The report


def _shape(c: GPTConfig) -> str:
    return f"{c.n_layer}L {c.n_head}H {c.n_embd}C T{c.block_size}"


def _optimizer(t: TrainConfig) -> str:
    return "Muon (blocks' matrices) + AdamW" if t.optimizer == "muon" else "AdamW"


def _describe(run: Run) -> str:
    t = run.train_config
    if run.budget is not None:
        c = run.model_config
        decay = "constant after" if t.schedule == "constant" else f"{t.schedule} to {t.min_lr:g} over"
        return (
            f"{_shape(c)}, {run.model.num_params() / 1e6:.2f}M params, {c.activation}, dropout "
            f"{c.dropout:g}, tied {'yes' if c.tie_weights else 'no'}, batch {t.batch_size}, {_optimizer(t)} "
            f"lr {t.learning_rate:g} betas {t.betas[0]:g}/{t.betas[1]:g} weight decay {t.weight_decay:g} "
            f"(warmup {t.warmup} steps, {decay} "
            f"{run.budget.seconds:g} s of its own time), {t.eval_iters} eval batches every "
            f"{run.budget.eval_every:g} s and at the end"
        )
    decay = "constant" if t.schedule == "constant" else f"{t.schedule} to {t.min_lr:g} at step {t.max_iters}"
    return (
        f"{_shape(run.model_config)}, {run.model.num_params() / 1e6:.2f}M params, batch {t.batch_size}, "
        f"{_optimizer(t)} lr {t.learning_rate:g} (warmup {t.warmup}, {decay}), "
        f"{run.stop_at} steps, {t.eval_iters} eval batches every {t.eval_interval}"
    )


def _table(rows: list[list[str]], out: Callable[[str], None]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        first, *rest = row
        out("  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]))


def print_header(quick: bool, compile: bool, out: Callable[[str], None]) -> None:
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


def print_training_table(
    runs: dict[str, RunResult], probes: list[float], probe_sizes: Sequence[int], out: Callable[[str], None]
) -> None:
    out("")
    out(
        f"matmul probe: float32 {'/'.join(f'{n}^3' for n in probe_sizes)}, best size's median, "
        f"{len(probes)} probes during the runs: median {statistics.median(probes):.1f} GFLOP/s "
        f"(range {min(probes):.1f}-{max(probes):.1f})"
    )
    out("FLOPs per token = 6*N + 12*L*T*C (N: Linear weights; attention's full T*T square, as nanoGPT/PaLM)")
    out("")
    rows = [
        ["run", "model", "batch", "lr", "dtype", "steps", "ms/step", "tokens/s", "GFLOP/s", "MFU",
         "RSS MB", "wall s", "val", "full val", f"val<={TARGET_VAL_LOSS}"],
    ]  # fmt: skip
    for name, r in runs.items():
        dtype = resolve_dtype(torch.device("cpu"), r.train_config.dtype)
        dtype += " compiled" if r.train_config.compile else ""
        rows.append([
            name, _shape(r.model_config), str(r.train_config.batch_size), f"{r.train_config.learning_rate:g}",
            dtype, str(r.steps), f"{r.ms_per_step:.1f}", f"{r.tokens_per_s:,.0f}", f"{r.gflops:.1f}",
            f"{r.mfu:.0%}", f"+{r.rss_mb:.0f}", f"{r.seconds:.1f}", f"{r.val:.4f}", f"{r.full_val:.4f}",
            f"{r.reached[1]:.1f} s (step {r.reached[0]})" if r.reached else "not reached",
        ])  # fmt: skip
    _table(rows, out)
    out(
        "RSS MB: how far the process's resident memory peaked above where it was when the run's first "
        f"slice began\n(activations, gradients, optimizer state); the whole process peaked at "
        f"{peak_rss_mb():.0f} MB, torch included.\nfull val: the whole val split in back-to-back "
        "windows of block_size (untimed)."
    )


def print_val_by_step(runs: dict[str, RunResult], ratio: float | None, out: Callable[[str], None]) -> None:
    out("")
    out("val loss at each evaluation (seconds of the run so far, its evaluations included)")
    by_step: dict[int, dict[str, str]] = {}
    for name, r in runs.items():
        for step, val, seconds in zip(r.eval_steps, r.val_loss, r.eval_seconds, strict=True):
            by_step.setdefault(step + 1, {})[name] = f"{val:.4f} ({seconds:5.1f} s)"
    rows = [["step", *runs]]
    rows += [[str(s), *(by_step[s].get(name, "") for name in runs)] for s in sorted(by_step)]
    _table(rows, out)
    reference, cpu = runs["reference"], runs["cpu preset"]
    if ratio is None or cpu.reached is None:
        out(f"cpu preset did not reach val <= {TARGET_VAL_LOSS} in the steps run")
        return
    label = "its time to reach it" if reference.reached else "its full run (it did not reach it)"
    out(
        f"cpu preset reached val <= {TARGET_VAL_LOSS} in {cpu.reached[1]:.1f} s = {ratio:.2f}x the "
        f"reference's {reference_seconds(reference):.1f} s ({label})"
    )


def print_kv_cache_table(
    results: dict[str, CacheResult], new_tokens: int, out: Callable[[str], None]
) -> None:
    out("")
    out(f"KV cache: {new_tokens:,} new tokens, greedy, batch 1, untrained weights except the cpu preset's")
    rows = [["model", "params", "no cache tok/s", "cache tok/s", "speedup", "same tokens within block"]]
    for name, r in results.items():
        rows.append([
            f"{name}: {_shape(r.config)}", f"{r.params / 1e6:.2f}M", f"{r.plain_tokens_per_s:,.0f}",
            f"{r.cached_tokens_per_s:,.0f}", f"{r.speedup:.1f}x",
            f"{'yes' if r.same_within_block else 'NO'} (first {r.compared} tokens)",
        ])  # fmt: skip
    _table(rows, out)


def print_budget_section(
    runs: dict[str, RunResult], seconds: float, probe_gflops: float, out: Callable[[str], None]
) -> None:
    """The --budget runs: one row each, their val at each evaluation, and the line that compares them."""
    out("")
    out(f"{seconds / 60:g} minutes each (matmul probe median {probe_gflops:.1f} GFLOP/s)")
    rows = [["run", "model", "params", "dropout", "tied", "batch", "lr", "steps", "ms/step", "tokens/s",
             "MFU", "wall s", "best val", "full val"]]  # fmt: skip
    for name, r in runs.items():
        c, t = r.model_config, r.train_config
        rows.append([
            name, _shape(c), f"{r.params / 1e6:.2f}M", f"{c.dropout:g}", "yes" if c.tie_weights else "no",
            str(t.batch_size), f"{t.learning_rate:g}", str(r.steps), f"{r.ms_per_step:.1f}",
            f"{r.tokens_per_s:,.0f}", f"{r.mfu:.0%}", f"{r.seconds:.1f}", f"{min(r.val_loss):.4f}",
            f"{r.full_val:.4f}",
        ])  # fmt: skip
    _table(rows, out)
    out("")
    out("val loss at each evaluation (step, seconds of the run so far)")
    rows = [["eval", *runs]]
    for i in range(max(len(r.val_loss) for r in runs.values())):
        cells = [
            f"{r.val_loss[i]:.4f} (step {r.eval_steps[i] + 1}, {r.eval_seconds[i]:.1f} s)"
            if i < len(r.val_loss)
            else ""
            for r in runs.values()
        ]
        rows.append([str(i + 1), *cells])
    _table(rows, out)
    reference, ours = runs["reference"], runs["budget preset"]
    out(
        f"budget preset: best val loss {min(ours.val_loss):.4f} (full val {ours.full_val:.4f}) against the "
        f"reference recipe's {min(reference.val_loss):.4f} ({reference.full_val:.4f}), {seconds / 60:g} "
        "minutes of wall time each"
    )


def run_budget(
    splits: Splits,
    vocab_size: int,
    seconds: float,
    *,
    probe_sizes: Sequence[int],
    val_tokens: int | None,
    slice_seconds: float,
    eval_iters: int | None,
    out: Callable[[str], None],
) -> dict[str, RunResult]:
    """--budget: the reference and the budget preset, `seconds` of their own time each, in turns."""
    out("")
    out(f"--budget: the reference recipe and the budget preset, {seconds / 60:g} minutes of wall time each")
    runs = plan_budget_runs(vocab_size, seconds, eval_iters=eval_iters)
    probes = train_interleaved(runs, splits, probe_sizes, slice_seconds, out)
    probe_gflops = statistics.median(probes)
    results = {run.name: run_result(run, probe_gflops, splits.val, val_tokens) for run in runs}
    print_budget_section(results, seconds, probe_gflops, out)
    return results


# ---------------------------------------------------------------------------------------------
# The bench, and its one command line


def run_bench(
    quick: bool = False,
    *,
    compile: bool = False,
    steps: int | None = None,
    kv_tokens: int | None = None,
    probe_sizes: Sequence[int] = (1024, 2048),
    val_tokens: int | None = None,
    slice_seconds: float = 1.0,
    budget_seconds: float | None = None,
    budget_eval_iters: int | None = None,
    out: Callable[[str], None] = print,
) -> BenchResult:
    """Run the benchmark and print it; returns its figures.

    quick: the same two recipes, stopped after 200 and 100 steps (their schedules unchanged), and
    200 new tokens for the KV cache. compile: both runs torch.compile their model. steps /
    kv_tokens / probe_sizes / val_tokens shrink it further (the tests use them). budget_seconds:
    then the reference and the budget preset train that long each (--budget; budget_eval_iters
    shrinks their evaluations, for the tests).
    """
    began = time.perf_counter()
    corpus = load_corpus("tinyshakespeare", "char")
    runs = plan_runs(corpus.tokenizer.vocab_size, quick=quick, compile=compile, steps=steps)
    kv_tokens = kv_tokens if kv_tokens is not None else (200 if quick else 1000)
    print_header(quick, compile, out)
    probes = train_interleaved(runs, corpus.splits, probe_sizes, slice_seconds, out)
    probe_gflops = statistics.median(probes)
    results = {run.name: run_result(run, probe_gflops, corpus.splits.val, val_tokens) for run in runs}
    print_training_table(results, probes, probe_sizes, out)
    ratio = time_ratio(results["reference"], results["cpu preset"])
    print_val_by_step(results, ratio, out)
    cache = kv_cache_results(runs[1].model, kv_tokens)
    print_kv_cache_table(cache, kv_tokens, out)
    budget = None
    if budget_seconds is not None:
        budget = run_budget(
            corpus.splits, corpus.tokenizer.vocab_size, budget_seconds, probe_sizes=probe_sizes,
            val_tokens=val_tokens, slice_seconds=slice_seconds, eval_iters=budget_eval_iters, out=out,
        )  # fmt: skip
    seconds = time.perf_counter() - began
    out(f"\nbench took {seconds:.0f} s")
    return BenchResult(probe_gflops, probes, results, cache, ratio, seconds, budget, budget_seconds)


DESCRIPTION = (
    "Train the nanoGPT CPU reference recipe and the cpu preset side by side, then time sampling with "
    "and without the KV cache; prints ms/step, tokens/s, GFLOP/s, MFU, memory, val losses and the "
    f"time to val loss {TARGET_VAL_LOSS} (3-4 minutes on 2 cores)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options, for `attention-playground bench` and `python -m ...tools.bench`."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the same recipes stopped after 200 and 100 steps, 200 KV-cache tokens: "
        "the same columns in under a minute",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile both runs (about 25 s each: in their wall time, not in ms/step, a median)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        default=None,
        help="then train the budget preset (train --minutes' recipe) and the reference recipe MINUTES "
        "of wall time each, in turns, and compare their best val loss (adds 2 x MINUTES; off by default)",
    )


def run_command(args: argparse.Namespace) -> BenchResult:
    """The bench as the command line asked for it."""
    if args.budget is not None and not args.budget > 0:
        raise PlaygroundError(f"--budget {args.budget:g}: give a positive number of minutes")
    budget_seconds = None if args.budget is None else args.budget * 60
    return run_bench(quick=args.quick, compile=args.compile, budget_seconds=budget_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m attention_playground.tools.bench`: the same command as `attention-playground bench`."""
    parser = OneLineParser(prog="python -m attention_playground.tools.bench", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_command(args)
    except PlaygroundError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
