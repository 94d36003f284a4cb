"""Notebook 08's library: repeated-token data, induction scores, ablation runs and their table, the
callback that watches heads form, the phase-change measurements. Tiny budgets: seconds in all."""

import dataclasses
import math

import pytest
import torch

from attention_playground import GPTConfig, TrainConfig
from attention_playground.analysis.attention_maps import induction_scores
from attention_playground.course import experiments as ex
from attention_playground.training.history import History

TINY = GPTConfig(vocab_size=65, block_size=16, n_embd=16, n_head=2, n_layer=1)
QUICK = TrainConfig(batch_size=4, max_iters=4, eval_interval=2, eval_iters=1, warmup=0, device="cpu")


def test_repeated_tokens_copy_the_first_half():
    x, y = ex.repeated_tokens(5, 6, 62, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 11)
    sequence = torch.cat([x, y[:, -1:]], dim=1)  # (B, 12)
    assert torch.equal(sequence[:, 6:], sequence[:, :6])
    assert torch.equal(y[:, :-1], x[:, 1:]), "y is x shifted by one"


def test_repeats_of_varying_length_sit_at_the_end_and_only_they_are_trained():
    x, y = ex.repeated_tokens(64, 8, 62, torch.Generator().manual_seed(0), shortest=3, repeat_only=True)
    sequence = torch.cat([x, y[:, -1:].clamp(min=0)], dim=1)  # the last target is always kept
    lengths = set()
    for row, targets in zip(sequence, y, strict=True):
        trained = (targets != -100).nonzero().flatten()  # y[j] is token j + 1
        length = len(trained) + 1  # the copy's first token cannot be predicted: not trained
        lengths.add(length)
        copy = row[16 - length :]
        assert torch.equal(copy, row[16 - 2 * length : 16 - length]), "the last L tokens repeat the L before"
        assert trained.tolist() == list(range(16 - length, 15))
    assert lengths == set(range(3, 9)), "every length from shortest to half"


def test_induction_scores_of_a_perfect_and_an_even_head():
    half, T = 5, 9
    perfect = torch.zeros(T, T)
    for t in range(T):
        perfect[t, t - half + 1 if t >= half else t] = 1.0  # the token after the earlier occurrence
    even = torch.ones(T, T).tril() / torch.arange(1, T + 1)[:, None]
    scores = induction_scores(torch.stack([perfect, even])[None], half)  # (1, 2)
    assert scores[0, 0].item() == 1.0
    expected = sum(1 / (t + 1) for t in range(half, T)) / (T - half)
    assert scores[0, 1].item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="half=9"):
        induction_scores(even, 9)


def test_crossing_step_either_way():
    steps = [0, 10, 20, 30]
    assert ex.crossing_step(steps, torch.tensor([0.0, 0.1, 0.6, 0.8]), 0.4) == 20
    assert ex.crossing_step(steps, torch.tensor([4.0, 3.9, 1.0, 0.2]), 2.1) == 20
    assert ex.crossing_step(steps, torch.tensor([0.0, 0.1, 0.2, 0.3]), 0.5) is None


def test_run_ablation_measures_past_the_trained_length_only_where_defined(shakespeare_splits):
    learned = ex.run_ablation("learned", shakespeare_splits, TINY, QUICK)
    rope = ex.run_ablation("rope", shakespeare_splits, TINY, QUICK, position="rope")
    assert learned.long_val_loss is None and learned.config.position == "learned"
    assert rope.config.position == "rope" and rope.long_block_size == 32
    assert math.isfinite(rope.long_val_loss)
    assert rope.gap == pytest.approx(rope.val_loss - rope.train_loss)
    again = ex.run_ablation("learned", shakespeare_splits, TINY, QUICK)
    assert again.history.step_losses == learned.history.step_losses, "one seed: the same run twice"
    table = ex.ablation_table([learned, rope])
    lines = table.splitlines()
    assert lines[0].startswith("| variant | val loss | vs learned |") and len(lines) == 4
    assert "n/a (learned: no row past T=16)" in lines[2] and f"{rope.long_val_loss:.3f}" in lines[3]
    assert f"{rope.val_loss - learned.val_loss:+.3f}" in lines[3]


