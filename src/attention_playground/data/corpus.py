"""The corpus: find or download it, verify it, and read it as text (batches.py cuts it into batches)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError
from ..files import atomic_write
from .batches import Splits, split
from .tokenizers import Tokenizer, encode_corpus, get_tokenizer

TINY_SHAKESPEARE = "tinyshakespeare"
TINY_SHAKESPEARE_FILE = "tinyshakespeare.txt"
TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
DATA_ENV = "ATTENTION_PLAYGROUND_DATA"  # a folder holding tinyshakespeare.txt (CI: ../shared/data)


def cache_dir() -> Path:
    """The user cache folder where a downloaded corpus is kept."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attention_playground"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path) -> Path:
    actual = sha256_of(path)
    if actual != TINY_SHAKESPEARE_SHA256:
        raise DataError(
            f"{path} is not the Tiny Shakespeare we expect (sha256 {actual[:12]}…, "
            f"expected {TINY_SHAKESPEARE_SHA256[:12]}…): delete it so it is downloaded again, "
            "or pass your own text file by its path"
        )
    return path


def _download(url: str, destination: Path) -> Path:
    """Download to a temporary file beside `destination`, verify, then rename: never a half file."""
    try:
        with atomic_write(destination, suffix=".part") as out, urllib.request.urlopen(url, timeout=30) as r:
            out.write(r.read())
            out.flush()
            _verified(Path(out.name))
    except OSError as error:
        raise DataError(
            f"could not download Tiny Shakespeare from {url} ({error}). Without a network, put "
            f"{TINY_SHAKESPEARE_FILE} in a folder and set {DATA_ENV} to that folder"
        ) from None
    return destination


def tinyshakespeare_path() -> Path:
    """A verified local copy: $ATTENTION_PLAYGROUND_DATA first, then the cache, then the URL."""
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]) / TINY_SHAKESPEARE_FILE)
    candidates.append(cache_dir() / TINY_SHAKESPEARE_FILE)
    for path in candidates:
        if path.is_file():
            return _verified(path)
    return _download(TINY_SHAKESPEARE_URL, cache_dir() / TINY_SHAKESPEARE_FILE)


def read_text_file(path: str | os.PathLike) -> str:
    """A UTF-8 text file's contents, or a DataError that says what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}. Pass 'tinyshakespeare' or the path of a UTF-8 text file")
    if path.is_dir():
        raise DataError(f"{path} is a folder: pass the path of a UTF-8 text file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty: the model needs text to learn from")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not UTF-8 text (byte {error.start} is 0x{raw[error.start]:02x}): "
            "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`"
        ) from None


def load_text(source: str | os.PathLike = TINY_SHAKESPEARE) -> str:
    """'tinyshakespeare' (found locally or downloaded, always verified) or a path to a UTF-8 file."""
    if str(source) == TINY_SHAKESPEARE:
        return read_text_file(tinyshakespeare_path())
    return read_text_file(source)


class Corpus(NamedTuple):
    """A text, the tokenizer built for it, and its tokens split into train and val."""

    text: str
    tokenizer: Tokenizer
    splits: Splits


def corpus_of(text: str, tokenizer: str | Tokenizer = "char", val_fraction: float = 0.1) -> Corpus:
    """A text's tokenizer ('char', 'gpt2' built from the text, 'gpt2-full', or one already made),
    its tokens, and their train/val split."""
    tok = get_tokenizer(tokenizer, text) if isinstance(tokenizer, str) else tokenizer
    return Corpus(text, tok, split(encode_corpus(text, tok), val_fraction))


def load_corpus(
    source: str | os.PathLike = TINY_SHAKESPEARE,
    tokenizer: str | Tokenizer = "char",
    val_fraction: float = 0.1,
) -> Corpus:
    """load_text, then corpus_of: the text, its tokenizer and its tokens split into train and val."""
    return corpus_of(load_text(source), tokenizer, val_fraction)
