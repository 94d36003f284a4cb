"""Exercises of notebook 05: splitting channels into heads, and heads side by side with a projection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn

from ..nn.attention import Head
from ._core import (
    Case,
    Comparison,
    ExerciseError,
    Mistake,
    Run,
    call,
    exercise,
    gives,
    raises,
    report,
    sublayer,
)
from .attention import build, linear_layers, randn

# ---- split_heads -------------------------------------------------------------------------------------


def _split(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)


SPLIT_MISTAKES = [
    gives(
        "you viewed (B, T, C) directly as (B, n_head, T, head_size): time and channels are mixed",
        "a view keeps the memory order: first split C into (n_head, head_size), then move the heads forward",
        lambda x, nh: x.view(x.size(0), nh, x.size(1), x.size(2) // nh),
    ),
    gives(
        "you split C into (head_size, n_head): head h gets channels h, h + n_head, … instead of a block",
        "head h owns the consecutive channels h*hs … (h+1)*hs - 1: view(B, T, n_head, head_size)",
        lambda x, nh: x.view(x.size(0), x.size(1), x.size(2) // nh, nh).permute(0, 3, 1, 2),
    ),
    gives(
        "you split C into heads but did not move the heads before time: (B, T, n_head, head_size)",
        "transpose dims 1 and 2, so each head is a (T, head_size) sequence of its own",
        lambda x, nh: x.view(x.size(0), x.size(1), nh, x.size(2) // nh),
    ),
    gives(
        "your last two dims are (T, n_head), not (T, head_size): n_head and head_size swapped",
        "view(B, T, n_head, C // n_head), then transpose(1, 2)",
        lambda x, nh: x.view(x.size(0), x.size(1), x.size(2) // nh, nh).transpose(1, 2),
    ),
]


@exercise("my_split_heads")
def check_split_heads(fn: Callable) -> str:
    """fn(x (B, T, C), n_head) -> (B, n_head, T, head_size): head h reads channels h*hs … (h+1)*hs - 1."""
    sizes = ((1, 3, 4, 2), (1, 3, 6, 3), (2, 4, 8, 2))  # T != n_head first: else two mistakes coincide
    cases = [Case({"x": randn(B, T, C, seed=i), "n_head": nh}) for i, (B, T, C, nh) in enumerate(sizes)]
    Comparison(
        "my_split_heads",
        "heads",
        lambda case: call(fn, *case.args),
        lambda case: _split(*case.args),
        SPLIT_MISTAKES,
        hint="x.view(B, T, n_head, head_size), then swap the time and head dims",
    ).check(cases)
    return "(B, T, C) -> (B, n_head, T, head_size), head h holding channels h*hs … (h+1)*hs - 1, on 3 shapes."


# ---- multi_head ----------------------------------------------------------------------------------------

N_EMBD, N_HEAD = 8, 2
HEAD_SIZE = N_EMBD // N_HEAD


def _structure(module: nn.Module) -> list[nn.Module]:
    """The learner's heads, checked: n_head distinct modules of head_size channels, and a C -> C `proj`."""
    title = "MyMultiHead"
    heads = getattr(module, "heads", None)
    if not isinstance(heads, (nn.ModuleList, nn.Sequential, list, tuple)):
        raise ExerciseError(
            report(
                title,
                "your module has no list of heads called `heads`",
                [],
                "self.heads = nn.ModuleList([ap.Head(n_embd, head_size) for _ in range(n_head)])",
            )
        )
    heads = list(heads)
    if len(heads) != N_HEAD:
        raise ExerciseError(
            report(
                title,
                f"n_head={N_HEAD} was asked for, your module has {len(heads)} heads",
                [],
                "build one head per range(n_head)",
            )
        )
    if len({id(h) for h in heads}) < len(heads):
        raise ExerciseError(
            report(
                title,
                "your heads are one module repeated: they share their weights and all compute the same",
                [],
                "[ap.Head(...)] * n_head repeats one object: build a new ap.Head in each turn of a loop",
            )
        )
    first = heads[0].query
    if isinstance(first, nn.Linear) and first.out_features != HEAD_SIZE:
        raise ExerciseError(
            report(
                title,
                f"each head has head_size {first.out_features}; with n_embd={N_EMBD} and n_head={N_HEAD} "
                f"it should be {HEAD_SIZE}",
                [],
                "the heads concatenate back to n_embd: head_size = n_embd // n_head",
            )
        )
    for head in heads:
        linear_layers(head, ("query", "key", "value"), N_EMBD, HEAD_SIZE, title)
    linear_layers(module, ("proj",), N_EMBD, N_EMBD, title)
    return heads


