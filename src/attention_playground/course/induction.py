"""Grow induction heads on repeated random tokens, and find the phase change in their training."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..analysis.attention_maps import induction_scores
from ..data.tokenizers import CharTokenizer
from ..nn.base import evaluating
from ..nn.config import GPTConfig
from ..nn.variants import ExtendedGPT
from ..training.callbacks import Callback, RunningTrainer
from ..training.config import TrainConfig
from ..training.runtime.device import set_seed
from ..training.trainer import Trainer


@dataclass(frozen=True)
class InductionConfig:
    """A 2-layer attention-only GPT on random letters repeated twice, and how to train it."""

    vocab_size: int = 62  # a..z, A..Z, 0..9: rarely the same token twice by chance
    half: int = 12  # random tokens, then the same tokens again: sequences of 2 * half
    shortest: int | None = 6  # training repeats 6..half tokens (None: always half); measured on half
    n_embd: int = 64
    n_head: int = 2  # 4 heads also learn it, a little later, sharing the job among more heads
    n_layer: int = 2
    position: str = "learned"
    batch_size: int = 32
    max_iters: int = 1000
    learning_rate: float = 1e-3  # at 3e-3 training stayed on the plateau (a bag of the tokens seen)
    warmup: int = 0
    repeat_only: bool = True  # train on the predictable tokens only (the copy, after its first token):
    # with the random ones in the loss too, 2 of our 3 seeds were still on the plateau at 1,500 steps
    record_every: int = 25
    eval_sequences: int = 64
    seed: int = 1337

    def model_config(self) -> GPTConfig:
        return GPTConfig(
            vocab_size=self.vocab_size, block_size=2 * self.half - 1, n_embd=self.n_embd,
            n_head=self.n_head, n_layer=self.n_layer, position=self.position, feed_forward=False,
        )  # fmt: skip

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            batch_size=self.batch_size, max_iters=self.max_iters, learning_rate=self.learning_rate,
            warmup=self.warmup, schedule="constant", min_lr=self.learning_rate, weight_decay=0.0,
            seed=self.seed, device="cpu",
        )  # fmt: skip


def letters_tokenizer(vocab_size: int = 26) -> CharTokenizer:
    """Tokens that read as letters, so the explorer labels random sequences legibly."""
    alphabet = string.ascii_lowercase + string.ascii_uppercase + string.digits
    if not 1 <= vocab_size <= len(alphabet):
        raise ValueError(f"vocab_size={vocab_size} must be between 1 and {len(alphabet)}")
    return CharTokenizer(sorted(alphabet[:vocab_size]))


def repeated_tokens(
    batch_size: int,
    half: int,
    vocab_size: int,
    generator: torch.Generator,
    shortest: int | None = None,
    repeat_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`half` random tokens then the same again: x, y (B, 2*half - 1), y the next token of x.

    With `shortest`, each sequence repeats its own number L (shortest..half) of tokens, after
    2 * (half - L) other random ones: the copy lies at a different distance in each sequence, so
    the model has to find it by content (an induction head), not by position.
    """
    tokens = torch.randint(vocab_size, (batch_size, 2 * half), generator=generator)  # (B, 2*half)
    if shortest is not None:
        length = torch.randint(shortest, half + 1, (batch_size, 1), generator=generator)  # (B, 1): L
    else:
        length = torch.full((batch_size, 1), half)
    position = torch.arange(2 * half)[None]  # (1, 2*half)
    second = position >= 2 * half - length  # (B, 2*half): the repeat, the last L positions
    tokens = tokens.gather(1, torch.where(second, position - length, position))  # copy L back
    x, y = tokens[:, :-1], tokens[:, 1:].clone()
    if repeat_only:  # no loss where the next token is random: cross_entropy skips targets of -100
        y[position[:, 1:].expand_as(y) <= 2 * half - length] = -100  # y[:, j] is token j + 1
    return x, y


