"""train --minutes: the schedule follows the clock, evaluations keep their cadence, time ends the run."""

import dataclasses
import math
import time

import pytest
import torch

from attention_playground import PRESETS, ConfigError, ExtendedGPT, GPTConfig, TrainConfig, load_checkpoint
from attention_playground.data.batches import Splits
from attention_playground.training.budget import (
    NO_STEP_LIMIT,
    TimeBudget,
    budget_learning_rate,
    eval_iters_within,
    timed,
    train_for,
)
from attention_playground.training.config import budget_preset_for
from attention_playground.training.trainer import Trainer

CONFIG = TrainConfig(
    batch_size=4, max_iters=1000, eval_interval=1000, eval_iters=2, learning_rate=1e-2, warmup=5,
    min_lr=1e-3, device="cpu",
)  # fmt: skip


class FakeClock:
    """time.perf_counter that moves `tick` seconds each time it is read (after the `first` moves):
    a machine of known speed."""

    def __init__(self, tick: float, first: tuple[float, ...] = ()):
        self.now, self.tick, self.first = 0.0, tick, list(first)

    def __call__(self) -> float:
        self.now += self.first.pop(0) if self.first else self.tick
        return self.now


def test_budget_learning_rate_warms_up_by_steps_then_follows_the_clock():
    assert budget_learning_rate(0, 0.0, CONFIG) == pytest.approx(1e-2 / 6)
    assert budget_learning_rate(4, 0.9, CONFIG) == pytest.approx(1e-2 * 5 / 6), "warmup counts steps"
    assert budget_learning_rate(5, 0.0, CONFIG) == pytest.approx(1e-2)
    assert budget_learning_rate(500, 0.5, CONFIG) == pytest.approx((1e-2 + 1e-3) / 2)
    assert budget_learning_rate(50, 1.0, CONFIG) == pytest.approx(1e-3), "the same at any step count"
    assert budget_learning_rate(9, 1.7, CONFIG) == pytest.approx(1e-3), "past the budget: min_lr"
    constant = dataclasses.replace(CONFIG, schedule="constant")
    assert budget_learning_rate(50, 0.8, constant) == 1e-2
    linear = dataclasses.replace(CONFIG, schedule="linear")
    assert budget_learning_rate(500, 0.25, linear) == pytest.approx(1e-2 - 0.25 * 9e-3), "a straight line"
    assert budget_learning_rate(500, 0.25, linear) < budget_learning_rate(500, 0.25, CONFIG)
    assert budget_learning_rate(50, 1.0, linear) == pytest.approx(1e-3)


def test_budgeted_config_has_no_step_limit():
    config = timed(CONFIG)
    assert (config.max_iters, config.eval_interval) == (NO_STEP_LIMIT, NO_STEP_LIMIT)
    assert dataclasses.replace(config, max_iters=1000, eval_interval=1000) == CONFIG


@pytest.mark.parametrize("seconds", [0, -1.0])
def test_a_budget_must_be_positive(seconds):
    with pytest.raises(ConfigError, match="a time budget must be positive"):
        TimeBudget(seconds)
    with pytest.raises(ConfigError, match="eval_every=0 must be a positive number of seconds"):
        TimeBudget(10, eval_every=0)


def run_on_clock(splits, config, budget, tick, monkeypatch, first=()):
    """A Trainer under `budget` on a machine where every step and every evaluation takes `tick` s."""
    monkeypatch.setattr(time, "perf_counter", FakeClock(tick, first))  # the Trainer's clock
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2))
    trainer = Trainer(model, splits, config, callbacks=[budget])
    return trainer, trainer.run()


def test_time_ends_the_run_with_an_evaluation_and_the_schedule_spans_it(shakespeare_splits, monkeypatch):
    budget = TimeBudget(4.0, eval_every=1.0)
    trainer, history = run_on_clock(shakespeare_splits, timed(CONFIG), budget, 0.125, monkeypatch)
    assert budget.finished and not trainer.done, "time stopped it, not max_iters"
    # 8 steps to each 1 s evaluation (each 0.125 s), 3 times; at 3.75 s one more step and the final
    # evaluation would not fit in 4 s: it evaluates then, and stops at 3.875 s
    assert history.eval_steps == [7, 15, 23, 26] and trainer.step == 27
    assert budget.elapsed == 3.875 and history.seconds <= 4.0  # (run() reads the clock once more)
    rates = history.learning_rates
    assert rates[:5] == [pytest.approx(1e-2 * (s + 1) / 6) for s in range(5)], "warmup by steps"
    after = rates[5:]
    assert after == sorted(after, reverse=True), "then it only falls"
    assert after[0] > 0.9e-2 and after[-1] < 1e-3 + 0.05 * (1e-2 - 1e-3), "from near the top to near min_lr"
    assert rates[-1] == pytest.approx(budget_learning_rate(26, 3.625 / 4.0, CONFIG)), "set from elapsed time"


def test_a_slower_machine_takes_fewer_steps_under_the_same_schedule(shakespeare_splits, monkeypatch):
    ends = {}
    for tick in (0.125, 0.25):
        budget = TimeBudget(4.0, eval_every=1.0)
        trainer, history = run_on_clock(shakespeare_splits, timed(CONFIG), budget, tick, monkeypatch)
        ends[tick] = (trainer.step, history.learning_rates[-1])
    (fast_steps, fast_lr), (slow_steps, slow_lr) = ends[0.125], ends[0.25]
    assert (fast_steps, slow_steps) == (27, 12)
    assert fast_lr < 1.5e-3 and slow_lr < 2e-3, "both end near min_lr"


