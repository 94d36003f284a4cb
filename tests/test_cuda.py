"""The GPU path on a real GPU: these skip without one (ATTENTION_PLAYGROUND_REQUIRE_CUDA=1 fails them).

scripts/gpu_check.sh runs them with the skip lifted. Each trains the tiny preset for a few steps.
"""

import dataclasses

import pytest
import torch

from attention_playground import ExtendedGPT, get_preset, load_checkpoint, sample_text
from attention_playground.training.runtime.precision import resolve_dtype
from attention_playground.training.trainer import Trainer

pytestmark = pytest.mark.cuda

DEVICE = "cuda"


def tiny_run(splits, steps: int = 30, **changes) -> Trainer:
    preset = get_preset("tiny")
    changes = {"max_iters": steps, "eval_interval": steps, "device": DEVICE, **changes}
    config = dataclasses.replace(preset.train, **changes)
    torch.manual_seed(config.seed)
    trainer = Trainer(ExtendedGPT(preset.model_config(65)), splits, config)
    trainer.run()
    return trainer


def test_float32_on_the_gpu_trains_as_on_the_cpu(shakespeare_splits):
    gpu = tiny_run(shakespeare_splits).history
    cpu = tiny_run(shakespeare_splits, device="cpu").history
    assert gpu.device.startswith("cuda") and gpu.step_losses[-1] < gpu.step_losses[0] - 0.5
    assert max(abs(a - b) for a, b in zip(gpu.step_losses, cpu.step_losses, strict=True)) < 1e-3


def test_dtype_auto_is_bf16_with_tf32_and_learns_as_float32(shakespeare_splits):
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        auto = tiny_run(shakespeare_splits, dtype="auto")
        if torch.cuda.is_bf16_supported():
            assert resolve_dtype(auto.device, "auto") == "bfloat16"
        assert torch.backends.cuda.matmul.allow_tf32, "auto turns TF32 on for float32 matmuls"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    exact = tiny_run(shakespeare_splits, dtype="float32").history
    assert abs(auto.history.val_loss[-1] - exact.val_loss[-1]) < 0.05


def test_compile_on_the_gpu_trains_as_without(shakespeare_splits):
    compiled = tiny_run(shakespeare_splits, steps=10, compile=True).history
    plain = tiny_run(shakespeare_splits, steps=10).history
    assert max(abs(a - b) for a, b in zip(compiled.step_losses, plain.step_losses, strict=True)) < 1e-3


def test_the_kv_cache_on_the_gpu_samples_the_plain_loops_tokens():
    torch.manual_seed(0)
    model = ExtendedGPT(get_preset("tiny").model_config(65)).to(DEVICE).eval()
    idx = torch.zeros((1, 1), dtype=torch.long, device=DEVICE)
    plain = model.generate(idx, 31, temperature=0.0, use_cache=False)
    cached = model.generate(idx, 31, temperature=0.0, use_cache=True)
    assert cached.device.type == "cuda" and torch.equal(plain, cached)


def test_a_checkpoint_trained_on_the_gpu_samples_on_the_cpu(shakespeare_splits, char_tokenizer, tmp_path):
    preset = get_preset("tiny")
    config = dataclasses.replace(preset.train, max_iters=10, eval_interval=10, device=DEVICE)
    torch.manual_seed(0)
    path = tmp_path / "ckpt.pt"
    Trainer(ExtendedGPT(preset.model_config(65)), shakespeare_splits, config, tokenizer=char_tokenizer,
            checkpoint_path=path).run()  # fmt: skip
    checkpoint = load_checkpoint(path, device="cpu")
    assert next(checkpoint.model.parameters()).device.type == "cpu"
    assert len(sample_text(checkpoint.model, checkpoint.tokenizer, "\n", 20, 0.8, None, 1)) == 21
