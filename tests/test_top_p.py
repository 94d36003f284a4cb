"""Top-p (nucleus) sampling: the fewest likeliest tokens whose probabilities reach p, renormalised."""

import subprocess
import sys

import pytest
import torch
from torch.testing import assert_close

from attention_playground import ConfigError, ExtendedGPT, GPTConfig, sample_text
from attention_playground.nn.decoding import next_token, sampling_probs

LOGITS = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))  # probabilities 0.5, 0.25, 0.15, 0.1


@pytest.mark.parametrize(
    ("p", "kept"),
    [(0.3, [0]), (0.5, [0]), (0.6, [0, 1]), (0.75, [0, 1]), (0.8, [0, 1, 2]), (0.95, [0, 1, 2, 3])],
)
def test_the_nucleus_is_the_fewest_likeliest_tokens_that_reach_p(p, kept):
    probs = sampling_probs(LOGITS, top_p=p)[0]
    expected = torch.zeros(4)
    expected[kept] = torch.tensor([0.5, 0.25, 0.15, 0.1])[kept]
    assert_close(probs, expected / expected.sum())


def test_top_p_of_one_cuts_nothing_and_combines_with_temperature_and_top_k():
    assert_close(sampling_probs(LOGITS, top_p=1.0), sampling_probs(LOGITS))
    hot = sampling_probs(LOGITS, temperature=2.0, top_k=3, top_p=0.6)[0]  # tempered: 0.39, 0.27, 0.21
    assert hot[3] == 0 and hot[2] == 0 and hot[:2].sum().item() == pytest.approx(1.0)


def test_sampling_draws_only_from_the_nucleus():
    rows = LOGITS.expand(4_000, -1)
    tokens = next_token(rows, top_p=0.6, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(tokens.flatten(), minlength=4)
    assert counts[2:].sum() == 0 and abs(counts[0].item() / 4_000 - 2 / 3) < 0.03


@pytest.mark.parametrize("p", [0, -0.1, 1.5, float("nan")])
def test_a_top_p_outside_zero_to_one_is_one_clear_line(p):
    with pytest.raises(ConfigError, match=r"top_p=.* must be in \(0, 1\]"):
        sample_text(_model(), _Chars(), "a", 3, top_p=p)


def test_the_same_seed_and_top_p_give_the_same_text():
    model = _model()
    assert sample_text(model, _Chars(), "ab", 20, top_p=0.9, seed=3) == sample_text(
        model, _Chars(), "ab", 20, top_p=0.9, seed=3
    )


def test_the_command_line_takes_top_p_and_refuses_it_out_of_range(tmp_path):
    for bad in ("0", "1.5"):
        command = ["sample", "--checkpoint", str(tmp_path), "--top-p", bad]
        result = subprocess.run(
            [sys.executable, "-m", "attention_playground", *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and "argument --top-p: must be" in result.stderr
        assert result.stderr.count("\n") == 1, "one line"


class _Chars:
    """Four characters, enough to sample from a tiny model."""

    def encode(self, text: str) -> list[int]:
        return ["abcd".index(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join("abcd"[i] for i in ids)


def _model() -> ExtendedGPT:
    torch.manual_seed(0)
    return ExtendedGPT(GPTConfig(vocab_size=4, block_size=8, n_embd=16, n_head=2, n_layer=1)).eval()
