"""Two modern levers: QK-norm (GPTConfig.qk_norm) and Muon (TrainConfig.optimizer="muon")."""

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from attention_playground import (
    BigramLanguageModel,
    ConfigError,
    ExtendedGPT,
    GPTConfig,
    TrainConfig,
    generate,
)
from attention_playground.training.callbacks import SaveLatestCheckpoint
from attention_playground.training.config import PRESETS
from attention_playground.training.optim import (
    NEWTON_SCHULZ,
    Muon,
    MuonWithAdamW,
    hidden_matrices,
    make_optimizer,
    orthogonalize,
    orthogonalize_all,
)
from attention_playground.training.trainer import Trainer

SMALL = GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2)
QUICK = TrainConfig(
    batch_size=8, max_iters=30, eval_interval=10, eval_iters=2, learning_rate=3e-3, warmup=5,
    min_lr=3e-4, device="cpu", optimizer="muon",
)  # fmt: skip


def seeded(**switches) -> ExtendedGPT:
    torch.manual_seed(0)
    return ExtendedGPT(dataclasses.replace(SMALL, **switches)).eval()


# ---- QK-norm -------------------------------------------------------------------------------------


def test_qk_norm_makes_attention_blind_to_the_size_of_queries_and_keys():
    """Scaling every query and key by 10 changes a plain model's output and leaves QK-norm's alone."""
    x = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(1))
    for qk_norm, should_change in ((True, False), (False, True)):
        model = seeded(qk_norm=qk_norm)
        before, _ = model(x)
        with torch.no_grad():
            for block in model.blocks:
                block.attn.qkv.weight[: 2 * SMALL.n_embd] *= 10  # the q and k rows, not v's
        after, _ = model(x)
        assert (not torch.allclose(before, after, atol=1e-4)) == should_change, f"qk_norm={qk_norm}"


def test_qk_norm_adds_one_gain_per_head_channel_for_q_and_for_k():
    plain, normed = seeded(), seeded(qk_norm=True)
    assert normed.num_params() - plain.num_params() == SMALL.n_layer * 2 * SMALL.head_size
    assert "blocks.0.attn.q_norm.weight" in normed.state_dict()


def test_qk_norm_agrees_on_both_attention_paths_and_with_the_kv_cache():
    model = seeded(qk_norm=True, position="rope")
    x = torch.randint(0, 65, (1, 12), generator=torch.Generator().manual_seed(2))
    h = model.embed(x)  # (1, T, C)
    for block in model.blocks:  # the fused kernel's path and the teaching path, with the norms
        assert_close(block.attn(h), block.attn.forward_with_maps(h)[0], rtol=1e-5, atol=1e-5)
    cached = generate(model, x[:, :3], 8, generator=torch.Generator().manual_seed(3))
    uncached = generate(model, x[:, :3], 8, generator=torch.Generator().manual_seed(3), use_cache=False)
    assert torch.equal(cached, uncached)


def test_qk_norm_must_be_a_bool():
    with pytest.raises(ConfigError, match="qk_norm"):
        GPTConfig(qk_norm="yes")


# ---- Muon ----------------------------------------------------------------------------------------


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = ExtendedGPT(dataclasses.replace(SMALL, tie_weights=True))
    optimizer = make_optimizer(model, QUICK)
    assert isinstance(optimizer, MuonWithAdamW)
    muon = {id(p) for group in optimizer.muon.param_groups for p in group["params"]}
    adamw = {id(p) for group in optimizer.adamw.param_groups for p in group["params"]}
    assert muon == {id(p) for p in hidden_matrices(model)} and not muon & adamw
    assert muon | adamw == {id(p) for p in model.parameters()}  # every parameter once (tied: one table)
    assert id(model.token_embedding.weight) in adamw and id(model.lm_head.weight) in adamw
    assert all(p.dim() == 2 for p in hidden_matrices(model)) and len(muon) == SMALL.n_layer * 4


def test_muon_learns_and_a_schedule_sets_every_groups_rate(shakespeare_splits):
    torch.manual_seed(0)
    model = ExtendedGPT(SMALL)
    trainer = Trainer(model, shakespeare_splits, QUICK)
    history = trainer.run()
    assert history.val_loss[-1] < history.val_loss[0] - 0.3, history.val_loss
    rates = {group["lr"] for group in trainer.optimizer.param_groups}
    assert rates == {history.learning_rates[-1]}


def test_a_muon_run_resumes_to_the_bit(tmp_path, shakespeare_splits, char_tokenizer):
    class StopAfter:
        def on_step(self, trainer, step, loss):
            if trainer.step == 20:
                trainer.request_stop()

    torch.manual_seed(0)
    whole = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK)
    whole.run()
    torch.manual_seed(0)
    last = tmp_path / "last.pt"
    savers = [SaveLatestCheckpoint(last, char_tokenizer), StopAfter()]
    Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=savers).run()
    resumed = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, resume=last)
    resumed.run()
    assert resumed.history.step_losses == whole.history.step_losses
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)


