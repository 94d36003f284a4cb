import dataclasses
import math

import pytest
import torch

from attention_playground import (
    ConfigError,
    ExtendedGPT,
    GPTConfig,
    TrainConfig,
    TrainingDiverged,
    estimate_loss,
    learning_rate_at,
    load_checkpoint,
    train,
)
from attention_playground.training.callbacks import Callback, ProgressBar
from attention_playground.training.optim import make_optimizer
from attention_playground.training.trainer import Trainer

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
        history = train(ExtendedGPT(SMALL), shakespeare_splits, QUICK)
        runs.append(history)
    assert runs[0].step_losses == runs[1].step_losses
    assert runs[0].val_loss == runs[1].val_loss
    assert runs[0].eval_steps == [9, 19, 29]
    assert runs[0].val_loss[-1] < math.log(65), "30 steps should already beat a uniform guess"


def test_estimate_loss_is_deterministic(shakespeare_splits):
    torch.manual_seed(0)
    model = ExtendedGPT(SMALL)
    a = estimate_loss(model, shakespeare_splits, 8, 16, 3, seed=1)
    b = estimate_loss(model, shakespeare_splits, 8, 16, 3, seed=1)
    assert a == b and set(a) == {"train", "val"}
    assert model.training, "estimate_loss restores training mode"


def test_nan_loss_stops_with_a_clear_error(shakespeare_splits):
    model = ExtendedGPT(SMALL)
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="the loss became nan at step 1: lower learning_rate"):
        train(model, shakespeare_splits, QUICK)


def test_best_checkpoint_is_kept_and_resumes(tmp_path, shakespeare_splits, char_tokenizer):
    torch.manual_seed(0)
    model = ExtendedGPT(SMALL)
    path = tmp_path / "run" / "ckpt.pt"
    history = train(model, shakespeare_splits, QUICK, tokenizer=char_tokenizer, checkpoint_path=path)
    saved = load_checkpoint(path)
    assert saved.step == history.best_step and saved.val_loss == pytest.approx(history.best_val_loss)
    assert saved.train_config == QUICK
    longer = TrainConfig(**{**QUICK.__dict__, "max_iters": 40})
    resumed = train(ExtendedGPT(SMALL), shakespeare_splits, longer, tokenizer=char_tokenizer,
                    checkpoint_path=path, resume=path)  # fmt: skip
    assert len(resumed.step_losses) == 40, "the history goes on from the saved one"
    kept = saved.step + 1
    assert resumed.step_losses[:kept] == history.step_losses[:kept], "the steps before the checkpoint"
    assert resumed.eval_steps == [9, 19, 29, 39], "the saved evaluations, then the rest"


def test_train_refuses_data_shorter_than_a_block(char_tokenizer):
    from attention_playground import DataError, Splits

    short = Splits(torch.arange(100) % 65, torch.arange(10) % 65)
    with pytest.raises(DataError, match="the validation split has 10 tokens"):
        train(ExtendedGPT(SMALL), short, QUICK)


def test_checkpoint_needs_a_tokenizer(shakespeare_splits, tmp_path):
    with pytest.raises(ConfigError, match="pass tokenizer="):
        train(ExtendedGPT(SMALL), shakespeare_splits, QUICK, checkpoint_path=tmp_path / "c.pt")


class Recorder(Callback):
    """Writes down every event, and stops the run after `stop_after` steps if asked."""

    def __init__(self, stop_after: int | None = None):
        self.events, self.stop_after = [], stop_after

    def on_run_begin(self, trainer):
        self.events.append(("begin", trainer.step))

    def on_step(self, trainer, step, loss):
        assert loss == trainer.history.step_losses[-1] and trainer.step == step + 1
        self.events.append(("step", step))
        if self.stop_after is not None and trainer.step == self.stop_after:
            trainer.request_stop()

    def on_eval(self, trainer, step, losses):
        assert losses == {"train": trainer.history.train_loss[-1], "val": trainer.history.val_loss[-1]}
        self.events.append(("eval", step))

    def on_run_end(self, trainer):
        self.events.append(("end", trainer.step))


def test_callbacks_hear_every_step_and_evaluation(shakespeare_splits):
    torch.manual_seed(0)
    recorder = Recorder()
    trainer = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=[recorder])
    history = trainer.run()
    steps = [step for event, step in recorder.events if event == "step"]
    evals = [step for event, step in recorder.events if event == "eval"]
    assert steps == list(range(QUICK.max_iters)) and len(history.step_losses) == len(steps)
    assert evals == history.eval_steps == [9, 19, 29]
    assert recorder.events[0] == ("begin", 0) and recorder.events[-1] == ("end", 30)
    assert recorder.events.index(("eval", 9)) == recorder.events.index(("step", 9)) + 1, "eval after its step"


