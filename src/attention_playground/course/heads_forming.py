"""Watch heads form while a GPT trains: a callback records a prompt's attention at every evaluation."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis.attention_maps import HeadSnapshot, head_patterns, prompt_attention
from ..data.batches import Splits
from ..data.tokenizers import Tokenizer
from ..nn.config import GPTConfig
from ..nn.variants import ExtendedGPT
from ..training.callbacks import Callback, RunningTrainer
from ..training.config import TrainConfig
from ..training.history import History
from ..training.runtime.device import set_seed
from ..training.trainer import Trainer
from .ablations import BASE_TRAIN


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
