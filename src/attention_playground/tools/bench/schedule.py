"""The bench's training runs: what each trains, its clock, and how the runs take turns on one machine."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ...data.corpus import Splits
from ...nn.config import GPTConfig
from ...nn.variants import ExtendedGPT
from ...training.budget import NO_STEP_LIMIT, TimeBudget, timed
from ...training.callbacks import Callback, RunningTrainer
from ...training.config import PRESETS, TrainConfig
from ...training.trainer import Trainer
from .measure import matmul_probe, memory_window_peak, start_memory_window

TARGET_VAL_LOSS = 1.886  # nanoGPT's val loss after the reference recipe's 2000 steps

REFERENCE = (
    GPTConfig(vocab_size=65, block_size=64, n_embd=128, n_head=4, n_layer=4, dropout=0.0, bias=False),
    TrainConfig(
        batch_size=12, max_iters=2000, eval_interval=250, eval_iters=20, learning_rate=1e-3,
        warmup=100, min_lr=1e-4, weight_decay=0.1, grad_clip=1.0, dtype="float32", device="cpu",
    ),
)  # fmt: skip


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
class Contender:
    """One recipe of the bench: its model and Trainer, trained in slices, in turns with the others."""

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
        config = timed(self.train_config)
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


def plan_runs(vocab_size: int, *, quick: bool, compile: bool, steps: int | None) -> list[Contender]:
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
        runs.append(Contender(name, model_config, train_config, stop_at))
    return runs


def plan_budget_runs(vocab_size: int, seconds: float, *, eval_iters: int | None = None) -> list[Contender]:
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
        runs.append(Contender(name, model_config, train_config, NO_STEP_LIMIT, budget_seconds=seconds))
    return runs


def interleave(runs: list[Contender], probe: Callable[[], None], probe_every: float) -> None:
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
    runs: list[Contender],
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
        out(f"  {run.name}: {describe(run)}")
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
# A run in words


def model_shape(c: GPTConfig) -> str:
    """Layers, heads, channels and block, such as '4L 4H 128C T64'."""
    return f"{c.n_layer}L {c.n_head}H {c.n_embd}C T{c.block_size}"


def _optimizer(t: TrainConfig) -> str:
    return "Muon (blocks' matrices) + AdamW" if t.optimizer == "muon" else "AdamW"


def describe(run: Contender) -> str:
    """A started run's recipe in one line: its model, optimizer and schedule, and how it is evaluated."""
    t = run.train_config
    if run.budget is not None:
        c = run.model_config
        decay = "constant after" if t.schedule == "constant" else f"{t.schedule} to {t.min_lr:g} over"
        return (
            f"{model_shape(c)}, {run.model.num_params() / 1e6:.2f}M params, {c.activation}, dropout "
            f"{c.dropout:g}, tied {'yes' if c.tie_weights else 'no'}, batch {t.batch_size}, {_optimizer(t)} "
            f"lr {t.learning_rate:g} betas {t.betas[0]:g}/{t.betas[1]:g} weight decay {t.weight_decay:g} "
            f"(warmup {t.warmup} steps, {decay} "
            f"{run.budget.seconds:g} s of its own time), {t.eval_iters} eval batches every "
            f"{run.budget.eval_every:g} s and at the end"
        )
    decay = "constant" if t.schedule == "constant" else f"{t.schedule} to {t.min_lr:g} at step {t.max_iters}"
    return (
        f"{model_shape(run.model_config)}, {run.model.num_params() / 1e6:.2f}M params, batch {t.batch_size}, "
        f"{_optimizer(t)} lr {t.learning_rate:g} (warmup {t.warmup}, {decay}), "
        f"{run.stop_at} steps, {t.eval_iters} eval batches every {t.eval_interval}"
    )
