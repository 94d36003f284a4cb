"""Exercises of notebooks 02-04: the causal average, masked softmax, scaled scores, attention, one Head."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.attention import Head, attention_scores, causal_average, masked_softmax
from ._core import (
    Case,
    Comparison,
    ExerciseError,
    Mistake,
    Run,
    as_tensor,
    call,
    exercise,
    gives,
    raises,
    report,
    sublayer,
    tensor,
)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def tril(T: int, diagonal: int = 0) -> torch.Tensor:
    return torch.ones(T, T).tril(diagonal).bool()


def softmax_masked(scores: torch.Tensor, keep: torch.Tensor, fill: float = float("-inf"), dim: int = -1):
    return F.softmax(scores.masked_fill(~keep, fill), dim=dim)


# ---- properties that give a mistake away -----------------------------------------------------------


def first_leak(
    case: Case, got: Any, run: Run, names: tuple[str, ...], time_dim: int = -2
) -> tuple[int, int] | None:
    """(t, s): the first output position t that changes when the inputs `names` change at position s > t."""
    got = as_tensor(got)
    T = case.inputs[names[0]].size(time_dim)
    for s in range(1, T):
        inputs = dict(case.inputs)
        for name in names:
            changed = inputs[name].clone()
            changed.narrow(time_dim, s, 1).add_(3.0)  # a very different token at position s
            inputs[name] = changed
        moved = tensor(run(Case(inputs).fresh())).double() - got.double()
        for t in range(s):
            if moved.narrow(time_dim, t, 1).abs().max() > 1e-4:
                return t, s
    return None


def reads_future(*names: str, time_dim: int = -2) -> Callable[[Case, Any, Run], bool]:
    return lambda case, got, run: first_leak(case, got, run, names, time_dim) is not None


def leak_detail(*names: str, time_dim: int = -2) -> Callable[[Case, Any, Run], list[str]]:
    def detail(case: Case, got: Any, run: Run) -> list[str]:
        leak = first_leak(case, got, run, names, time_dim)
        assert leak is not None  # a detail is asked for only once reads_future matched
        t, s = leak
        return [f"Changing position {s} of {' and '.join(names)} changed your output at position {t} < {s}."]

    return detail


def upper_weight(case: Case, got: Any, run: Run) -> bool:
    got = as_tensor(got)
    T = got.size(-1)
    return bool((got[..., ~tril(T)].abs() > 0).any())


def rows_not_one(case: Case, got: Any, run: Run) -> bool:
    sums = tensor(got).double().sum(dim=-1)
    return not torch.allclose(sums, torch.ones_like(sums), atol=1e-4)


# ---- causal_average ----------------------------------------------------------------------------------


def _prefix_mean(x: torch.Tensor, lo: int = 0) -> torch.Tensor:
    """Row t: the mean of x[t + lo] … x[t] (lo = 0) or of x[0 : t] (lo = -1)."""
    T = x.size(-2)
    weights = tril(T, lo).float()
    return (weights / weights.sum(dim=1, keepdim=True)) @ x


AVERAGE_MISTAKES = [
    gives(
        "your average leaves out the current token: position t averages only 0 … t-1",
        "position t may read itself: the past *and* the present (position 0 has only itself)",
        lambda x: _prefix_mean(x, -1),
    ),
    gives(
        "your average divides by T: position t sums t+1 tokens but divides by the whole length",
        "divide row t by the number of tokens it reads, t + 1, so each row of the weights sums to 1",
        lambda x: torch.tril(torch.ones(x.size(-2), x.size(-2))) / x.size(-2) @ x,
    ),
    gives(
        "your average reads the future: position t averages t … T-1 (triu where tril was asked?)",
        "torch.tril keeps what is on and *below* the diagonal: s <= t",
        lambda x: (lambda w: (w / w.sum(dim=1, keepdim=True)) @ x)(torch.ones(x.size(-2), x.size(-2)).triu()),
    ),
    gives(
        "your output is the running sum, not the running mean",
        "divide each row of the weights by its sum",
        lambda x: x.cumsum(dim=-2),
    ),
    gives(
        "you normalised the columns of the weights, not the rows",
        "row t of the weights gives position t's average: make each row sum to 1 (dim=1)",
        lambda x: (lambda w: (w / w.sum(dim=0, keepdim=True)) @ x)(torch.ones(x.size(-2), x.size(-2)).tril()),
    ),
    gives(
        "every position gets the mean of the whole sequence: no mask",
        "position t averages x[0 … t] only",
        lambda x: x.mean(dim=-2, keepdim=True).expand_as(x),
    ),
    Mistake(
        "your output at some position reads a later position",
        "position t averages x[0 … t] only",
        reads_future("x"),
        detail=leak_detail("x"),
    ),
]


@exercise("my_causal_average")
def check_causal_average(fn: Callable) -> str:
    """fn(x (B, T, C)) -> y (B, T, C): y[:, t] is the mean of x[:, 0 … t]."""
    shapes = ((1, 1, 2), (1, 2, 2), (1, 3, 2), (2, 4, 3), (4, 8, 2))
    cases = [Case({"x": randn(*shape, seed=i)}) for i, shape in enumerate(shapes)]
    Comparison(
        "my_causal_average",
        "y",
        lambda case: call(fn, *case.args),
        lambda case: causal_average(*case.args),
        AVERAGE_MISTAKES,
        hint="weights = tril(ones(T, T)), each row divided by its sum, then weights @ x",
    ).check(cases)
    return "y[:, t] is the mean of x[:, 0 … t], on 5 shapes up to (4, 8, 2), as ap.causal_average."


# ---- masked_softmax ----------------------------------------------------------------------------------


def _works_on_one_matrix(case: Case, error: BaseException, run: Run) -> bool:
    scores = case.inputs["scores"]
    if scores.dim() <= 2:
        return False
    one = scores.reshape(-1, *scores.shape[-2:])[0]
    return torch.allclose(tensor(run(Case({"scores": one}))), masked_softmax(one), atol=1e-5)


SOFTMAX_MISTAKES = [
    gives(
        "your softmax runs over the wrong dimension: the columns sum to 1, not the rows",
        "row t holds query t's weights over the keys, the last dimension: softmax(..., dim=-1)",
        lambda s: softmax_masked(s, tril(s.size(-1)), dim=-2),
    ),
    gives(
        "your mask lets position 0 read position 1, the future: triu where tril was asked?",
        "torch.tril keeps what is on and below the diagonal, the keys s <= t",
        lambda s: softmax_masked(s, torch.ones(s.size(-1), s.size(-1)).triu().bool()),
    ),
    gives(
        "you masked with 0 instead of -inf: the future still gets weight exp(0) = 1 before normalising",
        "a masked score must become -inf, so that its weight exp(-inf) is exactly 0",
        lambda s: softmax_masked(s, tril(s.size(-1)), fill=0.0),
    ),
    gives(
        "you applied the softmax before the mask: the rows no longer sum to 1",
        "mask the scores first (-inf in the future), then take the softmax",
        lambda s: F.softmax(s, dim=-1).masked_fill(~tril(s.size(-1)), 0.0),
    ),
    gives(
        "your mask hides the diagonal too: position 0 reads nothing, and its row is NaN",
        "a token may read itself: keep the diagonal (tril's diagonal=0)",
        lambda s: softmax_masked(s, tril(s.size(-1), -1)),
    ),
    gives(
        "there is no mask: every position reads every other, the future included",
        "set the scores above the diagonal to -inf before the softmax",
        lambda s: F.softmax(s, dim=-1),
    ),
    raises(
        "it works on one (T, T) matrix but fails on a batch of them",
        "take T from scores.size(-1) and build a (T, T) mask: it broadcasts over the leading dimensions",
        _works_on_one_matrix,
    ),
    Mistake(
        "your weights put weight on future positions",
        "everything above the diagonal must be exactly 0",
        upper_weight,
    ),
    Mistake(
        "your rows do not sum to 1", "each row is a softmax: non-negative and summing to 1", rows_not_one
    ),
]


@exercise("my_masked_softmax")
def check_masked_softmax(fn: Callable) -> str:
    """fn(scores (..., T, T)) -> weights: future scores masked to -inf, softmax over the last dim."""
    shapes = ((2, 2), (3, 3), (2, 3, 3), (2, 2, 4, 4))
    cases = [Case({"scores": randn(*shape, seed=i)}) for i, shape in enumerate(shapes)]
    Comparison(
        "my_masked_softmax",
        "weights",
        lambda case: call(fn, *case.args),
        lambda case: masked_softmax(*case.args),
        SOFTMAX_MISTAKES,
        hint="scores.masked_fill(tril == 0, float('-inf')), then softmax over dim=-1",
    ).check(cases)
    return "Zero weight above the diagonal, rows summing to 1, on (T, T) and batched (..., T, T) scores."


# ---- attention_scores --------------------------------------------------------------------------------


def _unit_variance(run: Run, hs: int = 64) -> float:
    q, k = randn(8, 16, hs, seed=10), randn(8, 16, hs, seed=11)
    return tensor(run(Case({"q": q, "k": k}))).double().var().item()


def variance_detail(case: Case, got: Any, run: Run) -> list[str]:
    return [
        f"On unit-variance q and k with head_size 64, your scores have variance {_unit_variance(run):.2f} "
        "(it should be about 1)."
    ]


def _scaled(scores: torch.Tensor, by: float) -> torch.Tensor:
    return scores * by


SCORE_MISTAKES = [
    gives(
        "your scores are not scaled: their variance grows with head_size",
        "divide q @ kᵀ by √head_size, so unit-variance q and k give unit-variance scores",
        lambda q, k: q @ k.transpose(-2, -1),
        detail=variance_detail,
    ),
    gives(
        "you divided by head_size instead of √head_size: the scores' variance shrinks as 1/head_size",
        "the variance of q · k is head_size; to bring it back to 1, divide by its square root",
        lambda q, k: q @ k.transpose(-2, -1) / k.size(-1),
        detail=variance_detail,
    ),
    gives(
        "you multiplied by √head_size instead of dividing",
        "the scale is head_size ** -0.5 (note the minus sign)",
        lambda q, k: q @ k.transpose(-2, -1) * k.size(-1) ** 0.5,
        detail=variance_detail,
    ),
    gives(
        "you computed k @ qᵀ: your scores are transposed, row t holds the keys' view of query t",
        "row t of the scores is query t against every key: q @ kᵀ",
        lambda q, k: k @ q.transpose(-2, -1) * k.size(-1) ** -0.5,
    ),
    gives(
        "you scaled by √T (the number of positions) instead of √head_size",
        "the variance grows with the length of the vectors being dotted, the last dim of q and k",
        lambda q, k: q @ k.transpose(-2, -1) * q.size(-2) ** -0.5,
    ),
    gives(
        "you multiplied q @ k without transposing k: that only runs when T == head_size",
        "transpose the last two dims of k: k.transpose(-2, -1) is (..., hs, T)",
        lambda q, k: q @ k * k.size(-1) ** -0.5,
    ),
]


@exercise("my_attention_scores")
def check_attention_scores(fn: Callable) -> str:
    """fn(q (..., T, hs), k (..., T, hs)) -> scores (..., T, T) = q @ kᵀ / √hs."""
    shapes = ((1, 4, 4), (1, 3, 5), (2, 6, 8), (8, 16, 64))
    cases = [Case({"q": randn(*s, seed=2 * i), "k": randn(*s, seed=2 * i + 1)}) for i, s in enumerate(shapes)]
    run = lambda case: call(fn, *case.args)  # noqa: E731
    Comparison(
        "my_attention_scores",
        "scores",
        run,
        lambda case: attention_scores(*case.args),
        SCORE_MISTAKES,
        hint="q @ k.transpose(-2, -1), times head_size ** -0.5",
    ).check(cases)
    variance = _unit_variance(run)
    return f"scores = q @ kᵀ / √head_size on 4 shapes; unit q, k give scores of variance {variance:.2f}."


# ---- attend: one head's arithmetic from q, k, v ------------------------------------------------------


def _weights(q: torch.Tensor, k: torch.Tensor, scale: bool = True) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) * (k.size(-1) ** -0.5 if scale else 1.0)
    return softmax_masked(scores, tril(k.size(-2)))


ATTEND_MISTAKES = [
    gives(
        "there is no mask: position 0 reads position 1, the future",
        "mask the scores above the diagonal with -inf before the softmax",
        lambda q, k, v: F.softmax(q @ k.transpose(-2, -1) * k.size(-1) ** -0.5, dim=-1) @ v,
    ),
    gives(
        "you multiplied by the transposed weights: position 0 now reads every later position",
        "row t of the weights says how much token t reads each token: weights @ v, no transpose",
        lambda q, k, v: _weights(q, k).transpose(-2, -1) @ v,
    ),
    gives(
        "your scores are not scaled by 1/√head_size",
        "scale q @ kᵀ by head_size ** -0.5 before the mask and softmax",
        lambda q, k, v: _weights(q, k, scale=False) @ v,
    ),
    gives(
        "you masked after the softmax: the rows of the weights no longer sum to 1",
        "mask first, with -inf, then softmax",
        lambda q, k, v: (
            F.softmax(q @ k.transpose(-2, -1) * k.size(-1) ** -0.5, dim=-1).masked_fill(
                ~tril(k.size(-2)), 0.0
            )
            @ v
        ),
    ),
    gives(
        "you took the weighted sum of the keys, not of the values",
        "keys decide *where* to read; the values are *what* is read: weights @ v",
        lambda q, k, v: _weights(q, k) @ k,
    ),
    gives(
        "you returned the attention weights, not the weighted sum of the values",
        "the output is weights @ v, of shape (..., T, hs)",
        lambda q, k, v: _weights(q, k),
    ),
    Mistake(
        "your output at some position reads a later position",
        "mask the scores above the diagonal",
        reads_future("k", "v"),
        detail=leak_detail("k", "v"),
    ),
]


@exercise("my_attend")
def check_attend(fn: Callable) -> str:
    """fn(q, k, v), each (B, T, hs) -> (B, T, hs): causal softmax(q @ kᵀ / √hs) @ v."""
    shapes = ((1, 2, 2), (1, 3, 4), (2, 5, 4))
    cases = [
        Case({name: randn(*s, seed=3 * i + j) for j, name in enumerate("qkv")}) for i, s in enumerate(shapes)
    ]
    Comparison(
        "my_attend",
        "y",
        lambda case: call(fn, *case.args),
        lambda case: masked_softmax(attention_scores(*case.args[:2])) @ case.inputs["v"],
        ATTEND_MISTAKES,
        hint="scores, scale, mask, softmax, then the weighted sum of v",
    ).check(cases)
    return (
        "y = masked softmax(q @ kᵀ / √hs) @ v: no future read, on 3 shapes, as the library's teaching path."
    )


# ---- Head --------------------------------------------------------------------------------------------

N_EMBD, HEAD_SIZE = 8, 4


def linear_layers(module: nn.Module, names: tuple[str, ...], n_in: int, n_out: int, title: str) -> None:
    """Each of `names` must be an nn.Linear from n_in to n_out channels."""
    for name in names:
        layer = getattr(module, name, None)
        if not isinstance(layer, nn.Linear):
            raise ExerciseError(
                report(
                    title,
                    f"your module has no nn.Linear called `{name}` (found {type(layer).__name__})",
                    [],
                    f"in __init__: self.{name} = nn.Linear({n_in}, {n_out}, bias=False)",
                )
            )
        if (layer.in_features, layer.out_features) != (n_in, n_out):
            raise ExerciseError(
                report(
                    title,
                    f"`{name}` maps {layer.in_features} -> {layer.out_features} channels, "
                    f"expected {n_in} -> {n_out}",
                    [],
                    "nn.Linear(n_embd, head_size): from the embedding to the head",
                )
            )


def _head_parts(head: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return sublayer(head, "query")(x), sublayer(head, "key")(x), sublayer(head, "value")(x)


def head_mistakes(head: nn.Module) -> list[Mistake]:
    """The usual wrong heads, computed from the learner's own query, key and value layers."""

    def head_gives(headline: str, hint: str, wrong: Callable[..., torch.Tensor]) -> Mistake:
        return gives(headline, hint, lambda x: wrong(x, *_head_parts(head, x)))

    C = N_EMBD
    return [
        head_gives(
            "your scores are not scaled by 1/√head_size",
            "scale q @ kᵀ by head_size ** -0.5",
            lambda x, q, k, v: _weights(q, k, scale=False) @ v,
        ),
        head_gives(
            "you scaled by 1/√n_embd (C ** -0.5, as in the lecture's video) instead of 1/√head_size",
            "the video's description corrects it: a dot product has head_size terms, so scale by head_size",
            lambda x, q, k, v: softmax_masked(q @ k.transpose(-2, -1) * C**-0.5, tril(x.size(-2))) @ v,
        ),
        head_gives(
            "there is no mask: every token reads the future",
            "mask the scores above the diagonal with -inf",
            lambda x, q, k, v: F.softmax(q @ k.transpose(-2, -1) * k.size(-1) ** -0.5, dim=-1) @ v,
        ),
        head_gives(
            "you computed k @ qᵀ: the scores are transposed",
            "row t is query t against every key: q @ kᵀ",
            lambda x, q, k, v: _weights(k, q) @ v,
        ),
        head_gives(
            "you averaged x, not the values: the value layer is never used",
            "the output is weights @ v, with v = self.value(x), of size head_size",
            lambda x, q, k, v: _weights(q, k) @ x,
        ),
        head_gives(
            "your softmax runs over the queries (dim=-2), not the keys",
            "each row, one query, must sum to 1: softmax over dim=-1",
            lambda x, q, k, v: (
                softmax_masked(q @ k.transpose(-2, -1) * k.size(-1) ** -0.5, tril(x.size(-2)), dim=-2) @ v
            ),
        ),
        Mistake(
            "your output at some position reads a later position",
            "mask the scores above the diagonal",
            reads_future("x"),
            detail=leak_detail("x"),
        ),
    ]


