"""The bench counts FLOPs and losses right and prints every column; it times nothing we assert on."""

import pytest
import torch

from attention_playground import GPT, GPTConfig
from attention_playground.bench import (
    REFERENCE,
    flops_per_token,
    linear_weights,
    main,
    matmul_probe,
    run_bench,
    split_loss,
)
from attention_playground.cli import build_parser


def test_flops_per_token_of_the_reference_model():
    model = GPT(REFERENCE[0])
    per_layer = 3 * 128 * 128 + 128 * 128 + 2 * 4 * 128 * 128  # qkv, proj, the MLP's two Linears
    n = 4 * per_layer + 128 * 65  # + lm_head; embeddings and LayerNorms do no matmul
    assert linear_weights(model) == n == 794_752
    assert flops_per_token(model) == 6 * n + 12 * 4 * 64 * 128


def test_split_loss_is_the_mean_over_back_to_back_windows(small_config):
    torch.manual_seed(0)
    model = GPT(small_config)
    data = torch.randint(65, (16 * 5 + 3,))  # 5 whole windows of 16, and a remainder it drops
    windows = data[: 16 * 5 + 1]
    x = torch.stack([windows[i * 16 : (i + 1) * 16] for i in range(5)])
    y = torch.stack([windows[i * 16 + 1 : (i + 1) * 16 + 1] for i in range(5)])
    with torch.no_grad():
        _, expected = model.eval()(x, y)
    model.train()
    assert split_loss(model, data, 16) == pytest.approx(expected.item(), rel=1e-6)
    assert model.training, "split_loss restores training mode"


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
    assert set(results["runs"]) == {"reference", "cpu preset"}
    assert all(r["steps"] == 2 and len(r["val_loss"]) == 2 for r in results["runs"].values())
    assert all(r["same_within_block"] for r in results["kv_cache"].values())


def test_bench_compile_compiles_both_runs(capsys, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)  # no compiling here
    results = run_bench(quick=True, compile=True, steps=1, kv_tokens=1, probe_sizes=(32,), val_tokens=256)
    printed = capsys.readouterr().out
    assert "bench --quick --compile" in printed and "compiling is in their wall time" in printed
    assert printed.count("float32 compiled") == 2
    assert [model.config.n_layer for model in compiled] == [4, 2]  # the reference's, the cpu preset's
    assert set(results["runs"]) == {"reference", "cpu preset"}


def test_bench_is_a_cli_subcommand():
    assert build_parser().parse_args(["bench", "--quick"]).quick
    assert build_parser().parse_args(["bench", "--compile"]).compile
    assert not build_parser().parse_args(["bench"]).compile
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-such-option"])
    assert exit_info.value.code == 2


def test_reference_recipe_is_nanogpts():
    model, train = REFERENCE
    assert model == GPTConfig(vocab_size=65, block_size=64, n_embd=128, n_head=4, n_layer=4, dropout=0.0)
    assert (train.batch_size, train.max_iters, train.learning_rate, train.min_lr) == (12, 2000, 1e-3, 1e-4)
    assert (train.warmup, train.eval_interval, train.eval_iters, train.dtype) == (100, 250, 20, "float32")
