import dataclasses
import re

import pytest

from attention_playground import PRESETS, ConfigError, GPTConfig, TrainConfig, get_preset


def test_defaults_are_valid_and_frozen():
    config = GPTConfig()
    assert config.head_size == config.n_embd // config.n_head
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.n_embd = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_embd": 64, "n_head": 6}, "n_embd=64 must be divisible by n_head=6"),
        ({"n_layer": 0}, "n_layer=0 must be a whole number >= 1"),
        ({"block_size": -3}, "block_size=-3"),
        ({"vocab_size": 2.5}, "vocab_size=2.5"),
        ({"dropout": 1.0}, "dropout=1.0 must be in [0, 1)"),
        ({"activation": "tanh"}, "activation='tanh' must be one of relu, gelu"),
    ],
)
def test_gpt_config_says_what_to_change(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        GPTConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"learning_rate": 0}, "learning_rate=0 must be a finite number > 0"),
        (
            {"learning_rate": 1e-3, "min_lr": 1e-2},
            "min_lr=0.01, where the schedule ends, must be between 0 and learning_rate",
        ),
        ({"device": "tpu"}, "device='tpu' must be one of"),
        ({"dtype": "float16"}, "dtype='float16' must be one of"),
        ({"grad_clip": -1}, "grad_clip=-1"),
        ({"warmup": -1}, "warmup=-1"),
    ],
)
def test_train_config_says_what_to_change(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_presets():
    assert {"tiny", "cpu", "lecture"} <= set(PRESETS)
    lecture = get_preset("lecture")
    assert (lecture.model.n_layer, lecture.model.n_head, lecture.model.n_embd) == (6, 6, 384)
    assert (lecture.model.block_size, lecture.model.dropout) == (256, 0.2)
    assert (lecture.train.batch_size, lecture.train.learning_rate) == (64, 3e-4)
    assert lecture.train.max_iters == 5000
    assert get_preset("cpu").model_config(vocab_size=50257).vocab_size == 50257
    with pytest.raises(ConfigError, match="unknown preset 'gpu': choose one of tiny, cpu, lecture"):
        get_preset("gpu")