def _library_heads(heads: list[nn.Module]) -> list[Head]:
    copies = []
    for head in heads:
        has_bias = cast(nn.Linear, head.query).bias is not None  # _structure checked it is one
        copy = Head(N_EMBD, HEAD_SIZE, bias=has_bias).eval()
        for name in ("query", "key", "value"):
            getattr(copy, name).load_state_dict(getattr(head, name).state_dict())
        copies.append(copy)
    return copies


def _proj_input(seen: dict[str, torch.Size], shape: Callable[[int, int], tuple[int, ...]]):
    """Recognised by the shape `proj` was handed (recorded by a hook), given B and T."""

    def test(case: Case, got: Any, run: Run) -> bool:
        B, T, _ = case.inputs["x"].shape
        return tuple(seen.get("proj", ())) == shape(B, T)

    return test


def multi_head_mistakes(module: nn.Module, heads: list[Head], seen: dict) -> list[Mistake]:
    concat = lambda x: torch.cat([h(x) for h in heads], dim=-1)  # noqa: E731
    nh, hs = N_HEAD, HEAD_SIZE
    return [
        raises(
            "you concatenated the heads along time (dim=1): proj received (B, n_head*T, head_size)",
            "concatenate along the channels, the last dim: the result is (B, T, n_head*head_size)",
            _proj_input(seen, lambda B, T: (B, nh * T, hs)),
        ),
        raises(
            "you concatenated the heads along the batch (dim=0): proj received (n_head*B, T, head_size)",
            "concatenate along the channels, the last dim",
            _proj_input(seen, lambda B, T: (nh * B, T, hs)),
        ),
        raises(
            "you added the heads (or kept one) instead of concatenating: proj received (B, T, head_size)",
            "torch.cat puts the heads side by side: (B, T, n_head * head_size) = (B, T, n_embd)",
            _proj_input(seen, lambda B, T: (B, T, hs)),
        ),
        gives(
            "you concatenated the heads but did not project: `proj` is never applied",
            "after the concatenation, mix what the heads found: self.proj(out)",
            concat,
        ),
        gives(
            "you projected each head's input: proj runs before the heads instead of after",
            "first the heads, then concatenate, then proj",
            lambda x: concat(sublayer(module, "proj")(x)),
        ),
    ]


@exercise("MyMultiHead")
def check_multi_head(cls: Callable) -> str:
    """cls(n_embd, n_head): n_head `heads` of size n_embd // n_head, a `proj`; (B, T, C) -> (B, T, C)."""
    module = build(cls, N_EMBD, N_HEAD)
    heads = _library_heads(_structure(module))
    seen: dict[str, torch.Size] = {}
    sublayer(module, "proj").register_forward_pre_hook(
        lambda mod, args: seen.__setitem__("proj", args[0].shape)
    )
    cases = [Case({"x": randn(1, 2, N_EMBD, seed=0)}), Case({"x": randn(2, 4, N_EMBD, seed=1)})]

    def run(case: Case) -> Any:
        seen.clear()
        return call(module, *case.args)

    def reference(case: Case) -> torch.Tensor:
        return sublayer(module, "proj")(torch.cat([h(*case.args) for h in heads], dim=-1))  # ap.Head copies

    Comparison(
        "MyMultiHead",
        "y",
        run,
        reference,
        multi_head_mistakes(module, heads, seen),
        hint="run every head on x, torch.cat their outputs on the last dim, then self.proj",
    ).check(cases)
    return (
        f"{N_HEAD} heads, copied into ap.Head, concatenated on the channels and projected: "
        "the same (B, T, n_embd) output on 2 inputs."
    )
