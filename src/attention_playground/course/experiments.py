"""Notebook 08's experiments: take a part of the GPT away and train, watch heads form while it trains,
and grow induction heads on repeated random tokens.

    run = run_ablation("no scale", splits, BASE_MODEL, BASE_TRAIN, attention_scale=False)
    print(ablation_table([run]))
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..analysis.attention_maps import HeadSnapshot, head_patterns, induction_scores, prompt_attention
from ..data.batches import Splits
from ..data.tokenizers import CharTokenizer, Tokenizer
from ..nn.base import evaluating
from ..nn.config import GPTConfig
from ..nn.variants import ExtendedGPT
from ..training.callbacks import Callback, RunningTrainer
from ..training.config import TrainConfig
from ..training.history import History
from ..training.lecture import estimate_loss
from ..training.runtime.device import set_seed
from ..training.trainer import Trainer

# One shape, one budget, one seed for every row of the table: seconds per row on 2 CPU cores.
BASE_MODEL = GPTConfig(vocab_size=65, block_size=32, n_embd=64, n_head=4, n_layer=2)
BASE_TRAIN = TrainConfig(
    batch_size=32, max_iters=300, eval_interval=100, eval_iters=10, learning_rate=3e-3, warmup=30,
    min_lr=3e-4, weight_decay=0.0, device="cpu",
)  # fmt: skip

# Each row of the table: its name and the GPTConfig switches it sets (the rest as BASE_MODEL).
ABLATIONS: dict[str, dict[str, Any]] = {
    "learned positions (the lecture's)": {},
    "sinusoidal positions": {"position": "sinusoidal"},
    "RoPE": {"position": "rope"},
    "no positions": {"position": "none"},
    "no 1/sqrt(hs) scale": {"attention_scale": False},
    "no residuals": {"residual": False},
    "no LayerNorm": {"norm": "none"},
    "post-norm": {"norm": "post"},
}

# Dropout needs a model that overfits: a bigger one, on the first characters of the training split.
OVERFIT_MODEL = dataclasses.replace(BASE_MODEL, n_embd=128)
OVERFIT_TOKENS = 10_000
DROPOUTS: dict[str, dict[str, Any]] = {"big model, dropout 0": {}, "big model, dropout 0.2": {"dropout": 0.2}}


@dataclass
class AblationRun:
    """One trained row of the table: what was switched, the model, its losses and its time."""

    name: str
    config: GPTConfig
    model: ExtendedGPT
    history: History
    long_val_loss: float | None  # val loss on windows of long_block_size, where positions allow it
    long_block_size: int
    note: str = ""

    @property
    def val_loss(self) -> float:
        return self.history.val_loss[-1]

    @property
    def train_loss(self) -> float:
        return self.history.train_loss[-1]

    @property
    def gap(self) -> float:
        """val - train: how much better the model does on text it trained on (overfitting)."""
        return self.val_loss - self.train_loss


def run_ablation(
    name: str,
    splits: Splits,
    model_config: GPTConfig = BASE_MODEL,
    train_config: TrainConfig = BASE_TRAIN,
    *,
    long_block_size: int | None = None,
    note: str = "",
    **switches: Any,
) -> AblationRun:
    """Train a GPT of model_config with `switches` set (e.g. position="rope") and measure it.

    Past its trained length (long_block_size, default twice block_size) a model is evaluated only
    where its positions are defined there: not with a learned table, which has block_size rows.
    """
    config = dataclasses.replace(model_config, **switches)
    long_block_size = long_block_size or 2 * config.block_size
    set_seed(train_config.seed)  # the same initial weights for every row, where the shapes agree
    model = ExtendedGPT(config)
    trainer = Trainer(model, splits, train_config)
    history = trainer.run()
    long_val_loss = None
    if config.position != "learned":
        long_val_loss = estimate_loss(
            model,
            splits,
            train_config.batch_size,
            long_block_size,
            train_config.eval_iters,
            train_config.seed,
        )["val"]
    model.eval()
    return AblationRun(name, config, model, history, long_val_loss, long_block_size, note)


def run_ablations(
    splits: Splits,
    model_config: GPTConfig = BASE_MODEL,
    train_config: TrainConfig = BASE_TRAIN,
    variants: Mapping[str, Mapping[str, Any]] = ABLATIONS,
) -> list[AblationRun]:
    """Every row of `variants` trained with the same shape, budget and seed."""
    return [run_ablation(name, splits, model_config, train_config, **dict(s)) for name, s in variants.items()]


def overfit_splits(splits: Splits, tokens: int = OVERFIT_TOKENS) -> Splits:
    """The first `tokens` of the training split (and all of val): small enough to memorise."""
    return Splits(splits.train[:tokens], splits.val)


def run_dropout_ablations(
    splits: Splits,
    model_config: GPTConfig = OVERFIT_MODEL,
    train_config: TrainConfig = BASE_TRAIN,
    tokens: int = OVERFIT_TOKENS,
    variants: Mapping[str, Mapping[str, Any]] = DROPOUTS,
) -> list[AblationRun]:
    """The dropout rows: a bigger model on `tokens` training tokens, with and without dropout."""
    small = overfit_splits(splits, tokens)
    note = f"{model_config.n_layer} layers x {model_config.n_embd} channels, first {tokens:,} training tokens"
    return [
        run_ablation(name, small, model_config, train_config, note=note, **dict(s))
        for name, s in variants.items()
    ]


def ablation_table(runs: Sequence[AblationRun], baseline: AblationRun | None = None) -> str:
    """A Markdown table: val loss (and its change from `baseline`), the train/val gap, loss past the
    trained length, wall time. Written from the runs, never by hand."""
    baseline = baseline or runs[0]
    long = runs[0].long_block_size
    header = (
        f"| variant | val loss | vs {baseline.name} | train/val gap | val loss at T={long} | wall time |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = [header]
    for run in runs:
        if run.long_val_loss is not None:
            long_cell = f"{run.long_val_loss:.3f}"
        elif run.config.position == "learned":
            long_cell = "n/a (learned: no row past T=" + str(run.config.block_size) + ")"
        else:
            long_cell = ""
        change = f"{run.val_loss - baseline.val_loss:+.3f}" if run.note == baseline.note else ""
        name = f"{run.name} ({run.note})" if run.note else run.name
        rows.append(
            f"| {name} | {run.val_loss:.3f} | {change} | {run.gap:+.3f} | {long_cell} | "
            f"{run.history.seconds:.0f} s |"
        )
    return "\n".join(rows)


# ---- heads forming while it trains ------------------------------------------------------------


class HeadRecorder(Callback):
    """A Trainer callback: at the start and at each evaluation, the prompt's attention and head jobs."""

    def __init__(self, tokenizer: Tokenizer, text: str):
        self.tokenizer, self.text = tokenizer, text
        self.snapshots: list[HeadSnapshot] = []
        self.labels: list[str] = []

    def _record(self, trainer: RunningTrainer, step: int, val_loss: float) -> None:
        prompt = prompt_attention(trainer.model, self.tokenizer, self.text)  # type: ignore[arg-type]  # a GPT
        self.labels = prompt.labels
        patterns = head_patterns(prompt.weights, prompt.labels)
        self.snapshots.append(HeadSnapshot(step, prompt.weights, patterns, val_loss))

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        if not self.snapshots:
            self._record(trainer, trainer.step, math.nan)

    def on_eval(self, trainer: RunningTrainer, step: int, losses: dict[str, float]) -> None:
        self._record(trainer, step + 1, losses["val"])


