import os
from pathlib import Path

import pytest
import torch

from attention_playground import DataError, get_batch, load_text, split
from attention_playground.data import corpus as data_module


def test_tinyshakespeare_is_found_and_verified(shakespeare):
    assert len(shakespeare) == 1_115_394
    assert shakespeare.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")


def test_local_copy_wins_over_download(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download although a local copy exists")

    monkeypatch.setattr(data_module.urllib.request, "urlopen", no_network)
    assert data_module.tinyshakespeare_path().name == "tinyshakespeare.txt"


def test_a_corrupted_local_copy_is_refused(monkeypatch, tmp_path):
    (tmp_path / "tinyshakespeare.txt").write_text("not the real thing")
    monkeypatch.setenv(data_module.DATA_ENV, str(tmp_path))
    with pytest.raises(DataError, match="is not the Tiny Shakespeare we expect"):
        load_text("tinyshakespeare")


def test_offline_download_failure_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.delenv(data_module.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(data_module.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="set ATTENTION_PLAYGROUND_DATA"):
        load_text("tinyshakespeare")
    assert not list(Path(tmp_path).rglob("*.part")), "a failed download left a partial file"


def test_download_verifies_then_renames(monkeypatch, tmp_path):
    """With a network the file is fetched, checked against its sha256, and kept in the cache."""
    real = Path(os.environ[data_module.DATA_ENV]) / "tinyshakespeare.txt"
    monkeypatch.delenv(data_module.DATA_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return real.read_bytes()

    monkeypatch.setattr(data_module.urllib.request, "urlopen", lambda url, timeout: Response())
    assert load_text("tinyshakespeare").startswith("First Citizen")
    assert (tmp_path / "attention_playground" / "tinyshakespeare.txt").is_file()


def test_any_utf8_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Ça va? ünïcödé ok\n", encoding="utf-8")
    assert load_text(path) == "Ça va? ünïcödé ok\n"
    assert load_text(str(path)) == "Ça va? ünïcödé ok\n"


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file: .*nope.txt. Pass 'tinyshakespeare' or the path"):
        load_text(tmp_path / "nope.txt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n")
    with pytest.raises(DataError, match="is empty: the model needs text"):
        load_text(path)


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 3 is 0xe9\).*re-save it as UTF-8"):
        load_text(path)
    assert path.read_bytes() == "caf\xe9 au lait".encode("latin-1"), "the user's file was changed"


def test_split_keeps_order():
    data = torch.arange(100)
    train, val = split(data, 0.1)
    assert torch.equal(train, torch.arange(90)) and torch.equal(val, torch.arange(90, 100))


def test_batches_are_next_token_pairs():
    data = torch.arange(1000)
    x, y = get_batch(data, batch_size=8, block_size=16, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1), "targets are the inputs shifted by one"
    x2, _ = get_batch(data, 8, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2), "the same generator seed gives the same batch"


def test_a_corpus_shorter_than_a_block_is_a_clear_error():
    with pytest.raises(DataError, match="has 10 tokens, but a batch needs at least block_size \\+ 1 = 17"):
        get_batch(torch.arange(10), batch_size=2, block_size=16)
    # exactly block_size + 1 tokens is enough: one window
    x, y = get_batch(torch.arange(17), batch_size=2, block_size=16)
    assert torch.equal(x[0], torch.arange(16)) and torch.equal(y[0], torch.arange(1, 17))
