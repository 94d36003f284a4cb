"""Exercises of notebook 00: a character tokenizer, the train/val split, and random batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..data.batches import get_batch, split
from ._core import Case, Comparison, ExerciseError, Mistake, Raised, call, exercise, report, show, tensor

# ---- char_tokenizer ------------------------------------------------------------------------------------

TEXTS = ("ba", "hii there", "First Citizen:\nBefore we proceed any further, hear me speak.")


def _fail(title: str, text: str, headline: str, lines: list[str], hint: str) -> ExerciseError:
    return ExerciseError(
        report(title, headline, [f"The smallest text where it shows: {text!r}", *lines], hint)
    )


def _encode_mistake(text: str, ids: list[Any]) -> tuple[str, str] | None:
    """The usual wrong ids for `text`, as (headline, hint)."""
    chars = sorted(set(text))
    want = [chars.index(c) for c in text]
    first_seen = list(dict.fromkeys(text))
    if not all(isinstance(i, int) for i in ids):
        return (
            "encode returned something other than integers",
            "the model reads numbers: one int per character",
        )
    if len(ids) != len(text):
        return (f"encode gave {len(ids)} ids for {len(text)} characters", "one id per character, in order")
    if ids == [i + 1 for i in want]:
        return ("your ids start at 1", "Python counts from 0: with V characters the ids are 0 … V-1")
    if ids == [first_seen.index(c) for c in text]:
        return (
            "your ids follow the order in which characters first appear in the text, not sorted order",
            "sort the distinct characters before numbering them, so the same text always gets the same ids",
        )
    if sorted(set(ids)) == list(range(len(chars))):
        return (
            "your ids are a shuffled numbering: not the sorted order",
            "number the *sorted* distinct characters",
        )
    return None


def _check_encode(title: str, text: str, encode: Callable) -> None:
    chars = sorted(set(text))
    want = [chars.index(c) for c in text]
    try:
        ids = call(encode, text)
    except Raised as raised:
        if isinstance(raised.error, KeyError):
            raise _fail(
                title,
                text,
                f"encode has no id for the character {raised.error.args[0]!r} of the text",
                [],
                "build the vocabulary from every character of the text you are given",
            ) from raised.error
        raise
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if ids == want:
        return
    lines = [f"expected ids {want}", f"your ids     {ids}"]
    known = _encode_mistake(text, ids)
    if known is None:
        first = next(i for i, (w, g) in enumerate(zip(want, ids, strict=False)) if w != g)
        known = (
            f"your id of {text[first]!r} (position {first}) is {ids[first]}, expected {want[first]}",
            "the id of a character is its index in sorted(set(text))",
        )
    raise _fail(title, text, known[0], lines, known[1])


def _check_decode(title: str, text: str, decode: Callable) -> None:
    chars = sorted(set(text))
    ids = [chars.index(c) for c in text]
    back = call(decode, ids)
    if back == text:
        return
    lines = [f"decode({ids})", f"expected {text!r}", f"yours    {back!r}"]
    if isinstance(back, (list, tuple)):
        raise _fail(
            title, text, "decode returns a list, not a string", lines, "join the characters into one str"
        )
    if back == " ".join(text):
        raise _fail(
            title, text, "decode puts a space between the characters", lines, "join with the empty string ''"
        )
    raise _fail(
        title, text, "decode(encode(text)) does not give the text back", lines, "decode inverts encode"
    )


@exercise("my_tokenizer")
def check_char_tokenizer(my_tokenizer: Callable) -> str:
    """my_tokenizer(text) -> (encode, decode); encode(str) -> list[int], decode(list[int]) -> str."""
    title = "my_tokenizer"
    for text in TEXTS:
        pair = call(my_tokenizer, text)
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(callable(f) for f in pair)):
            raise ExerciseError(
                report(
                    title,
                    f"my_tokenizer returned {type(pair).__name__}, not (encode, decode)",
                    [],
                    "return two functions: `return encode, decode`",
                )
            )
        encode, decode = pair
        _check_encode(title, text, encode)
        _check_decode(title, text, decode)
    return (
        f"Ids 0 … V-1 follow the sorted characters, and decode(encode(text)) == text, on {len(TEXTS)} texts "
        f"(up to {len(TEXTS[-1])} characters)."
    )


# ---- split ---------------------------------------------------------------------------------------------

SPLIT_CASES = ((10, 0.1), (11, 0.1), (37, 0.25))


def _split_mistake(data: torch.Tensor, val_fraction: float, train: torch.Tensor, val: torch.Tensor):
    """(headline, hint) for the usual wrong splits of data = arange(N), or None."""
    N, n = len(data), int(len(data) * (1 - val_fraction))
    tokens = torch.cat([train, val])
    if torch.equal(train, data[: N - n]) and torch.equal(val, data[N - n :]):
        return (
            "train keeps only val_fraction of the tokens: the two fractions are swapped",
            "train gets the first (1 - val_fraction) of the tokens",
        )
    if torch.equal(val, data[: N - n]) and torch.equal(train, data[N - n :]):
        return (
            "your validation split is the start of the text and train the end",
            "keep the order of the text: train first, validation last",
        )
    if len(tokens) == N and not torch.equal(tokens, data) and torch.equal(tokens.sort().values, data):
        return (
            "your split shuffles the tokens",
            "cut the text in two without shuffling: a shuffled split puts neighbouring text in both halves",
        )
    shared = set(train.tolist()) & set(val.tolist())
    if shared:
        return (
            f"train and val share {len(shared)} token(s): position(s) {sorted(shared)}",
            "the two slices must meet without overlapping: data[:n] and data[n:]",
        )
    if torch.equal(tokens, data) and abs(len(train) - n) == 1:
        return (
            f"you cut at n = {len(train)}, one token away from int(len(data) * (1 - val_fraction)) = {n}",
            "round the cut down, as int() does",
        )
    if len(tokens) < N:
        return (f"your two parts hold {len(tokens)} of the {N} tokens", "every token goes to train or to val")
    return None


@exercise("my_split")
def check_split(fn: Callable) -> str:
    """fn(data, val_fraction) -> (train, val): the first 1 - val_fraction of the tokens, then the rest."""
    title = "my_split"
    for N, val_fraction in SPLIT_CASES:
        data = torch.arange(N)
        want = split(data, val_fraction)
        got = call(fn, data, val_fraction)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise ExerciseError(
                report(
                    title,
                    f"my_split returned {type(got).__name__}, not (train, val)",
                    [],
                    "return the two parts: `return train, val`",
                )
            )
        train, val = (tensor(part).flatten() for part in got)
        if torch.equal(train, want.train) and torch.equal(val, want.val):
            continue
        known = _split_mistake(data, val_fraction, train, val) or (
            "your split differs from the first (1 - val_fraction), then the rest",
            "data[:n] and data[n:], with n = int(len(data) * (1 - val_fraction))",
        )
        evidence = [
            f"The smallest input where it shows: data = torch.arange({N}) (each token is its position), "
            f"val_fraction = {val_fraction}",
            *show("expected train", want.train),
            *show("expected val", want.val),
            *show("your train", train),
            *show("your val", val),
        ]
        raise ExerciseError(report(title, known[0], evidence, known[1]))
    n = len(SPLIT_CASES)
    return f"Train is the first 1 - val_fraction of the tokens and val the rest, in order, on {n} inputs."


# ---- get_batch -----------------------------------------------------------------------------------------


def _batch(fn: Callable, data: torch.Tensor, B: int, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = call(fn, data, B, T, torch.Generator().manual_seed(seed))
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise ExerciseError(
            report(
                "my_get_batch",
                f"my_get_batch returned {type(out).__name__}, not (x, y)",
                [],
                "return inputs and targets: `return x, y`",
            )
        )
    return tensor(out[0]), tensor(out[1])


def _shape_mistake(case: Case, got: Any, run) -> bool:
    x, y = got
    B, T = case.inputs["batch_size"], case.inputs["block_size"]
    return x.shape != (B, T) or y.shape != (B, T)


def _windows_mistakes() -> list[Mistake]:
    """Usual mistakes of a batch, recognised on x, y from data = arange(N), where a token is its position."""

    def window_of(x: torch.Tensor) -> bool:
        return bool((x == x[:, :1] + torch.arange(x.size(1))).all())

    def test(check):
        return lambda case, got, run: check(*got, case.inputs["batch_size"], case.inputs["block_size"])

    return [
        Mistake(
            "x holds block_size + 1 tokens: the window is not split into inputs and targets",
            "a window of T + 1 tokens gives x = its first T and y = its last T",
            test(lambda x, y, B, T: x.shape == (B, T + 1)),
        ),
        Mistake(
            "your batch is (block_size, batch_size): batch and time are swapped",
            "stack the B windows along dim 0, so x is (B, T)",
            test(lambda x, y, B, T: x.shape == (T, B)),
        ),
        Mistake(
            "the targets are not shifted: y == x",
            "y[b, t] is the token that follows x[b, t]",
            test(lambda x, y, B, T: torch.equal(x, y)),
        ),
        Mistake(
            "the targets are the previous tokens: shifted the wrong way",
            "y starts one token *after* x",
            test(lambda x, y, B, T: torch.equal(y, x - 1)),
        ),
        Mistake(
            "the targets are shifted by two tokens, not one",
            "y = data[i + 1 : i + T + 1]",
            test(lambda x, y, B, T: torch.equal(y, x + 2)),
        ),
        Mistake(
            "a row of x is not one window of consecutive tokens",
            "x[b] = data[i : i + T] for one start i",
            test(lambda x, y, B, T: x.shape == (B, T) and not window_of(x)),
        ),
        Mistake(
            "your shapes differ from (batch_size, block_size)", "x and y are both (B, T)", _shape_mistake
        ),
    ]


def _past_the_end(case: Case, error: BaseException, run) -> bool:
    text = str(error)
    return "stack expects each tensor" in text or "out of bounds" in text or isinstance(error, IndexError)


def _check_windows(fn: Callable) -> None:
    cases = [
        Case({"data": torch.arange(12), "batch_size": 2, "block_size": 3}),
        Case({"data": torch.arange(50), "batch_size": 8, "block_size": 5}),
    ]

    def run(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
        data, B, T = case.args
        return _batch(fn, data, B, T, seed=0)

    def reference(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
        data, B, T = case.args
        return get_batch(data, B, T, generator=torch.Generator().manual_seed(0))

    def equal(
        want: tuple[torch.Tensor, torch.Tensor], got: Any
    ) -> bool:  # any valid windows: draws may differ
        x, y = got
        B, T = want[0].shape
        return (
            x.shape == y.shape == (B, T)
            and torch.equal(y, x + 1)
            and torch.equal(x, x[:, :1] + torch.arange(T))
        )

    mistakes = [
        *_windows_mistakes(),
        Mistake(
            "a window runs past the end of data",
            "the last window that fits starts at len(data) - block_size - 1",
            _past_the_end,
            on_error=True,
        ),
    ]
    Comparison("my_get_batch", ("x", "y"), run, reference, mistakes, equal=equal).check(cases)


def _check_generator(fn: Callable) -> None:
    title = "my_get_batch"
    data, B, T = torch.arange(50), 8, 5
    torch.manual_seed(1)
    x1, _ = _batch(fn, data, B, T, seed=0)
    torch.manual_seed(2)  # a different global random state: the generator alone must decide
    x2, _ = _batch(fn, data, B, T, seed=0)
    starts = [*show("first call, x[:, 0]", x1[:, 0]), *show("second call, x[:, 0]", x2[:, 0])]
    if not torch.equal(x1, x2):
        raise ExerciseError(
            report(
                title,
                "your batch ignores the generator: the same seed gave different batches",
                [
                    "Two calls with torch.Generator().manual_seed(0), the global generator reseeded between:",
                    *starts,
                ],
                "pass generator=generator to the function that draws the starts",
            )
        )
    x3, _ = _batch(fn, data, B, T, seed=1)
    if torch.equal(x1, x3) or torch.equal(x1[:, 0], torch.arange(B)):
        raise ExerciseError(
            report(
                title,
                "your windows are not random: every seed gives the same starts",
                [*show("x[:, 0] with seed 0", x1[:, 0]), *show("x[:, 0] with seed 1", x3[:, 0])],
                "draw the B starts at random with torch.randint",
            )
        )


def _check_every_start(fn: Callable) -> None:
    data, B, T = torch.arange(8), 64, 4  # starts 0 … 3 fit; 64 draws miss one with probability 1e-8
    x, _ = _batch(fn, data, B, T, seed=0)
    drawn, fits = set(x[:, 0].tolist()), set(range(len(data) - T))
    if drawn != fits:
        missing = sorted(fits - drawn)
        raise ExerciseError(
            report(
                "my_get_batch",
                f"in {B} draws your batch never starts a window at {missing}",
                [
                    f"data = torch.arange({len(data)}), block_size = {T}: the windows fit at {sorted(fits)}",
                    f"yours started at {sorted(drawn)}",
                ],
                "torch.randint(high, ...) draws 0 … high - 1: which high covers every start that fits?",
            )
        )


@exercise("my_get_batch")
def check_get_batch(fn: Callable) -> str:
    """fn(data, batch_size, block_size, generator) -> (x, y), each (B, T), y shifted by one."""
    _check_windows(fn)
    _check_generator(fn)
    _check_every_start(fn)
    data = torch.arange(50)
    x, y = _batch(fn, data, 8, 5, seed=0)
    ref_x, _ = get_batch(data, 8, 5, torch.Generator().manual_seed(0))
    draws = (
        "the same windows as ap.get_batch"
        if torch.equal(x, ref_x)
        else "valid windows (not ap.get_batch's draws)"
    )
    return (
        f"x and y are (B, T) windows, y shifted by one, every start that fits is drawn, and the generator "
        f"alone decides the batch: {draws}."
    )
