"""Exercises of notebook 06: FeedForward, a pre-norm Block, the GPT forward, sampling the next token."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.config import GPTConfig
from ..nn.gpt import GPT, Block, FeedForward
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
    raises_like,
    report,
    show,
    sublayer,
)
from .attention import build, randn

# ---- FeedForward -------------------------------------------------------------------------------------

N_EMBD = 4


def _two_linears(module: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    title = "MyFeedForward"
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 2:
        raise ExerciseError(
            report(
                title,
                f"your module has {len(linears)} nn.Linear layer(s), expected 2",
                [],
                "Linear(n_embd, 4 * n_embd), a ReLU, then Linear(4 * n_embd, n_embd)",
            )
        )
    first, second = linears
    if first.out_features != 4 * N_EMBD:
        raise ExerciseError(
            report(
                title,
                f"your hidden layer has {first.out_features} units; with n_embd={N_EMBD} the lecture's has "
                f"4 * n_embd = {4 * N_EMBD}",
                [],
                "the inner layer is 4 times wider than the embedding",
            )
        )
    if (first.in_features, second.in_features, second.out_features) != (N_EMBD, 4 * N_EMBD, N_EMBD):
        raise ExerciseError(
            report(
                title,
                "your layers do not map n_embd -> 4 * n_embd -> n_embd",
                [],
                f"nn.Linear({N_EMBD}, {4 * N_EMBD}) then nn.Linear({4 * N_EMBD}, {N_EMBD})",
            )
        )
    return first, second


def _library_ffwd(first: nn.Linear, second: nn.Linear) -> FeedForward:
    """ap.FeedForward with the learner's weights (a missing bias copied as zeros)."""
    reference = FeedForward(GPTConfig(n_embd=N_EMBD, n_head=1, bias=True, activation="relu")).eval()
    layers = (cast(nn.Linear, reference.net[0]), cast(nn.Linear, reference.net[2]))  # Linear, act, Linear
    for mine, theirs in zip(layers, (first, second), strict=True):
        mine.weight.copy_(theirs.weight)
        mine.bias.copy_(theirs.bias if theirs.bias is not None else torch.zeros_like(mine.bias))
    return reference


@exercise("MyFeedForward")
def check_feed_forward(cls: Callable) -> str:
    """cls(n_embd): Linear(C, 4C) -> ReLU -> Linear(4C, C); forward (B, T, C) -> (B, T, C)."""
    module = build(cls, N_EMBD)
    first, second = _two_linears(module)
    reference = _library_ffwd(first, second)
    mistakes = [
        gives(
            "there is no non-linearity between the two layers: they collapse into one linear map",
            "put a ReLU between the two Linear layers",
            lambda x: second(first(x)),
        ),
        gives(
            "your output goes through a ReLU too, so it can never be negative",
            "the ReLU sits between the two layers only: the residual stream needs negative values too",
            lambda x: F.relu(second(F.relu(first(x)))),
        ),
        gives(
            "you used GELU where the lecture's ReLU was asked",
            "nn.ReLU() between the layers",
            lambda x: second(F.gelu(first(x))),
        ),
        gives(
            "your ReLU comes before the first layer, not between the two",
            "Linear, then ReLU, then Linear",
            lambda x: second(first(F.relu(x))),
        ),
    ]
    cases = [Case({"x": randn(1, 1, N_EMBD, seed=0)}), Case({"x": randn(2, 3, N_EMBD, seed=1)})]
    Comparison(
        "MyFeedForward",
        "y",
        lambda case: call(module, *case.args),
        lambda case: reference(*case.args),
        mistakes,
        hint="Linear(n_embd, 4 * n_embd) -> ReLU -> Linear(4 * n_embd, n_embd), on each position",
    ).check(cases)
    C, H = N_EMBD, 4 * N_EMBD
    return f"Linear({C}, {H}) -> ReLU -> Linear({H}, {C}): your weights in ap.FeedForward give your output."


# ---- Block -------------------------------------------------------------------------------------------

BLOCK_CONFIG = GPTConfig(vocab_size=11, block_size=8, n_embd=8, n_head=2, n_layer=2, dropout=0.0, bias=True)


SUBLAYERS = ("ln1", "attn", "ln2", "ffwd")


