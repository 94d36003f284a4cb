"""The faster training path changes how fast, never what: same seed, same numbers as the plain loop.
No timings here: the bench measures speed."""

import contextlib
import dataclasses

import pytest
import torch

from attention_playground import (
    PRESETS,
    ExtendedGPT,
    GPTConfig,
    TrainConfig,
    get_batch,
    learning_rate_at,
    train,
)
from attention_playground.training import trainer as training_module
from attention_playground.training.callbacks import Callback
from attention_playground.training.optim import make_optimizer
from attention_playground.training.runtime.precision import (
    autocast_context,
    cpu_has_fast_bf16,
    enable_tf32,
    flush_denormals,
    resolve_dtype,
)
from attention_playground.training.trainer import Trainer

SMALL = GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2)
QUICK = TrainConfig(
    batch_size=8, max_iters=24, eval_interval=8, eval_iters=2, learning_rate=3e-3, warmup=4,
    min_lr=3e-4, device="cpu",
)  # fmt: skip
CPU = torch.device("cpu")


def plain_loop(splits, config: TrainConfig) -> list[float]:
    """The lecture's loop, written out: no foreach, no flush-to-zero, no callbacks."""
    torch.manual_seed(config.seed)
    model = ExtendedGPT(SMALL)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    for step in range(config.max_iters):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        x, y = get_batch(splits.train, config.batch_size, SMALL.block_size, generator)
        _, loss = model(x, y)
        losses.append(loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    return losses


def test_train_gives_the_plain_loops_numbers_bit_for_bit(shakespeare_splits):
    torch.manual_seed(QUICK.seed)
    history = train(ExtendedGPT(SMALL), shakespeare_splits, QUICK)
    assert history.step_losses == plain_loop(shakespeare_splits, QUICK)


def test_flush_to_zero_changes_no_number(shakespeare_splits, monkeypatch):
    runs = []
    for flush in (True, False):
        if not flush:
            monkeypatch.setattr(training_module, "flush_denormals", lambda device: contextlib.nullcontext())
        torch.manual_seed(QUICK.seed)
        model = ExtendedGPT(SMALL)
        runs.append(
            (train(model, shakespeare_splits, QUICK), torch.cat([p.flatten() for p in model.parameters()]))
        )
    assert runs[0][0].step_losses == runs[1][0].step_losses
    assert runs[0][0].val_loss == runs[1][0].val_loss
    assert torch.equal(runs[0][1], runs[1][1])


def test_flush_to_zero_is_switched_off_afterwards():
    tiny = torch.tensor([1e-40])  # a denormal float32
    with flush_denormals(CPU):
        pass
    assert (tiny * 1.0).item() != 0.0, "denormals are numbers again after training"


def test_flush_to_zero_set_by_the_user_stays_on():
    tiny = torch.tensor([1e-40])  # a denormal float32
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        with flush_denormals(CPU):
            assert (tiny * 1.0).item() == 0.0
        assert (tiny * 1.0).item() == 0.0, "training must not undo the user's own setting"
    finally:
        torch.set_flush_denormal(False)


class StopEvery(Callback):
    """Stops run() every `steps` steps, as the bench's slices do."""

    def __init__(self, steps: int):
        self.steps = steps

    def on_step(self, trainer, step, loss):
        if trainer.step % self.steps == 0:
            trainer.request_stop()


def test_a_run_in_pieces_equals_a_run_in_one_go(shakespeare_splits):
    torch.manual_seed(QUICK.seed)
    whole = train(ExtendedGPT(SMALL), shakespeare_splits, QUICK)
    torch.manual_seed(QUICK.seed)
    a = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=[StopEvery(5)])
    other = dataclasses.replace(QUICK, seed=7, max_iters=10)
    torch.manual_seed(7)
    b = Trainer(ExtendedGPT(SMALL), shakespeare_splits, other, callbacks=[StopEvery(3)])  # interleaved with a
    pieces = []
    while not a.done:
        before = a.step
        a.run()
        b.run()
        pieces.append(a.step - before)
    assert pieces == [5, 5, 5, 5, 4]
    assert a.history.step_losses == whole.step_losses
    assert a.history.val_loss == whole.val_loss and a.history.eval_steps == whole.eval_steps == [7, 15, 23]
    assert b.done and b.run().step_losses == b.history.step_losses, "a finished trainer stays finished"


def test_dtype_auto_means_bf16_where_the_cpu_has_it():
    assert resolve_dtype(CPU, "float32") == "float32"
    assert resolve_dtype(CPU, "bfloat16") == "bfloat16"
    assert resolve_dtype(CPU, "auto") == ("bfloat16" if cpu_has_fast_bf16() else "float32")
    assert isinstance(autocast_context(CPU, "float32"), contextlib.nullcontext)
    assert isinstance(autocast_context(CPU, "bfloat16"), torch.autocast)


def test_bf16_autocast_trains(shakespeare_splits):
    torch.manual_seed(0)
    config = dataclasses.replace(QUICK, dtype="bfloat16")
    history = train(ExtendedGPT(SMALL), shakespeare_splits, config)
    assert history.val_loss[-1] < history.val_loss[0] < 4.3


def test_notebook_presets_keep_float32_and_their_numbers():
    """Notebooks print losses from these: the fast path must not touch them."""
    tiny, lecture = PRESETS["tiny"], PRESETS["lecture"]
    assert tiny.train.dtype == lecture.train.dtype == "float32"
    assert not tiny.train.compile and not lecture.train.compile
    assert tiny.model == GPTConfig(block_size=32, n_embd=64, n_head=4, n_layer=2, dropout=0.0)
    assert (tiny.train.batch_size, tiny.train.max_iters, tiny.train.learning_rate) == (16, 300, 3e-3)
    assert lecture.model == GPTConfig(
        block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2,
        bias=True, qkv_bias=False, embedding_dropout=False,
    )  # fmt: skip
    assert (lecture.train.batch_size, lecture.train.max_iters, lecture.train.learning_rate) == (
        64,
        5000,
        3e-4,
    )


def test_compiled_steps_are_traced_with_views_recomputed(shakespeare_splits, monkeypatch):
    """So ReLU's mask is recomputed in backward, not saved as a (slowly stored) bool tensor; the
    global knob is left as it was found. torch.compile is replaced by a recorder: no compile here."""
    from torch._functorch import config as functorch_config

    seen = []

    def recording_compile(model):
        def compiled_model(*args, **kwargs):
            seen.append(functorch_config.recompute_views)
            return model(*args, **kwargs)

        return compiled_model

    monkeypatch.setattr(torch, "compile", recording_compile)
    before = functorch_config.recompute_views
    torch.manual_seed(0)
    config = dataclasses.replace(QUICK, compile=True, max_iters=3, eval_interval=3)
    train(ExtendedGPT(SMALL), shakespeare_splits, config)
    assert seen == [True, True, True]  # every training step; evaluation runs the plain model
    assert functorch_config.recompute_views == before


@pytest.mark.parametrize("dtype", ["float32", "auto"])
def test_no_cuda_settings_touched_on_the_cpu(dtype):
    before = torch.backends.cuda.matmul.allow_tf32
    enable_tf32(CPU, dtype)
    assert torch.backends.cuda.matmul.allow_tf32 == before
