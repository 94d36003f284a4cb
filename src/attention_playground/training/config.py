"""How to train: one frozen dataclass, checked on construction, and the named presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import ConfigError, check_seed, require
from ..nn.config import GPTConfig

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")
OPTIMIZERS = ("adamw", "muon")
SCHEDULES = ("cosine", "linear", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: AdamW, linear warmup then cosine decay from learning_rate to min_lr (or constant)."""

    batch_size: int = 32  # the global batch: one process's, or all torchrun ranks' together
    grad_accum_steps: int = 1  # micro-batches of batch_size / grad_accum_steps per optimizer step
    max_iters: int = 1000
    eval_interval: int = 250  # evaluate every this many steps, and at the last step
    eval_iters: int = 20  # batches averaged per split in estimate_loss
    learning_rate: float = 1e-3
    warmup: int = 100  # steps of linear warmup
    min_lr: float = 1e-4  # learning rate reached at max_iters
    # after the warmup: cosine decay to min_lr, a straight line down to it ("linear"), or "constant"
    schedule: str = "cosine"
    weight_decay: float = 0.1
    decay_norms_and_biases: bool = False  # weight decay on every parameter, as torch's AdamW defaults
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW's moment decay rates
    grad_clip: float = 1.0  # 0 turns clipping off
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | mps
    dtype: str = "float32"  # auto | float32 | bfloat16 (autocast for matmuls)
    optimizer: str = "adamw"  # adamw | muon: Muon on the blocks' matrices, AdamW on the rest
    compile: bool = False  # torch.compile: faster steps after a slow first one

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum_steps", "max_iters", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name}={value!r} must be a whole number >= 1",
            )
        require(
            self.batch_size % self.grad_accum_steps == 0,
            f"batch_size={self.batch_size} must be divisible by grad_accum_steps={self.grad_accum_steps}",
        )
        require(
            isinstance(self.warmup, int) and self.warmup >= 0,
            f"warmup={self.warmup!r} must be a whole number >= 0",
        )
        require(
            math.isfinite(self.learning_rate) and self.learning_rate > 0,
            f"learning_rate={self.learning_rate!r} must be a finite number > 0",
        )
        require(
            0 <= self.min_lr <= self.learning_rate,
            f"min_lr={self.min_lr!r}, where the schedule ends, must be between 0 and "
            f"learning_rate={self.learning_rate!r}: lower min_lr with learning_rate",
        )
        check_seed(self.seed)
        require(
            self.schedule in SCHEDULES, f"schedule={self.schedule!r} must be one of {', '.join(SCHEDULES)}"
        )
        betas = tuple(self.betas)
        require(
            len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas),
            f"betas={self.betas!r} must be two numbers in [0, 1)",
        )
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))  # a list from JSON too
        require(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        require(self.grad_clip >= 0, f"grad_clip={self.grad_clip!r} must be >= 0 (0 turns it off)")
        require(
            self.device in DEVICES or self.device.startswith("cuda:"),
            f"device={self.device!r} must be one of {', '.join(DEVICES)} (or cuda:N)",
        )
        require(self.dtype in DTYPES, f"dtype={self.dtype!r} must be one of {', '.join(DTYPES)}")
        require(
            self.optimizer in OPTIMIZERS,
            f"optimizer={self.optimizer!r} must be one of {', '.join(OPTIMIZERS)}",
        )


@dataclass(frozen=True)
class Preset:
    """A named pair of configs; vocab_size is filled in from the tokenizer."""

    name: str
    model: GPTConfig
    train: TrainConfig
    about: str

    def model_config(self, vocab_size: int) -> GPTConfig:
        return dataclasses.replace(self.model, vocab_size=vocab_size)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        GPTConfig(block_size=32, n_embd=64, n_head=4, n_layer=2, dropout=0.0),
        TrainConfig(
            batch_size=16,
            max_iters=300,
            eval_interval=100,
            eval_iters=10,
            learning_rate=3e-3,
            warmup=30,
            min_lr=3e-4,
            weight_decay=0.0,
        ),
        "seconds on 2 CPU cores: for notebooks and tests",
    ),
    "cpu": Preset(
        "cpu",
        # Chosen by measurement on 2 CPU cores (docs/benchmarks.md): 2 layers train twice the tokens
        # per second of 4 and learn more per second. Muon on the blocks' matrices learns so much more
        # per step at the start that 300 of its steps (each 1.3x AdamW's) beat AdamW's 500.
        GPTConfig(block_size=64, n_embd=128, n_head=4, n_layer=2, dropout=0.0),
        TrainConfig(
            batch_size=32,
            max_iters=300,
            eval_interval=150,
            eval_iters=10,
            learning_rate=2e-2,
            warmup=50,
            min_lr=2e-3,
            schedule="linear",
            weight_decay=0.1,
            dtype="float32",  # exact; bf16 ("auto") was ~5% faster here but no better per second
            optimizer="muon",
        ),
        "seconds on 2 CPU cores: the main job (its val loss is in docs/benchmarks.md)",
    ),
    "lecture": Preset(
        "lecture",
        # Exactly the lecture's gpt.py (ng-video-lecture): biases everywhere but q/k/v, no dropout on
        # the embeddings, AdamW with PyTorch's defaults at a constant 3e-4, no warmup, no clipping.
        GPTConfig(
            block_size=256,
            n_embd=384,
            n_head=6,
            n_layer=6,
            dropout=0.2,
            bias=True,
            qkv_bias=False,
            embedding_dropout=False,
        ),
        TrainConfig(
            batch_size=64,
            max_iters=5000,
            eval_interval=500,
            eval_iters=200,
            learning_rate=3e-4,
            schedule="constant",
            warmup=0,
            min_lr=3e-4,
            weight_decay=0.01,
            decay_norms_and_biases=True,
            betas=(0.9, 0.999),
            grad_clip=0.0,
        ),
        "the lecture's 10.8M-parameter model, trained as its gpt.py: a GPU preset (hours on a CPU)",
    ),
    "lecture-fast": Preset(
        "lecture-fast",
        # The same shape with nanoGPT's shakespeare_char recipe: warmup, cosine, clipping, bf16 on a GPU.
        GPTConfig(block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2),
        TrainConfig(
            batch_size=64,
            max_iters=5000,
            eval_interval=500,
            eval_iters=200,
            learning_rate=1e-3,
            warmup=100,
            min_lr=1e-4,
            weight_decay=0.1,
            dtype="auto",
        ),
        "the lecture's shape with nanoGPT's shakespeare_char recipe and bf16 where the GPU has it: a GPU "
        "preset",
    ),
    "budget": Preset(
        "budget",
        # The recipe of `train --minutes N`, whose schedule follows the clock (budget.py): chosen by
        # 5-minute runs on 2 cores (docs/benchmarks.md). Context mattered
        # most: blocks of 128 beat 64 by 0.04 (and 256 at batch 8); RoPE and 4 layers helped, and a
        # straight-line decay to 0, AdamW's beta2 0.95 and ReLU squared together took 0.01 more.
        # Muon on the blocks' matrices learns more per step: in turns with AdamW it won by 0.016.
        # Weight decay 0.6, not nanoGPT's 0.1, took 0.012 more once Muon was in.
        # Dropout cost a third to half of the speed, and wider models took too few steps.
        GPTConfig(
            block_size=128,
            n_embd=128,
            n_head=4,
            n_layer=4,
            dropout=0.0,
            position="rope",
            tie_weights=True,
            activation="relu_squared",
        ),
        TrainConfig(
            batch_size=16,
            max_iters=5000,  # without --minutes (5-7 minutes on the 2-core CPU it was tuned on)
            eval_interval=1000,
            eval_iters=50,  # 50 x 16 windows of 128: about the whole val split
            learning_rate=5e-3,
            warmup=100,
            schedule="linear",
            min_lr=0.0,
            weight_decay=0.6,  # 5-minute runs: 1.4613 per character against 1.4734 at 0.1, 1.4643 at 1.0
            betas=(0.9, 0.95),  # AdamW's, for the tables and gains Muon leaves to it
            dtype="float32",
            optimizer="muon",
        ),
        "the recipe of --minutes N (the default there), tuned by 5-minute runs: 4 layers with RoPE "
        "over blocks of 128, ReLU squared, tied weights, Muon at lr 5e-3 falling in a straight line "
        "to 0; alone, 5,000 steps",
    ),
}
# GPT-2's tokens pack Tiny Shakespeare into 304,222 training tokens, a third of its characters, and in
# 5 minutes the budget model reads them 7-10 times: without dropout its val loss turned up after
# 750 of 1,453 steps (docs/benchmarks.md). Dropout 0.1 after each sublayer (but not on the attention
# weights, which costs SDPA its fused kernel) and a weight decay of 1.0 kept it falling to the end.
PRESETS["budget-gpt2"] = Preset(
    "budget-gpt2",
    dataclasses.replace(PRESETS["budget"].model, dropout=0.1, attention_dropout=False),
    dataclasses.replace(PRESETS["budget"].train, weight_decay=1.0),
    "the budget recipe made to overfit less, for GPT-2 tokens (the default of --minutes N with "
    "--tokenizer gpt2 or gpt2-full): dropout 0.1 after each sublayer and weight decay 1.0, for a "
    "third as many tokens, read many times over in the budget",
)


def budget_preset_for(tokenizer: str) -> str:
    """The preset `train --minutes N` takes without --preset: "budget" for characters, "budget-gpt2"
    for GPT-2's tokens (fewer tokens of the same text, so more passes over them in the same time)."""
    return "budget" if tokenizer == "char" else "budget-gpt2"


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a ConfigError that lists the ones there are."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None
