import math

import pytest
import torch

from attention_playground import (
    GPT,
    ConfigError,
    GPTConfig,
    TrainConfig,
    TrainingDiverged,
    estimate_loss,
    learning_rate_at,
    load_checkpoint,
    train,
)

SMALL = GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=1)
QUICK = TrainConfig(
    batch_size=8, max_iters=30, eval_interval=10, eval_iters=2, learning_rate=3e-3, warmup=5,
    min_lr=3e-4, device="cpu",
)  # fmt: skip


def test_schedule_warms_up_then_decays_to_min_lr():
    config = TrainConfig(max_iters=1000, warmup=100, learning_rate=1e-3, min_lr=1e-4)
    lrs = [learning_rate_at(s, config) for s in range(1000)]
    assert lrs[0] < lrs[50] < lrs[99] <= 1e-3
    assert max(lrs) == pytest.approx(1e-3, rel=1e-2)
    assert all(a >= b for a, b in zip(lrs[100:], lrs[101:], strict=False)), "cosine decay is monotone"
    assert lrs[-1] == pytest.approx(1e-4)


def test_same_seed_same_losses(shakespeare_splits):
    runs = []
    for _ in range(2):
        torch.manual_seed(QUICK.seed)
        history = train(GPT(SMALL), shakespeare_splits, QUICK)
        runs.append(history)
    assert runs[0].step_losses == runs[1].step_losses
    assert runs[0].val_loss == runs[1].val_loss
    assert runs[0].eval_steps == [9, 19, 29]
    assert runs[0].val_loss[-1] < math.log(65), "30 steps should already beat a uniform guess"


def test_estimate_loss_is_deterministic(shakespeare_splits):
    torch.manual_seed(0)
    model = GPT(SMALL)
    a = estimate_loss(model, shakespeare_splits, 8, 16, 3, seed=1)
    b = estimate_loss(model, shakespeare_splits, 8, 16, 3, seed=1)
    assert a == b and set(a) == {"train", "val"}
    assert model.training, "estimate_loss restores training mode"


def test_nan_loss_stops_with_a_clear_error(shakespeare_splits):
    model = GPT(SMALL)
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="the loss became nan at step 0: lower learning_rate"):
        train(model, shakespeare_splits, QUICK)


def test_best_checkpoint_is_kept_and_resumes(tmp_path, shakespeare_splits, char_tokenizer):
    torch.manual_seed(0)
    model = GPT(SMALL)
    path = tmp_path / "run" / "ckpt.pt"
    history = train(model, shakespeare_splits, QUICK, tokenizer=char_tokenizer, checkpoint_path=path)
    saved = load_checkpoint(path)
    assert saved.step == history.best_step and saved.val_loss == pytest.approx(history.best_val_loss)
    assert saved.train_config == QUICK
    longer = TrainConfig(**{**QUICK.__dict__, "max_iters": 40})
    resumed = train(GPT(SMALL), shakespeare_splits, longer, tokenizer=char_tokenizer,
                    checkpoint_path=path, resume=path)  # fmt: skip
    assert len(resumed.step_losses) == 40 - (saved.step + 1), "resume continues after the saved step"
    assert resumed.eval_steps == [39]


def test_train_refuses_data_shorter_than_a_block(char_tokenizer):
    from attention_playground import DataError, Splits

    short = Splits(torch.arange(100) % 65, torch.arange(10) % 65)
    with pytest.raises(DataError, match="the validation split has 10 tokens"):
        train(GPT(SMALL), short, QUICK)


def test_checkpoint_needs_a_tokenizer(shakespeare_splits, tmp_path):
    with pytest.raises(ConfigError, match="pass tokenizer="):
        train(GPT(SMALL), shakespeare_splits, QUICK, checkpoint_path=tmp_path / "c.pt")