def _sublayers(block: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    ln1, attn, ln2, ffwd = (sublayer(block, name) for name in SUBLAYERS)
    return ln1, attn, ln2, ffwd


def block_mistakes(block: nn.Module) -> list[Mistake]:
    """The usual wrong wirings, built from the learner's own ln1, attn, ln2 and ffwd."""
    ln1, attn, ln2, ffwd = _sublayers(block)

    def wiring(headline: str, hint: str, forward: Callable[[torch.Tensor], torch.Tensor]) -> Mistake:
        return gives(headline, hint, forward)

    return [
        wiring(
            "post-norm where pre-norm was asked: you normalise after adding, x = ln(x + sublayer(x))",
            "pre-norm: each sublayer reads a normalised copy, x = x + attn(ln1(x))",
            lambda x: (lambda h: ln2(h + ffwd(h)))(ln1(x + attn(x))),
        ),
        wiring(
            "your sublayers replace x instead of adding to it: there is no residual",
            "x = x + attn(ln1(x)): the residual stream carries x past each sublayer",
            lambda x: ffwd(ln2(attn(ln1(x)))),
        ),
        wiring(
            "the feed-forward output replaces x: its residual is missing",
            "add the feed-forward's output to x as well: x = x + ffwd(ln2(x))",
            lambda x: ffwd(ln2(x + attn(ln1(x)))),
        ),
        wiring(
            "the attention output replaces x: its residual is missing",
            "x = x + attn(ln1(x)), then the feed-forward",
            lambda x: (lambda h: h + ffwd(ln2(h)))(attn(ln1(x))),
        ),
        wiring(
            "your feed-forward reads x from before the attention: the two sublayers run side by side",
            "the feed-forward reads the x that attention has already added to",
            lambda x: x + attn(ln1(x)) + ffwd(ln2(x)),
        ),
        wiring(
            "you used ln1 before both sublayers: ln2 is never used",
            "each sublayer has its own LayerNorm: ln1 before attn, ln2 before ffwd",
            lambda x: (lambda h: h + ffwd(ln1(h)))(x + attn(ln1(x))),
        ),
        wiring(
            "your residual adds ln1(x), not x: the stream carries the normalised copy",
            "normalise only what the sublayer reads: x = x + attn(ln1(x))",
            lambda x: (lambda h: h + ffwd(ln2(h)))(ln1(x) + attn(ln1(x))),
        ),
        wiring(
            "you ran the feed-forward before the attention",
            "communication first (attention), then computation (feed-forward)",
            lambda x: (lambda h: h + attn(ln2(h)))(x + ffwd(ln1(x))),
        ),
    ]


@exercise("MyBlock")
def check_block(cls: Callable) -> str:
    """cls(config) with ln1, attn, ln2, ffwd; forward: x + attn(ln1(x)), then + ffwd(ln2(x))."""
    block = build(cls, BLOCK_CONFIG)
    missing = [name for name in SUBLAYERS if not isinstance(getattr(block, name, None), nn.Module)]
    if missing:
        raise ExerciseError(
            report(
                "MyBlock",
                f"your MyBlock has no {', '.join(missing)}",
                [],
                "keep the skeleton's __init__: ln1, attn, ln2 and ffwd",
            )
        )
    library = Block(BLOCK_CONFIG).eval()
    reference: Callable[[torch.Tensor], torch.Tensor] = library
    try:
        library.load_state_dict(block.state_dict())
    except RuntimeError:  # the learner's own sublayers: wire them the library's way
        ln1, attn, ln2, ffwd = _sublayers(block)
        reference = lambda x: (lambda h: h + ffwd(ln2(h)))(x + attn(ln1(x)))  # noqa: E731
    C = BLOCK_CONFIG.n_embd
    cases = [Case({"x": randn(1, 2, C, seed=0)}), Case({"x": randn(2, 4, C, seed=1)})]
    Comparison(
        "MyBlock",
        "y",
        lambda case: call(block, *case.args),
        lambda case: reference(*case.args),
        block_mistakes(block),
        hint="two residual steps, each adding a sublayer of a LayerNorm of x",
    ).check(cases)
    return "x + attn(ln1(x)), then + ffwd(ln2(x)): your MyBlock's weights in ap.Block give the same output."


# ---- GPT forward -------------------------------------------------------------------------------------

GPT_CONFIG = GPTConfig(vocab_size=11, block_size=8, n_embd=8, n_head=2, n_layer=2, dropout=0.0, bias=True)


def _tail(model: GPT, x: torch.Tensor, ln_f: bool = True) -> torch.Tensor:
    for block in model.blocks:
        x = block(x)
    return model.lm_head(model.ln_f(x) if ln_f else x)


def _positions(model: GPT, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
    T = idx.size(1)
    assert model.position_embedding is not None  # the exercises use learned positions
    return model.token_embedding(idx) + model.position_embedding(torch.arange(start, start + T))


def _only_at_block_size(model: GPT, fn: Callable) -> Callable:
    def test(case: Case, error: BaseException, run: Run) -> bool:
        idx = torch.randint(
            GPT_CONFIG.vocab_size, (1, GPT_CONFIG.block_size), generator=torch.Generator().manual_seed(9)
        )
        return torch.allclose(call(fn, model, idx), model(idx)[0], atol=1e-5)

    return test


def gpt_mistakes(model: GPT, fn: Callable) -> list[Mistake]:
    emb, pos = model.token_embedding, model.position_embedding
    assert pos is not None  # the exercises use learned positions
    all_rows = "your position embedding has block_size rows, not T: it works only when T == block_size"
    all_rows_hint = "a sequence may be shorter than block_size: look up torch.arange(T), with T = idx.size(1)"
    by_ids = "you looked up the position embedding with the token ids"
    by_ids_hint = "positions are 0 … T-1, whatever the tokens: torch.arange(T)"
    return [
        gives(
            "there is no position embedding: the model cannot tell where a token is",
            "add model.position_embedding(torch.arange(T)) to the token embeddings",
            lambda m, idx: _tail(model, emb(idx)),
        ),
        gives(
            "your positions start at 1, not 0",
            "the first position is 0: torch.arange(T)",
            lambda m, idx: _tail(model, _positions(model, idx, start=1)),
        ),
        gives(
            all_rows, all_rows_hint, lambda m, idx: _tail(model, emb(idx) + pos.weight)
        ),  # broadcasts at T = 1
        raises(all_rows, all_rows_hint, _only_at_block_size(model, fn)),
        gives(by_ids, by_ids_hint, lambda m, idx: _tail(model, emb(idx) + pos(idx))),
        raises_like(by_ids, by_ids_hint, lambda m, idx: pos(idx)),  # an id >= block_size is no position
        gives(
            "the final LayerNorm ln_f is missing",
            "lm_head reads ln_f(x), not x",
            lambda m, idx: _tail(model, _positions(model, idx), ln_f=False),
        ),
        gives(
            "every block reads the embeddings, not the previous block's output: only the last one counts",
            "chain the blocks: x = block(x)",
            lambda m, idx: model.lm_head(model.ln_f(model.blocks[-1](_positions(model, idx)))),
        ),
    ]


@exercise("my_gpt_forward")
def check_gpt_forward(fn: Callable) -> str:
    """fn(model, idx (B, T)) -> logits (B, T, V), from the parts of an ap.GPT."""
    model = cast(GPT, build(GPT, GPT_CONFIG))  # build returns the module it was given the class of
    shapes = ((1, 1), (1, 3), (2, 5), (2, GPT_CONFIG.block_size))
    cases = [
        Case(
            {
                "model": model,
                "idx": torch.randint(GPT_CONFIG.vocab_size, s, generator=torch.Generator().manual_seed(i)),
            },
            shown=("idx",),
        )
        for i, s in enumerate(shapes)
    ]
    Comparison(
        "my_gpt_forward",
        "logits",
        lambda case: call(fn, *case.args),
        lambda case: model(case.inputs["idx"])[0],
        gpt_mistakes(model, fn),
        hint="token + position embeddings -> every block in turn -> ln_f -> lm_head",
    ).check(cases)
    return (
        "Token + position embeddings -> blocks -> ln_f -> lm_head: ap.GPT's logits, for T = 1 … block_size."
    )


# ---- next_token --------------------------------------------------------------------------------------

LOGITS = torch.tensor([0.0, 1.5, -1.0, 2.0, -0.5, 1.0])  # not sorted: the top 3 are ids 3, 1, 5
DRAWS = 20_000  # the frequencies of that many draws are within 0.01 of the probabilities
SCENARIOS = ((1.0, None), (0.5, None), (2.0, None), (1.0, 3), (0.5, 3))


def _probs(
    logits: torch.Tensor, temperature: float, top_k: int | None, fill: float = float("-inf")
) -> torch.Tensor:
    logits = logits / temperature
    if top_k is not None:
        logits = logits.masked_fill(logits < logits.topk(top_k).values[-1], fill)
    return logits.softmax(-1)


def sampling_candidates(t: float, k: int | None) -> list[tuple[str, str, torch.Tensor]]:
    """(headline, hint, the distribution that mistake samples from) for one scenario."""
    candidates = [
        (
            "your temperature has no effect: dividing the probabilities after the softmax changes nothing, "
            "torch.multinomial renormalises them",
            "divide the logits by the temperature before the softmax",
            _probs(LOGITS, 1.0, k),
        ),
        (
            "you multiplied the logits by the temperature instead of dividing",
            "a low temperature sharpens: logits / temperature",
            _probs(LOGITS, 1 / t, k),
        ),
        (
            "you always pick the likeliest token: that is temperature 0, not sampling",
            "draw from the probabilities with torch.multinomial",
            F.one_hot(LOGITS.argmax(), len(LOGITS)).float(),
        ),
    ]
    if k is not None:
        top = LOGITS.topk(k).indices
        candidates += [
            (
                "your top-k keeps k + 1 tokens",
                "the k-th largest logit is the last one kept: topk(k).values[-1]",
                _probs(LOGITS, t, k + 1),
            ),
            (
                "your top-k keeps k - 1 tokens: the k-th largest is dropped too",
                "keep the logits >= the k-th largest: mask only those strictly below it",
                _probs(LOGITS, t, k - 1),
            ),
            (
                "your top-k set the other logits to 0, not -inf: they can still be drawn",
                "mask the logits outside the top k with -inf",
                _probs(LOGITS, t, k, fill=0.0),
            ),
            (
                "you returned the position within the top k, not the token id",
                "map the sampled position back through the indices topk returned",
                torch.zeros(len(LOGITS)).index_put_((torch.arange(k),), _probs(LOGITS, t, k)[top]),
            ),
            (
                "your top-k has no effect: tokens outside the top k are drawn",
                "mask all but the k largest logits",
                _probs(LOGITS, t, None),
            ),
        ]
    return candidates


def _frequencies(fn: Callable, t: float, k: int | None, seed: int = 0) -> torch.Tensor:
    out = call(fn, LOGITS.expand(DRAWS, -1).clone(), t, k, torch.Generator().manual_seed(seed))
    out = torch.as_tensor(out)
    if out.shape != (DRAWS, 1):
        raise ExerciseError(
            report(
                "my_next_token",
                f"for logits of shape ({DRAWS}, {len(LOGITS)}) you returned shape {tuple(out.shape)}, "
                f"expected ({DRAWS}, 1)",
                [],
                "one token per row, kept as a column: torch.multinomial(probs, 1)",
            )
        )
    return torch.bincount(out.flatten().long(), minlength=len(LOGITS)).float() / DRAWS


def _check_generator(fn: Callable) -> None:
    logits = LOGITS.expand(8, -1)
    torch.manual_seed(1)
    first = call(fn, logits.clone(), 1.0, None, torch.Generator().manual_seed(0))
    torch.manual_seed(2)
    second = call(fn, logits.clone(), 1.0, None, torch.Generator().manual_seed(0))
    if not torch.equal(torch.as_tensor(first), torch.as_tensor(second)):
        raise ExerciseError(
            report(
                "my_next_token",
                "your sampling ignores the generator: the same seed gave different tokens",
                [
                    *show("first call", torch.as_tensor(first).flatten()),
                    *show("second call", torch.as_tensor(second).flatten()),
                ],
                "pass generator=generator to torch.multinomial",
            )
        )


@exercise("my_next_token")
def check_next_token(fn: Callable) -> str:
    """fn(logits (B, V), temperature, top_k, generator) -> (B, 1) token ids sampled from the last position."""
    _check_generator(fn)
    for t, k in SCENARIOS:
        expected, got = _probs(LOGITS, t, k), _frequencies(fn, t, k)
        if (got - expected).abs().sum() / 2 <= 0.02:  # total variation: 20,000 draws land well within it
            continue
        known = [(h, hint) for h, hint, p in sampling_candidates(t, k) if (got - p).abs().sum() / 2 <= 0.02]
        headline, hint = (
            known[0]
            if known
            else (
                "your tokens are not drawn from softmax(logits / temperature) restricted to the top k",
                "divide by the temperature, keep the k largest logits (-inf elsewhere), softmax, multinomial",
            )
        )
        evidence = [
            f"The smallest input where it shows: temperature={t}, top_k={k}, {DRAWS:,} rows of these logits:",
            *show("logits", LOGITS),
            *show("expected probabilities", expected),
            *show("your frequencies", got),
        ]
        raise ExerciseError(report("my_next_token", headline, evidence, hint))
    return (
        f"Over {DRAWS:,} draws, the tokens follow softmax(logits / temperature) within the top k, for "
        f"{len(SCENARIOS)} settings, and the generator alone decides them."
    )
