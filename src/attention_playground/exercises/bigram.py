"""Exercises of notebook 01: the bigram loss with its reshape, and the counted bigram table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..nn.base import LanguageModel
from ._core import Case, Comparison, Mistake, as_tensor, call, exercise, gives, raises_like, same, tensor


def _loss_case(B: int, T: int, V: int, seed: int) -> Case:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=generator)
    targets = torch.randint(V, (B, T), generator=generator)
    return Case({"logits": logits, "targets": targets})


def _flat(logits: torch.Tensor) -> torch.Tensor:
    return logits.reshape(-1, logits.size(-1))


LOSS_MISTAKES = [
    raises_like(
        "cross_entropy read the classes from dimension 1 (time): the logits were not reshaped",
        "F.cross_entropy wants (N, V) logits with (N,) targets: flatten batch and time into one dimension",
        lambda logits, targets: F.cross_entropy(logits, targets),
    ),
    gives(
        "your logits are flattened time-major but the targets batch-major: batch and time are mixed",
        "flatten logits and targets the same way, so row i of one still pairs with entry i of the other",
        lambda logits, targets: F.cross_entropy(_flat(logits.transpose(0, 1)), targets.reshape(-1)),
    ),
    gives(
        "your targets are flattened time-major but the logits batch-major: batch and time are mixed",
        "transposing only the targets pairs a prediction with another position's answer",
        lambda logits, targets: F.cross_entropy(_flat(logits), targets.t().reshape(-1)),
    ),
    gives(
        "you transposed the logits to (B, V, T) and then viewed them as (B*T, V): time and vocabulary mixed",
        "a view keeps the memory order: after a transpose the last dimension is time, not the vocabulary",
        lambda logits, targets: F.cross_entropy(
            logits.transpose(1, 2).reshape(-1, logits.size(-1)), targets.reshape(-1)
        ),
    ),
    gives(
        "your loss is the sum over the B*T positions, not the mean",
        "the loss is the mean cross-entropy, so it does not grow with the batch (F.cross_entropy's default)",
        lambda logits, targets: F.cross_entropy(_flat(logits), targets.reshape(-1), reduction="sum"),
    ),
    gives(
        "you applied a softmax before cross_entropy",
        "F.cross_entropy takes raw logits: it applies log-softmax itself",
        lambda logits, targets: F.cross_entropy(_flat(logits.softmax(-1)), targets.reshape(-1)),
    ),
    gives(
        "your loss is nll_loss of the raw logits: the log-softmax is missing",
        "nll_loss expects log-probabilities; F.cross_entropy = log_softmax + nll_loss",
        lambda logits, targets: F.nll_loss(_flat(logits), targets.reshape(-1)),
    ),
    Mistake(
        "your loss is one number per position, not their mean",
        "reduce the B*T losses to one scalar: their mean",
        lambda case, got, run: tensor(got).numel() == case.inputs["targets"].numel() > 1,
    ),
]


def _reference_loss(case: Case) -> torch.Tensor:
    loss = LanguageModel.loss(*case.args)
    assert loss is not None  # every case has targets
    return loss


@exercise("my_bigram_loss")
def check_bigram_loss(fn: Callable) -> str:
    """fn(logits (B, T, V), targets (B, T)) -> the mean cross-entropy, a scalar."""
    cases = [_loss_case(1, 2, 3, 0), _loss_case(2, 3, 5, 1), _loss_case(3, 2, 4, 2)]

    def equal(want: torch.Tensor, got: Any) -> bool:
        got = as_tensor(got)
        return got is not None and got.numel() == 1 and same(want, got.reshape(()))

    Comparison(
        "my_bigram_loss",
        "loss",
        lambda case: call(fn, *case.args),
        _reference_loss,
        LOSS_MISTAKES,
        hint="flatten (B, T, V) to (B*T, V) and (B, T) to (B*T,), then F.cross_entropy",
        equal=equal,
    ).check(cases)
    return "The mean cross-entropy over every position of (B, T, V) logits, on 3 shapes with B != T."


# ---- bigram_counts -------------------------------------------------------------------------------------


def _counts(
    tokens: torch.Tensor, V: int, pairs: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    current, following = pairs if pairs is not None else (tokens[:-1], tokens[1:])
    return torch.bincount(current * V + following, minlength=V * V).reshape(V, V).float()


def _rows(m: torch.Tensor, dim: int = 1) -> torch.Tensor:
    return m / m.sum(dim=dim, keepdim=True)


def _rows_sum_to_1(case: Case, got: Any, run) -> bool:
    got = tensor(got).double()
    return not torch.allclose(got.sum(dim=1), torch.ones(got.size(0), dtype=got.dtype), atol=1e-4)


COUNT_MISTAKES = [
    gives(
        "your table has no add-one smoothing: a pair never seen gets probability 0",
        "an unseen pair would cost an infinite loss on the validation text: add 1 to every count",
        lambda tokens, V: _rows(_counts(tokens, V)),
    ),
    gives(
        "you normalised the columns, not the rows",
        "row i is the distribution of the token after token i: each *row* sums to 1",
        lambda tokens, V: _rows(_counts(tokens, V) + 1, dim=0),
    ),
    gives(
        "your table is transposed: row i counts the tokens *before* token i",
        "count (current, next) pairs: counts[tokens[t], tokens[t + 1]]",
        lambda tokens, V: _rows(_counts(tokens, V).t() + 1),
    ),
    gives(
        "you counted a pair from the last token back to the first (the sequence wrapped around)",
        "torch.roll wraps around: the last token has no next token",
        lambda tokens, V: _rows(_counts(tokens, V, (tokens, tokens.roll(-1))) + 1),
    ),
    Mistake(
        "the rows of your table do not sum to 1", "each row is a probability distribution", _rows_sum_to_1
    ),
]


@exercise("my_bigram_counts")
def check_bigram_counts(fn: Callable) -> str:
    """fn(tokens (N,), vocab_size) -> (V, V): row i, P(next token | token i), add-one smoothed."""
    cases = []
    for seed, (V, N) in enumerate(((3, 6), (4, 20), (5, 50))):
        tokens = torch.randint(V, (N,), generator=torch.Generator().manual_seed(seed))
        cases.append(Case({"tokens": tokens, "vocab_size": V}))
    Comparison(
        "my_bigram_counts",
        "probabilities",
        lambda case: call(fn, *case.args),
        lambda case: _rows(_counts(*case.args) + 1),
        COUNT_MISTAKES,
        hint="count every (tokens[t], tokens[t + 1]) pair, add 1, divide each row by its sum",
    ).check(cases)
    return (
        "Row i holds P(next | i) from the pair counts plus one, each row summing to 1, on 3 token sequences."
    )
