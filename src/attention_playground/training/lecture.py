"""The lecture's training loop, as its gpt.py writes it: a fresh batch, the loss, zero_grad,
backward, step; and every eval_interval steps, the loss estimated in eval mode on both splits.

The Trainer (trainer.py) is this loop with the parts a longer run needs: a schedule, clipping,
checkpoints, callbacks, several processes. With a constant learning rate, no warmup, no clipping
and AdamW on every parameter, it gives this loop's losses (tested).
"""

from __future__ import annotations

import torch

from ..data.batches import Splits, check_long_enough, get_batch, token_windows
from ..errors import ConfigError
from ..nn.base import LanguageModel, evaluating
from .history import History


@torch.no_grad()
def estimate_loss(
    model: LanguageModel, data: Splits, batch_size: int, block_size: int, eval_iters: int, seed: int = 0
) -> dict[str, float]:
    """The mean loss of eval_iters random batches of each split, in eval mode (no dropout).

    The batches come from a generator seeded with `seed`: the same batches at every call, so two
    estimates differ only by what the model learned in between.
    """
    _check_estimate(data, block_size, eval_iters)
    out = {}
    device = next(model.parameters()).device
    with evaluating(model):  # the lecture's model.eval() ... model.train()
        for split, tokens in (("train", data.train), ("val", data.val)):
            generator = torch.Generator().manual_seed(seed)
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                x, y = get_batch(tokens, batch_size, block_size, generator, device)
                _, loss = model(x, y)
                losses[k] = loss.item()
            out[split] = losses.mean().item()
    return out


@torch.no_grad()
def whole_split_loss(
    model: LanguageModel,
    tokens: torch.Tensor,
    block_size: int,
    max_tokens: int | None = None,
    windows: int = 256,
) -> float:
    """The mean next-token loss over a whole split, cut into back-to-back windows of block_size:
    what estimate_loss samples with random windows, without its sampling noise.

    `windows` at a time (fewer for a large vocabulary: the logits are windows x block_size x V).
    """
    tokens = tokens if max_tokens is None else tokens[: max_tokens + 1]
    n = (len(tokens) - 1) // block_size
    total = 0.0
    with evaluating(model):
        for first in range(0, n, windows):
            starts = torch.arange(first, min(n, first + windows)) * block_size
            x, y = token_windows(tokens, starts, block_size)  # (B, T) each
            _, loss = model(x, y)
            total += loss.item() * len(starts)
    return total / n


def _check_estimate(data: Splits, block_size: int, eval_iters: int) -> None:
    """eval_iters is a count of batches, and each split holds at least one window of block_size."""
    if not isinstance(eval_iters, int) or isinstance(eval_iters, bool) or eval_iters < 1:
        raise ConfigError(f"eval_iters={eval_iters!r} must be a whole number >= 1: the batches averaged")
    for name, tokens in (("training", data.train), ("validation", data.val)):
        check_long_enough(tokens, block_size, f"the {name} split")


def simple_training_loop(
    model: LanguageModel,
    data: Splits,
    *,
    block_size: int,
    batch_size: int = 32,
    max_iters: int = 3000,
    learning_rate: float = 1e-2,
    eval_interval: int = 300,
    eval_iters: int = 200,
    seed: int = 1337,
) -> History:
    """Train `model` in place for max_iters steps as the lecture does; returns what happened.

    AdamW with PyTorch's defaults at a constant learning rate, on the model's own device. The
    losses are estimated after every eval_interval-th step and after the last one.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)  # the training batches
    device, history = next(model.parameters()).device, History()
    model.train()
    for step in range(max_iters):
        xb, yb = get_batch(data.train, batch_size, block_size, generator, device)  # (B, T) each
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.step_losses.append(loss.item())
        if (step + 1) % eval_interval == 0 or step == max_iters - 1:
            history.record_eval(step, estimate_loss(model, data, batch_size, block_size, eval_iters, seed))
    return history
