"""Shared fixtures: the real corpus (from $ATTENTION_PLAYGROUND_DATA or the cache) and small models."""

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # tests draw figures without a display

from attention_playground import CharTokenizer, GPTConfig, encode_corpus, load_text, split  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

REQUIRE_CUDA = "ATTENTION_PLAYGROUND_REQUIRE_CUDA"  # =1: a test marked cuda fails, not skips, without a GPU


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `cuda` skip where no CUDA GPU is visible (scripts/gpu_check.sh sets REQUIRE_CUDA=1)."""
    if item.get_closest_marker("cuda") is None or torch.cuda.is_available():
        return
    if os.environ.get(REQUIRE_CUDA) == "1":
        pytest.fail(f"{REQUIRE_CUDA}=1, but this PyTorch sees no CUDA GPU")
    pytest.skip("needs a CUDA GPU")


@pytest.fixture(scope="session")
def shakespeare() -> str:
    return load_text("tinyshakespeare")


@pytest.fixture(scope="session")
def char_tokenizer(shakespeare: str) -> CharTokenizer:
    return CharTokenizer.from_text(shakespeare)


@pytest.fixture(scope="session")
def shakespeare_splits(shakespeare: str, char_tokenizer: CharTokenizer):
    return split(encode_corpus(shakespeare, char_tokenizer))


@pytest.fixture
def small_config() -> GPTConfig:
    return GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2)
