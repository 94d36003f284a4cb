"""Take a part of the GPT away and train: one shape, one budget, one seed for every row of the table.

run = run_ablation("no scale", splits, BASE_MODEL, BASE_TRAIN, attention_scale=False)
print(ablation_table([run]))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data.batches import Splits
from ..nn.config import GPTConfig
from ..nn.variants import ExtendedGPT
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
class AblationResult:
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
) -> AblationResult:
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
    return AblationResult(name, config, model, history, long_val_loss, long_block_size, note)


def run_ablations(
    splits: Splits,
    model_config: GPTConfig = BASE_MODEL,
    train_config: TrainConfig = BASE_TRAIN,
    variants: Mapping[str, Mapping[str, Any]] = ABLATIONS,
) -> list[AblationResult]:
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
) -> list[AblationResult]:
    """The dropout rows: a bigger model on `tokens` training tokens, with and without dropout."""
    small = overfit_splits(splits, tokens)
    note = f"{model_config.n_layer} layers x {model_config.n_embd} channels, first {tokens:,} training tokens"
    return [
        run_ablation(name, small, model_config, train_config, note=note, **dict(s))
        for name, s in variants.items()
    ]


def ablation_table(runs: Sequence[AblationResult], baseline: AblationResult | None = None) -> str:
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