def build(cls: Callable, *args: Any) -> nn.Module:
    """The learner's module, with every parameter redrawn so no two layers are alike."""
    module = call(cls, *args)
    generator = torch.Generator().manual_seed(1)
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return module.eval()


@exercise("MyHead")
def check_head(cls: Callable) -> str:
    """cls(n_embd, head_size) with nn.Linear `query`, `key`, `value`; forward (B, T, C) -> (B, T, hs)."""
    head = build(cls, N_EMBD, HEAD_SIZE)
    linear_layers(head, ("query", "key", "value"), N_EMBD, HEAD_SIZE, "MyHead")
    has_bias = cast(nn.Linear, head.query).bias is not None  # linear_layers checked it is one
    reference = Head(N_EMBD, HEAD_SIZE, bias=has_bias).eval()
    for name in ("query", "key", "value"):
        getattr(reference, name).load_state_dict(getattr(head, name).state_dict())
    shapes = ((1, 2, N_EMBD), (1, 3, N_EMBD), (2, 5, N_EMBD))
    cases = [Case({"x": randn(*s, seed=i)}) for i, s in enumerate(shapes)]
    Comparison(
        "MyHead",
        "y",
        lambda case: call(head, *case.args),
        lambda case: reference(*case.args),
        head_mistakes(head),
        hint="q, k, v from the three layers; scores scaled by 1/√hs; causal mask; softmax; weights @ v",
    ).check(cases)
    return (
        f"With your weights copied into ap.Head({N_EMBD}, {HEAD_SIZE}), both give the same (B, T, hs) "
        "output on 3 inputs, and no token reads the future."
    )
