import pytest
import torch

from attention_playground import ConfigError, pick_device, set_seed


def test_auto_picks_an_available_device():
    device = pick_device()
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert device.type == expected
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_absent_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="sees no CUDA GPU: use cpu or auto"):
        pick_device("cuda")


def test_unknown_device():
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


def test_set_seed_returns_a_reproducible_generator():
    a = torch.randint(100, (5,), generator=set_seed(7))
    b = torch.randint(100, (5,), generator=set_seed(7))
    assert torch.equal(a, b)
    set_seed(3)
    first = torch.rand(3)
    set_seed(3)
    assert torch.equal(first, torch.rand(3))
