"""The shape of a model: one frozen dataclass, checked on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, require

ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "relu_squared")
POSITIONS = ("learned", "sinusoidal", "rope", "none")  # how a token knows where it stands
NORMS = ("pre", "post", "none")  # where a Block's LayerNorms sit, if anywhere
# GPTConfig's on/off fields, each checked to be a bool
SWITCHES = (
    "embedding_dropout",
    "attention_dropout",
    "attention_scale",
    "residual",
    "feed_forward",
    "qk_norm",
)


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a model. Glossary: B batch, T time (block_size), C n_embd, nh n_head, hs head_size."""

    vocab_size: int = 65
    block_size: int = 64  # the longest context the model reads
    n_embd: int = 128
    n_head: int = 4
    n_layer: int = 4
    dropout: float = 0.0
    bias: bool = False  # biases in Linear layers and LayerNorm (but see qkv_bias)
    qkv_bias: bool = False  # biases in the query/key/value projection (the lecture's have none)
    embedding_dropout: bool = True  # dropout on token + position embeddings (the lecture has none)
    attention_dropout: bool = True  # dropout on the attention weights; False keeps SDPA's fused kernel
    activation: str = "relu"  # the lecture's ReLU, "gelu", GPT-2's "gelu_tanh", or "relu_squared"
    # Switches that take a part away or swap it (notebook 08); the defaults are the lecture's model.
    position: str = "learned"  # learned table | "sinusoidal" (2017 paper) | "rope" (rotate q, k) | "none"
    attention_scale: bool = True  # divide q.k by sqrt(head_size); False: raw dot products
    residual: bool = True  # add each sublayer's output to its input; False: replace the input
    norm: str = "pre"  # LayerNorm before each sublayer | "post" (after the residual add) | "none"
    feed_forward: bool = True  # False: an attention-only Block (no FeedForward, no ln2)

    tie_weights: bool = False  # lm_head reuses the token embedding table (GPT-2 does; one V x C matrix)
    qk_norm: bool = False  # RMSNorm on each head's queries and keys before q.k (modded-nanogpt's)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_head", "n_layer"):
            value = getattr(self, name)
            require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name}={value!r} must be a whole number >= 1",
            )
        require(
            self.n_embd % self.n_head == 0,
            f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}",
        )
        require(
            isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0,
            f"dropout={self.dropout!r} must be in [0, 1)",
        )
        require(
            self.activation in ACTIVATIONS,
            f"activation={self.activation!r} must be one of {', '.join(ACTIVATIONS)}",
        )
        require(
            self.position in POSITIONS, f"position={self.position!r} must be one of {', '.join(POSITIONS)}"
        )
        require(self.norm in NORMS, f"norm={self.norm!r} must be one of {', '.join(NORMS)}")
        for name in SWITCHES:
            require(
                isinstance(getattr(self, name), bool), f"{name}={getattr(self, name)!r} must be True or False"
            )
        require(
            self.position != "sinusoidal" or self.n_embd % 2 == 0,
            f"position='sinusoidal' pairs channels into sines and cosines: n_embd={self.n_embd} must be even",
        )
        require(
            self.position != "rope" or self.head_size % 2 == 0,
            f"position='rope' rotates pairs of channels: head_size={self.head_size} "
            f"(n_embd / n_head) must be even",
        )

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def attention_weights_dropout(self) -> float:
        """The dropout on the attention weights: `dropout`, or 0 where attention_dropout is False."""
        return self.dropout if self.attention_dropout else 0.0


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config, with a clear error for missing or unknown fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    return cls(**values)


# What the lesson's models (GPT, AttentionLanguageModel) build: the lecture's value of each switch.
# Any other value is built by the variants layered around them (variants.py: ExtendedGPT).
LECTURE_SWITCHES = {
    "position": "learned",
    "attention_scale": True,
    "residual": True,
    "norm": "pre",
    "feed_forward": True,
    "qk_norm": False,
}


def lecture_switches_changed(config: GPTConfig) -> list[str]:
    """The switches of `config` set away from the lecture's model, as "name=value"."""
    return [f"{name}={getattr(config, name)!r}" for name, lecture in LECTURE_SWITCHES.items()
            if getattr(config, name) != lecture]  # fmt: skip


def check_lecture_config(config: GPTConfig, model: str) -> None:
    """One line where `model`, the lecture's, is asked for a switch it does not build."""
    changed = lecture_switches_changed(config)
    require(
        not changed,
        f"{model} is the lecture's model and builds none of {', '.join(changed)}: use ExtendedGPT, "
        "which builds every GPTConfig switch (and samples with a KV cache)",
    )
