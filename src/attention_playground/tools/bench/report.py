"""What the bench found: each run's figures, and the tables it prints."""

from __future__ import annotations

import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ...nn.config import GPTConfig
from ...training.config import TrainConfig
from ...training.lecture import whole_split_loss
from ...training.runtime.precision import cpu_has_fast_bf16, resolve_dtype
from .measure import CacheResult, flops_per_token, peak_rss_mb
from .schedule import TARGET_VAL_LOSS, Contender, model_shape


@dataclass
class ContenderResult:
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
    full_val: float  # whole_split_loss over the val split
    reached: tuple[int, float] | None  # (steps, seconds) at the first val <= TARGET_VAL_LOSS
    eval_steps: list[int]  # as History.eval_steps: the index of the step before each evaluation
    val_loss: list[float]
    eval_seconds: list[float]  # the run's wall time at each evaluation


@dataclass
class BenchResult:
    """Everything the bench printed, as numbers."""

    probe_gflops: float  # the median matmul probe
    probes: list[float]  # every probe, GFLOP/s
    runs: dict[str, ContenderResult]  # "reference", "cpu preset"
    kv_cache: dict[str, CacheResult]  # "lecture-sized (untrained)", "cpu preset (trained)"
    time_ratio: float | None  # the cpu preset's time to TARGET_VAL_LOSS over the reference's
    seconds: float  # the whole bench
    budget: dict[str, ContenderResult] | None = None  # --budget: "reference", "budget preset"
    budget_seconds: float | None = None  # each budget run's own wall time allowed


def first_reaching(run: Contender, target: float) -> tuple[int, float] | None:
    """(steps, seconds) at the first evaluation with val loss <= target, if any."""
    h = run.trainer.history
    for step, val, seconds in zip(h.eval_steps, h.val_loss, run.clock.eval_seconds, strict=True):
        if val <= target:
            return step + 1, seconds
    return None


def contender_result(
    run: Contender, probe_gflops: float, val_data: torch.Tensor, val_tokens: int | None
) -> ContenderResult:
    """A finished run's figures; its full-split val loss is computed here, outside its wall time."""
    h, t = run.trainer.history, run.train_config
    ms = statistics.median(run.clock.step_seconds) * 1e3
    tokens_per_s = t.batch_size * run.model_config.block_size / (ms / 1e3)
    gflops = flops_per_token(run.model) * tokens_per_s / 1e9
    return ContenderResult(
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
        full_val=whole_split_loss(run.model, val_data, run.model_config.block_size, val_tokens),  # untimed
        reached=first_reaching(run, TARGET_VAL_LOSS),
        eval_steps=list(h.eval_steps),
        val_loss=list(h.val_loss),
        eval_seconds=list(run.clock.eval_seconds),
    )


def reference_seconds(reference: ContenderResult) -> float:
    """The reference's time to TARGET_VAL_LOSS, or its whole run's where it did not reach it."""
    return reference.reached[1] if reference.reached else reference.seconds


def time_ratio(reference: ContenderResult, cpu: ContenderResult) -> float | None:
    """The cpu preset's time to TARGET_VAL_LOSS over reference_seconds; None where it did not reach it."""
    return None if cpu.reached is None else cpu.reached[1] / reference_seconds(reference)


# ---------------------------------------------------------------------------------------------
# The tables


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
    runs: dict[str, ContenderResult],
    probes: list[float],
    probe_sizes: Sequence[int],
    out: Callable[[str], None],
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
            name, model_shape(r.model_config), str(r.train_config.batch_size),
            f"{r.train_config.learning_rate:g}", dtype, str(r.steps), f"{r.ms_per_step:.1f}",
            f"{r.tokens_per_s:,.0f}", f"{r.gflops:.1f}", f"{r.mfu:.0%}", f"+{r.rss_mb:.0f}",
            f"{r.seconds:.1f}", f"{r.val:.4f}", f"{r.full_val:.4f}",
            f"{r.reached[1]:.1f} s (step {r.reached[0]})" if r.reached else "not reached",
        ])  # fmt: skip
    _table(rows, out)
    out(
        "RSS MB: how far the process's resident memory peaked above where it was when the run's first "
        f"slice began\n(activations, gradients, optimizer state); the whole process peaked at "
        f"{peak_rss_mb():.0f} MB, torch included.\nfull val: the whole val split in back-to-back "
        "windows of block_size (untimed)."
    )


def print_val_by_step(
    runs: dict[str, ContenderResult], ratio: float | None, out: Callable[[str], None]
) -> None:
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
            f"{name}: {model_shape(r.config)}", f"{r.params / 1e6:.2f}M", f"{r.plain_tokens_per_s:,.0f}",
            f"{r.cached_tokens_per_s:,.0f}", f"{r.speedup:.1f}x",
            f"{'yes' if r.same_within_block else 'NO'} (first {r.compared} tokens)",
        ])  # fmt: skip
    _table(rows, out)


def print_budget_section(
    runs: dict[str, ContenderResult], seconds: float, probe_gflops: float, out: Callable[[str], None]
) -> None:
    """The --budget runs: one row each, their val at each evaluation, and the line that compares them."""
    out("")
    out(f"{seconds / 60:g} minutes each (matmul probe median {probe_gflops:.1f} GFLOP/s)")
    rows = [["run", "model", "params", "dropout", "tied", "batch", "lr", "steps", "ms/step", "tokens/s",
             "MFU", "wall s", "best val", "full val"]]  # fmt: skip
    for name, r in runs.items():
        c, t = r.model_config, r.train_config
        rows.append([
            name, model_shape(c), f"{r.params / 1e6:.2f}M", f"{c.dropout:g}",
            "yes" if c.tie_weights else "no", str(t.batch_size), f"{t.learning_rate:g}", str(r.steps),
            f"{r.ms_per_step:.1f}",
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