def one_matrix_newton_schulz(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Keller Jordan's iteration written out for one matrix, as the reference for the batched one."""
    a, b, c = NEWTON_SCHULZ
    x = matrix if matrix.size(0) <= matrix.size(1) else matrix.T
    x = x / x.norm()
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if matrix.size(0) <= matrix.size(1) else x.T


def test_orthogonalize_pushes_every_singular_value_towards_one_in_any_shape():
    generator = torch.Generator().manual_seed(0)
    for shape in ((24, 24), (16, 48), (48, 16)):
        u, _, v = torch.linalg.svd(torch.randn(shape, generator=generator), full_matrices=False)
        matrix = u @ torch.diag(torch.logspace(-1, 1, min(shape))) @ v  # singular values 0.1 to 10
        before = torch.linalg.svdvals(matrix)
        after = torch.linalg.svdvals(orthogonalize(matrix))
        assert before.max() / before.min() > 50, "the input's directions differ in size"
        assert after.min() > 0.5 and after.max() < 1.5, (shape, after)
        assert orthogonalize(matrix).shape == matrix.shape
        assert_close(orthogonalize(matrix), one_matrix_newton_schulz(matrix), rtol=1e-4, atol=1e-5)


def test_orthogonalize_all_batches_by_shape_and_returns_each_matrix_in_its_own():
    generator = torch.Generator().manual_seed(1)
    shapes = [(16, 48), (48, 16), (16, 16), (16, 48), (64, 16)]  # a transpose batches with its shape
    matrices = [torch.randn(shape, generator=generator) for shape in shapes]
    results = orthogonalize_all(matrices)
    assert [r.shape for r in results] == [m.shape for m in matrices]
    for matrix, result in zip(matrices, results, strict=True):
        assert_close(result, one_matrix_newton_schulz(matrix), rtol=1e-4, atol=1e-5)
    stacked = orthogonalize(torch.stack(matrices[:1] + matrices[3:4]))  # (2, 16, 48)
    assert_close(stacked[1], orthogonalize(matrices[3]), rtol=1e-5, atol=1e-6)


def test_muon_steps_each_matrix_as_the_one_matrix_iteration_would():
    """Momentum 0.95 with Nesterov's look-ahead, decoupled decay, the update at AdamW's size."""
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(shape)) for shape in ((8, 24), (24, 8), (8, 8))]
    expected = [w.detach().clone() for w in weights]
    buffers = [torch.zeros_like(w) for w in weights]
    muon = Muon(weights, lr=0.02, weight_decay=0.1)
    for step in range(3):
        grads = [torch.randn(w.shape, generator=torch.Generator().manual_seed(step)) for w in weights]
        for w, g in zip(weights, grads, strict=True):
            w.grad = g.clone()
        muon.step()
        for i, g in enumerate(grads):
            buffers[i] = 0.95 * buffers[i] + 0.05 * g
            update = one_matrix_newton_schulz(0.05 * g + 0.95 * buffers[i])
            expected[i] = expected[i] * (1 - 0.02 * 0.1) - 0.02 * 0.2 * max(g.shape) ** 0.5 * update
    for w, e in zip(weights, expected, strict=True):
        assert_close(w.detach(), e, rtol=1e-4, atol=1e-5)


def test_the_cpu_preset_is_muon_for_300_steps_on_the_two_layer_shape():
    """Muon's 300 steps reach val 1.886 sooner than AdamW's 500 (docs/benchmarks.md)."""
    cpu = PRESETS["cpu"]
    assert (cpu.model.n_layer, cpu.model.n_head, cpu.model.n_embd, cpu.model.block_size) == (2, 4, 128, 64)
    train = cpu.train
    assert (train.optimizer, train.max_iters, train.eval_interval) == ("muon", 300, 150)
    assert (train.learning_rate, train.min_lr, train.schedule) == (2e-2, 2e-3, "linear")
    assert isinstance(make_optimizer(ExtendedGPT(cpu.model_config(65)), train), MuonWithAdamW)


def test_muon_refuses_a_model_without_blocks_and_an_adamw_state():
    with pytest.raises(ConfigError, match="use optimizer='adamw'"):
        make_optimizer(BigramLanguageModel(65), QUICK)
    adamw_state = make_optimizer(
        ExtendedGPT(SMALL), dataclasses.replace(QUICK, optimizer="adamw")
    ).state_dict()
    with pytest.raises(ConfigError, match="AdamW's, not Muon's"):
        make_optimizer(ExtendedGPT(SMALL), QUICK).load_state_dict(adamw_state)
    with pytest.raises(ConfigError, match="optimizer='sgd' must be one of adamw, muon"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ConfigError, match="AdamW-only"):
        make_optimizer(ExtendedGPT(SMALL), dataclasses.replace(QUICK, decay_norms_and_biases=True))