def test_dropout_rows_train_on_the_first_tokens_only(shakespeare_splits):
    small = ex.overfit_splits(shakespeare_splits, 500)
    assert torch.equal(small.train, shakespeare_splits.train[:500]) and small.val is shakespeare_splits.val
    runs = ex.run_dropout_ablations(shakespeare_splits, TINY, QUICK, tokens=500)
    assert [run.config.dropout for run in runs] == [0.0, 0.2]
    rows = ex.ablation_table(runs).splitlines()[2:]
    assert all(
        "first 500 training tokens" in run.note and run.note in row
        for run, row in zip(runs, rows, strict=True)
    )


def test_head_recorder_keeps_the_start_and_every_evaluation(shakespeare_splits, char_tokenizer):
    config = dataclasses.replace(QUICK, max_iters=5)
    forming = ex.train_watching_heads(shakespeare_splits, char_tokenizer, "ROMEO:\nBut", TINY, config)
    assert [s.step for s in forming.snapshots] == [0, 2, 4, 5]
    assert math.isnan(forming.snapshots[0].val_loss)
    assert [s.val_loss for s in forming.snapshots[1:]] == forming.history.val_loss
    assert forming.snapshots[0].weights.shape == (1, 2, 10, 10) and len(forming.labels) == 10
    first = forming.snapshots[0].patterns.previous
    assert first.shape == (1, 2)


def test_first_step_above_needs_the_head_to_stay_above():
    from attention_playground.analysis.attention_maps import HeadSnapshot, head_patterns

    def snapshot(step: int, previous: float) -> HeadSnapshot:
        """One head whose queries 1 and 2 put `previous` on the token before them."""
        weights = torch.tensor([[1.0, 0, 0], [previous, 1 - previous, 0], [0, previous, 1 - previous]])
        patterns = head_patterns(weights[None, None], ["a", "b", "c"])
        assert patterns.previous.item() == pytest.approx(previous)
        return HeadSnapshot(step, weights[None, None], patterns, 1.0)

    snapshots = [snapshot(0, 0.1), snapshot(10, 0.8), snapshot(20, 0.2), snapshot(30, 0.9), snapshot(40, 0.7)]
    assert ex.first_step_above(snapshots, "previous", 0.5, 0, 0) == 30
    assert ex.first_step_above(snapshots, "previous", 0.95, 0, 0) is None


def test_train_induction_records_as_it_goes():
    config = dataclasses.replace(ex.InductionConfig(), max_iters=4, record_every=2, eval_sequences=8, half=6)
    run = ex.train_induction(config)
    assert run.steps == [0, 2, 4]
    nh = config.n_head
    assert run.series("induction").shape == (3, nh) and run.series("previous").shape == (3, nh)
    assert abs(run.repeat_loss[0] - math.log(62)) < 0.3, "untrained: a guess among 62"
    assert all(block.ffwd is None for block in run.model.blocks), "attention only"
    assert 0 <= run.induction_head() < nh and 0 <= run.previous_head() < nh
    changes = ex.phase_change(run)
    assert set(changes) == {
        "loss on the copy, halfway down",
        "induction score, half its final",
        "previous-token score, half its final",
    }


def test_letters_tokenizer():
    letters = ex.letters_tokenizer(62)
    assert letters.vocab_size == 62 and letters.decode(letters.encode("q7GxTb")) == "q7GxTb"
    with pytest.raises(ValueError, match="vocab_size=63"):
        ex.letters_tokenizer(63)


def test_history_alone_fills_a_table_row():
    history = History(step_losses=[3.0], eval_steps=[0], train_loss=[2.0], val_loss=[2.5], seconds=1.0)
    run = ex.AblationResult("x", TINY, None, history, None, 32)  # type: ignore[arg-type]
    assert ex.ablation_table([run]).splitlines()[2] == (
        "| x | 2.500 | +0.000 | +0.500 | n/a (learned: no row past T=16) | 1 s |"
    )