# Notebook 07's model (the tiny preset with a context of 64), evaluated often enough to watch it.
FORMING_MODEL = GPTConfig(vocab_size=65, block_size=64, n_embd=64, n_head=4, n_layer=2)
FORMING_TRAIN = dataclasses.replace(BASE_TRAIN, batch_size=16, max_iters=1000, eval_interval=50, eval_iters=5)
FORMING_PROMPT = "ROMEO:\nBut, soft! what light through yonder window breaks?\n"


@dataclass
class HeadsForming:
    """A model trained while a HeadRecorder watched: what train_watching_heads returns."""

    model: ExtendedGPT
    history: History
    snapshots: list[HeadSnapshot]
    labels: list[str]


def train_watching_heads(
    splits: Splits,
    tokenizer: Tokenizer,
    text: str = FORMING_PROMPT,
    model_config: GPTConfig = FORMING_MODEL,
    train_config: TrainConfig = FORMING_TRAIN,
) -> HeadsForming:
    """Train a GPT, recording `text`'s attention at the start and at every evaluation."""
    set_seed(train_config.seed)
    model = ExtendedGPT(dataclasses.replace(model_config, vocab_size=tokenizer.vocab_size))
    recorder = HeadRecorder(tokenizer, text)
    history = Trainer(model, splits, train_config, callbacks=[recorder]).run()
    model.eval()
    return HeadsForming(model, history, recorder.snapshots, recorder.labels)


def first_step_above(
    snapshots: Sequence[HeadSnapshot], pattern: str, threshold: float, layer: int, head: int
) -> int | None:
    """The first recorded step from which head (layer, head) keeps its `pattern` weight above
    `threshold` at every later snapshot; None if it never settles there."""
    values = [getattr(s.patterns, pattern)[layer, head].item() for s in snapshots]
    for i in range(len(values)):
        if all(v > threshold for v in values[i:]):
            return snapshots[i].step
    return None


# ---- induction heads on repeated random tokens -------------------------------------------------


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
    learning_rate: float = 1e-3  # 3e-3 stayed on the plateau (a bag of the tokens seen) in our runs
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
class InductionRun:
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
def _measure(run: InductionRun, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
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

    def __init__(self, run: InductionRun, x: torch.Tensor, y: torch.Tensor):
        self.run, self.x, self.y = run, x, y

    def on_run_begin(self, trainer: RunningTrainer) -> None:
        _measure(self.run, 0, self.x, self.y)

    def on_step(self, trainer: RunningTrainer, step: int, loss: float) -> None:
        if (step + 1) % self.run.config.record_every == 0 or trainer.done:
            _measure(self.run, step + 1, self.x, self.y)


def train_induction(config: InductionConfig = InductionConfig()) -> InductionRun:
    """Train the attention-only model on fresh repeated sequences each step, measuring as it goes."""
    set_seed(config.seed)
    model = ExtendedGPT(config.model_config())
    eval_generator = torch.Generator().manual_seed(config.seed + 1)
    eval_x, eval_y = repeated_tokens(config.eval_sequences, config.half, config.vocab_size, eval_generator)
    run = InductionRun(config, model)

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


def phase_change(run: InductionRun) -> dict[str, int | None]:
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
