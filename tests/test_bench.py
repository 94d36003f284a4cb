"""The bench counts FLOPs and losses right and prints every column; it times nothing we assert on."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from attention_playground import PRESETS, ExtendedGPT, GPTConfig
from attention_playground.errors import PlaygroundError
from attention_playground.tools.bench import BenchResult, run_bench, run_command
from attention_playground.tools.bench.measure import (
    CacheResult,
    flops_per_token,
    linear_weights,
    matmul_probe,
)
from attention_playground.tools.bench.report import ContenderResult
from attention_playground.tools.bench.schedule import REFERENCE, BenchClock, plan_budget_runs, plan_runs
from attention_playground.tools.parser import build_parser
from attention_playground.training.budget import NO_STEP_LIMIT
from attention_playground.training.lecture import whole_split_loss
from attention_playground.training.trainer import Trainer


def test_flops_per_token_of_the_reference_model():
    model = ExtendedGPT(REFERENCE[0])
    per_layer = 3 * 128 * 128 + 128 * 128 + 2 * 4 * 128 * 128  # qkv, proj, the MLP's two Linears
    n = 4 * per_layer + 128 * 65  # + lm_head; embeddings and LayerNorms do no matmul
    assert linear_weights(model) == n == 794_752
    assert flops_per_token(model) == 6 * n + 12 * 4 * 64 * 128


def test_whole_split_loss_is_the_mean_over_back_to_back_windows(small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    data = torch.randint(65, (16 * 5 + 3,))  # 5 whole windows of 16, and a remainder it drops
    windows = data[: 16 * 5 + 1]
    x = torch.stack([windows[i * 16 : (i + 1) * 16] for i in range(5)])
    y = torch.stack([windows[i * 16 + 1 : (i + 1) * 16 + 1] for i in range(5)])
    with torch.no_grad():
        _, expected = model.eval()(x, y)
    model.train()
    assert whole_split_loss(model, data, 16) == pytest.approx(expected.item(), rel=1e-6)
    assert model.training, "whole_split_loss restores training mode"


def test_matmul_probe_returns_a_rate():
    assert matmul_probe(sizes=(32,), repeats=1) > 0


def test_quick_bench_prints_every_column(capsys):
    results = run_bench(quick=True, steps=2, kv_tokens=3, probe_sizes=(32,), val_tokens=256)
    printed = capsys.readouterr().out
    for column in ("ms/step", "tokens/s", "GFLOP/s", "MFU", "RSS MB", "wall s", "full val", "val<=1.886"):
        assert column in printed
    for text in ("reference", "cpu preset", "matmul probe", "FLOPs per token = 6*N + 12*L*T*C",
                 "KV cache", "lecture-sized", "speedup", "same tokens within block"):  # fmt: skip
        assert text in printed
    assert isinstance(results, BenchResult) and len(results.probes) >= 2
    assert list(results.runs) == ["reference", "cpu preset"]
    for run in results.runs.values():
        assert isinstance(run, ContenderResult)
        assert run.steps == 2 and run.eval_steps == [0, 1] and len(run.val_loss) == 2
        assert run.val == run.val_loss[-1] and run.ms_per_step > 0
        assert run.mfu == run.gflops / results.probe_gflops
        assert run.eval_seconds == sorted(run.eval_seconds) and run.eval_seconds[-1] <= run.seconds
        assert f"{run.val:.4f}" in printed and f"{run.full_val:.4f}" in printed
    assert list(results.kv_cache) == ["lecture-sized (untrained)", "cpu preset (trained)"]
    for cache in results.kv_cache.values():
        assert isinstance(cache, CacheResult) and cache.same_within_block and cache.compared == 4
        assert cache.speedup == cache.cached_tokens_per_s / cache.plain_tokens_per_s


def test_bench_compile_compiles_both_runs(capsys, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)  # no compiling here
    results = run_bench(quick=True, compile=True, steps=1, kv_tokens=1, probe_sizes=(32,), val_tokens=256)
    printed = capsys.readouterr().out
    assert "bench --quick --compile" in printed and "compiling is in their wall time" in printed
    assert printed.count("float32 compiled") == 2
    assert [model.config.n_layer for model in compiled] == [4, 2]  # the reference's, the cpu preset's
    assert all(run.train_config.compile for run in results.runs.values())


def test_quick_and_steps_stop_the_runs_early_with_their_schedules():
    full = plan_runs(65, quick=False, compile=False, steps=None)
    assert [(r.stop_at, r.train_config.max_iters, r.train_config.eval_interval) for r in full] == [
        (2000, 2000, 250),
        (300, 300, 150),
    ]
    quick = plan_runs(65, quick=True, compile=False, steps=None)
    assert [(r.stop_at, r.train_config.max_iters, r.train_config.eval_interval) for r in quick] == [
        (200, 2000, 100),
        (100, 300, 50),
    ]
    assert [r.stop_at for r in plan_runs(65, quick=True, compile=True, steps=150)] == [150, 100]


def test_bench_clock_times_each_step_and_cuts_slices(shakespeare_splits, small_config):
    config = dataclasses.replace(REFERENCE[1], max_iters=20, eval_interval=4, eval_iters=1, batch_size=4)
    torch.manual_seed(0)
    clock = BenchClock(stop_at=10, slice_seconds=0.0)  # every step ends a slice
    trainer = Trainer(ExtendedGPT(small_config), shakespeare_splits, config, callbacks=[clock])
    slices = 0
    while trainer.step < clock.stop_at:
        trainer.run()
        slices += 1
    assert slices == 10 and trainer.step == 10, "one step a slice, and no step past stop_at"
    assert len(clock.step_seconds) == 10 and all(s > 0 for s in clock.step_seconds)
    assert trainer.history.eval_steps == [3, 7] and len(clock.eval_seconds) == 2
    assert clock.eval_seconds == sorted(clock.eval_seconds)
    assert clock.eval_seconds[-1] <= trainer.history.seconds
    assert sum(clock.step_seconds) <= trainer.history.seconds, "steps alone: evaluations excluded"


def test_bench_is_a_cli_subcommand():
    assert build_parser().parse_args(["bench", "--quick"]).quick
    assert build_parser().parse_args(["bench", "--compile"]).compile
    assert not build_parser().parse_args(["bench"]).compile
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["bench", "--no-such-option"])
    assert exit_info.value.code == 2


def test_the_bench_does_not_import_the_cli():
    code = (
        "import sys, attention_playground.tools.bench; "
        "assert 'attention_playground.tools.cli' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_reference_recipe_is_nanogpts():
    model, train = REFERENCE
    assert model == GPTConfig(vocab_size=65, block_size=64, n_embd=128, n_head=4, n_layer=4, dropout=0.0)
    assert (train.batch_size, train.max_iters, train.learning_rate, train.min_lr) == (12, 2000, 1e-3, 1e-4)
    assert (train.warmup, train.eval_interval, train.eval_iters, train.dtype) == (100, 250, 20, "float32")


def test_budget_runs_are_the_reference_and_the_budget_preset():
    runs = plan_budget_runs(65, 300.0)
    assert [(r.name, r.budget_seconds, r.stop_at) for r in runs] == [
        ("reference", 300.0, NO_STEP_LIMIT),
        ("budget preset", 300.0, NO_STEP_LIMIT),
    ]
    assert (runs[0].model_config, runs[0].train_config) == REFERENCE
    assert runs[1].model_config == PRESETS["budget"].model_config(65)
    assert runs[1].train_config == dataclasses.replace(PRESETS["budget"].train, device="cpu")
    assert plan_budget_runs(65, 2.0, eval_iters=1)[1].train_config.eval_iters == 1


def test_bench_budget_trains_both_recipes_for_the_same_time_in_turns(capsys):
    results = run_bench(quick=True, steps=1, kv_tokens=1, probe_sizes=(32,), val_tokens=256,
                        budget_seconds=2.0, budget_eval_iters=1)  # fmt: skip
    printed = capsys.readouterr().out
    assert "--budget: the reference recipe and the budget preset, 0.0333333 minutes" in printed
    for text in (
        "relu, dropout 0, tied no, batch 12, AdamW lr 0.001 betas 0.9/0.99 weight decay 0.1 (warmup 100 "
        "steps, cosine to "
        "0.0001 over 2 s of its own time)",
        "relu_squared, dropout 0, tied yes, batch 16, Muon (blocks' matrices) + AdamW lr 0.005 betas "
        "0.9/0.95 weight decay 0.6 (warmup 100 steps, linear to 0 over 2 s of its own time)",
        "best val",
        "full val",
        "budget preset: best val loss",
    ):
        assert text in printed
    assert results.budget is not None and list(results.budget) == ["reference", "budget preset"]
    assert results.budget_seconds == 2.0
    for run in results.budget.values():
        assert run.steps >= 1 and run.eval_steps[-1] == run.steps - 1, "each ends with an evaluation"
        assert run.eval_seconds[-1] <= run.seconds
        assert f"{min(run.val_loss):.4f}" in printed and f"{run.full_val:.4f}" in printed
    assert results.budget["budget preset"].model_config.tie_weights
    assert results.budget["reference"].model_config == REFERENCE[0]


def test_bench_budget_is_off_unless_asked():
    assert build_parser().parse_args(["bench"]).budget is None
    assert build_parser().parse_args(["bench", "--budget", "5"]).budget == 5.0
    with pytest.raises(PlaygroundError, match="--budget 0: give a positive number of minutes"):
        run_command(build_parser().parse_args(["bench", "--budget", "0"]))