def test_the_final_evaluation_is_kept_room_for(shakespeare_splits, monkeypatch):
    """Before the first evaluation the budget guesses its cost (2 x eval_iters forwards at a third of
    a step each) and stops in time for it."""
    config = dataclasses.replace(timed(CONFIG), eval_iters=30)  # guessed at 2 x 30 / 3 steps = 2.5 s
    trainer, history = run_on_clock(shakespeare_splits, config, TimeBudget(3.0), 0.125, monkeypatch)
    assert trainer.step == 3 and history.eval_steps == [2], "0.375 s + a step + 2.5 s reach 3 s"


def test_a_slow_first_step_does_not_end_the_run(shakespeare_splits, monkeypatch):
    """The first step pays one-time costs; judged by it, 2 x 30 / 3 steps of evaluation would not fit."""
    config = dataclasses.replace(timed(CONFIG), eval_iters=30)
    first = (0.125, 1.0)  # run() starts the clock, then the first step takes 1 s
    budget = TimeBudget(5.0, eval_every=10.0)  # no evaluation before the last
    trainer, history = run_on_clock(shakespeare_splits, config, budget, 0.125, monkeypatch, first)
    assert trainer.step == 12, "1 s + 11 steps of 0.125 s, then one more and a 2.5 s guess reach 5 s"
    assert history.eval_steps == [11]


def test_the_trainer_takes_a_callbacks_schedule_and_extra_evaluations(shakespeare_splits, small_config):
    class EveryThird:
        def on_run_begin(self, trainer):
            trainer.lr_schedule = lambda step, config: 0.001 * (step + 1)

        def on_step(self, trainer, step, loss):
            if step % 3 == 0:
                trainer.request_eval()

    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, max_iters=7, eval_interval=100)
    trainer = Trainer(ExtendedGPT(small_config), shakespeare_splits, config, callbacks=[EveryThird()])
    history = trainer.run()
    assert history.learning_rates == [pytest.approx(0.001 * (s + 1)) for s in range(7)]
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.007)
    assert history.eval_steps == [0, 3, 6], "the requested ones, and the last step's"


def test_train_for_keeps_the_best_checkpoint(tmp_path, shakespeare_splits, char_tokenizer, small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    path = tmp_path / "ckpt.pt"
    history = train_for(
        model, shakespeare_splits, CONFIG, 1.5, tokenizer=char_tokenizer, checkpoint_path=path, eval_every=0.5
    )
    assert history.eval_steps and history.eval_steps[-1] == len(history.step_losses) - 1
    assert 0.5 < history.seconds < 1.5 + 10, "about the budget (a loaded machine may add a step)"
    assert not model.training
    saved = load_checkpoint(path)
    assert saved.val_loss == history.best_val_loss and saved.step == history.best_step
    assert history.val_loss[-1] < math.log(65), "it learned something"


def test_the_budget_preset_is_four_rope_layers_over_blocks_of_128_with_tied_weights():
    budget, cpu = PRESETS["budget"], PRESETS["cpu"]
    model = budget.model
    assert (model.n_layer, model.n_head, model.n_embd, model.block_size) == (4, 4, 128, 128)
    assert model.position == "rope" and model.tie_weights and model.dropout == 0.0
    assert model.activation == "relu_squared"
    schedule = (budget.train.schedule, budget.train.min_lr, budget.train.betas)
    assert schedule == ("linear", 0.0, (0.9, 0.95)), "a straight line to 0, beta2 0.95"
    untied_learned = ExtendedGPT(
        dataclasses.replace(model, vocab_size=65, tie_weights=False, position="learned")
    )
    no_lm_head_nor_position_table = untied_learned.num_params() - 65 * 128 - 128 * 128
    assert ExtendedGPT(budget.model_config(65)).num_params() == no_lm_head_nor_position_table
    assert (budget.train.batch_size, budget.train.learning_rate, budget.train.optimizer) == (16, 5e-3, "muon")
    assert ExtendedGPT(cpu.model_config(65)).num_params() == 418_688, "the cpu preset is unchanged"
    assert GPTConfig().tie_weights is False and GPTConfig().position == "learned"


def test_the_gpt2_budget_preset_is_the_budget_preset_with_dropout_and_more_weight_decay():
    budget, gpt2 = PRESETS["budget"], PRESETS["budget-gpt2"]
    assert gpt2.model == dataclasses.replace(budget.model, dropout=0.1, attention_dropout=False)
    assert gpt2.train == dataclasses.replace(budget.train, weight_decay=1.0)
    assert (budget_preset_for("char"), budget_preset_for("gpt2"), budget_preset_for("gpt2-full")) == (
        "budget",
        "budget-gpt2",
        "budget-gpt2",
    )


def test_a_budgets_evaluations_cover_the_val_split_at_most_once(tmp_path, shakespeare_splits, char_tokenizer):
    config = TrainConfig(batch_size=32, eval_iters=50)
    assert eval_iters_within(config, shakespeare_splits, 64).eval_iters == 50, (
        "111,540 characters: 55 batches"
    )
    gpt2_sized = Splits(shakespeare_splits.train, shakespeare_splits.val[:33_803])  # its val split's tokens
    assert eval_iters_within(config, gpt2_sized, 64).eval_iters == 17
    short = Splits(shakespeare_splits.train, shakespeare_splits.val[:200])
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=1))
    config = dataclasses.replace(CONFIG, eval_iters=10)  # batches of 4 x 16: 4 of them cover 200 tokens
    train_for(model, short, config, 0.5, tokenizer=char_tokenizer, checkpoint_path=tmp_path / "ckpt.pt")
    saved = load_checkpoint(tmp_path / "ckpt.pt").train_config
    assert (saved.eval_iters, saved.max_iters) == (4, NO_STEP_LIMIT)