def test_a_callback_can_stop_the_run_and_run_continues_it(shakespeare_splits):
    torch.manual_seed(0)
    recorder = Recorder(stop_after=10)  # step 10 is also an evaluation: it runs before the stop
    trainer = Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=[recorder])
    trainer.run()
    assert trainer.step == 10 and not trainer.done
    assert trainer.history.eval_steps == [9] and recorder.events[-1] == ("end", 10)
    seconds = trainer.history.seconds
    trainer.run()
    assert trainer.done and len(trainer.history.step_losses) == 30
    assert trainer.history.seconds > seconds, "history.seconds adds up the runs"
    assert [event for event in recorder.events if event[0] == "begin"] == [("begin", 0), ("begin", 10)]


def test_any_object_with_some_of_the_methods_is_a_callback(shakespeare_splits):
    class StepCounter:  # no Callback base class, only on_step
        count = 0

        def on_step(self, trainer, step, loss):
            self.count += 1

    counter = StepCounter()
    Trainer(ExtendedGPT(SMALL), shakespeare_splits, QUICK, callbacks=[counter]).run()
    assert counter.count == QUICK.max_iters


def test_progress_bar_counts_every_step(shakespeare_splits):
    bar = ProgressBar()
    Trainer(
        ExtendedGPT(SMALL), shakespeare_splits, dataclasses.replace(QUICK, max_iters=12), callbacks=[bar]
    ).run()
    assert bar.bar.n == bar.bar.total == 12
    assert bar.bar.postfix.startswith("train=") and ", val=" in bar.bar.postfix, "the latest losses"


def test_constant_schedule_keeps_the_learning_rate_after_warmup():
    constant = TrainConfig(max_iters=100, warmup=0, learning_rate=3e-4, min_lr=3e-4, schedule="constant")
    assert [learning_rate_at(s, constant) for s in range(100)] == [3e-4] * 100
    warmed = dataclasses.replace(constant, warmup=10, min_lr=0.0)
    lrs = [learning_rate_at(s, warmed) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] < 3e-4 and lrs[10:] == [3e-4] * 90
    cosine = dataclasses.replace(warmed, schedule="cosine")
    assert learning_rate_at(99, cosine) == pytest.approx(0.0), "min_lr is where cosine ends"


def test_linear_schedule_falls_in_a_straight_line_from_the_peak_to_min_lr():
    linear = TrainConfig(max_iters=111, warmup=10, learning_rate=1e-3, min_lr=1e-4, schedule="linear")
    lrs = [learning_rate_at(s, linear) for s in range(111)]
    assert lrs[10] == pytest.approx(1e-3) and lrs[110] == pytest.approx(1e-4)
    assert lrs[60] == pytest.approx(5.5e-4), "halfway down the line: the mean of the two ends"
    drops = [a - b for a, b in zip(lrs[10:], lrs[11:], strict=False)]
    assert drops == pytest.approx([9e-6] * 100), "the same drop every step"
    cosine = dataclasses.replace(linear, schedule="cosine")
    assert learning_rate_at(35, cosine) > lrs[35] and learning_rate_at(85, cosine) < lrs[85], (
        "cosine stays high longer at the start and ends lower near the end"
    )


def test_a_constant_run_trains_at_one_rate(shakespeare_splits):
    config = dataclasses.replace(QUICK, schedule="constant", warmup=0, max_iters=10)
    history = train(ExtendedGPT(SMALL), shakespeare_splits, config)
    assert history.learning_rates == [QUICK.learning_rate] * 10


def decay_of(optimizer) -> dict[int, float]:
    """id(parameter) -> the weight decay of its group."""
    return {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}


def test_weight_decay_spares_biases_and_norms_unless_asked():
    model = ExtendedGPT(dataclasses.replace(SMALL, bias=True))
    decay = decay_of(make_optimizer(model, QUICK))
    assert len(decay) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        assert decay[id(p)] == (QUICK.weight_decay if p.dim() >= 2 else 0.0), name
    assert any(p.dim() < 2 for p in model.parameters()), "the model has biases and gains to spare"
    everything = dataclasses.replace(QUICK, decay_norms_and_biases=True, weight_decay=0.01)
    decay = decay_of(make_optimizer(model, everything))
    assert len(decay) == len(list(model.parameters()))
    assert set(decay.values()) == {0.01}, "every parameter decays, as torch's AdamW(model.parameters())"


def test_betas_reach_the_optimizer():
    model = ExtendedGPT(SMALL)
    assert all(g["betas"] == (0.9, 0.99) for g in make_optimizer(model, QUICK).param_groups)
    lecture = dataclasses.replace(QUICK, betas=(0.9, 0.999))
    assert all(g["betas"] == (0.9, 0.999) for g in make_optimizer(model, lecture).param_groups)


def test_a_model_without_a_block_size_needs_one(shakespeare_splits):
    from attention_playground import BigramLanguageModel

    with pytest.raises(ConfigError, match="pass block_size="):
        train(BigramLanguageModel(65), shakespeare_splits, QUICK)
    history = train(BigramLanguageModel(65), shakespeare_splits, dataclasses.replace(QUICK, max_iters=3),
                    block_size=8)  # fmt: skip
    assert len(history.step_losses) == 3