@dataclass
class InductionResult:
    """What train_induction measured at every record_every steps."""

    config: InductionConfig
    model: ExtendedGPT
    steps: list[int] = field(default_factory=list)
    first_half_loss: list[float] = field(default_factory=list)  # the random tokens: nothing to learn
    repeat_loss: list[float] = field(default_factory=list)  # the copy (after its first token)
    induction: list[torch.Tensor] = field(default_factory=list)  # (nh,) each head of the last layer
    previous: list[torch.Tensor] = field(default_factory=list)  # (nh,) each head of layer 0
    seconds: float = 0.0

    def series(self, name: str) -> torch.Tensor:
        """(records,) or (records, nh) of `name`, for plotting against `steps`."""
        values = getattr(self, name)
        return torch.stack(values) if isinstance(values[0], torch.Tensor) else torch.tensor(values)

    def induction_head(self) -> int:
        """The head of the last layer with the highest induction score at the end."""
        return int(self.induction[-1].argmax())

    def previous_head(self) -> int:
        """The head of layer 0 that reads the previous token most at the end."""
        return int(self.previous[-1].argmax())


@torch.no_grad()
def _measure(run: InductionResult, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
    half = run.config.half
    model = run.model
    with evaluating(model):
        logits, _ = model(x)  # (B, T, V)
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (B, T)
        weights = model.attention_maps(x).weights  # (L, B, nh, T, T)
    run.steps.append(step)
    run.first_half_loss.append(losses[:, : half - 1].mean().item())
    run.repeat_loss.append(losses[:, half:].mean().item())
    run.induction.append(induction_scores(weights[-1], half).mean(0))  # (nh,)
    run.previous.append(weights[0].diagonal(offset=-1, dim1=-2, dim2=-1).mean((0, 2)))  # (nh,)


class InductionRecorder(Callback):
    """A Trainer callback: the induction run's measures at the start and every record_every steps."""

    def __init__(self, run: InductionResult, x: torch.Tensor, y: torch.Tensor):
        self.run, self.x, self.y = run, x, y

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        _measure(self.run, 0, self.x, self.y)

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        if (step + 1) % self.run.config.record_every == 0 or trainer.done:
            _measure(self.run, step + 1, self.x, self.y)


def train_induction(config: InductionConfig = InductionConfig()) -> InductionResult:
    """Train the attention-only model on fresh repeated sequences each step, measuring as it goes."""
    set_seed(config.seed)
    model = ExtendedGPT(config.model_config())
    eval_generator = torch.Generator().manual_seed(config.seed + 1)
    eval_x, eval_y = repeated_tokens(config.eval_sequences, config.half, config.vocab_size, eval_generator)
    run = InductionResult(config, model)

    def sequences(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return repeated_tokens(
            config.batch_size, config.half, config.vocab_size, generator, config.shortest, config.repeat_only
        )

    trainer = Trainer(
        model, sequences, config.train_config(), callbacks=[InductionRecorder(run, eval_x, eval_y)]
    )
    run.seconds = trainer.run().seconds
    model.eval()
    return run


def crossing_step(steps: Sequence[int], values: torch.Tensor, level: float) -> int | None:
    """The first step at which `values` reaches `level`, coming from the side its first value is on."""
    rising = values[0].item() < level
    for step, value in zip(steps, values.tolist(), strict=True):
        if (value >= level) if rising else (value <= level):
            return step
    return None


def phase_change(run: InductionResult) -> dict[str, int | None]:
    """When it happens: the step at which the loss on the copy is halfway from its start to its
    end, and the steps at which the induction head's and the previous-token head's scores cross
    half their final values."""
    loss = run.series("repeat_loss")
    induction = run.series("induction")[:, run.induction_head()]
    previous = run.series("previous")[:, run.previous_head()]
    return {
        "loss on the copy, halfway down": crossing_step(run.steps, loss, (loss[0] + loss[-1]).item() / 2),
        "induction score, half its final": crossing_step(run.steps, induction, induction[-1].item() / 2),
        "previous-token score, half its final": crossing_step(run.steps, previous, previous[-1].item() / 2),
    }
