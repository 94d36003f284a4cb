"""Two tokenizers behind one interface: characters (vocab 65 on Tiny Shakespeare) and GPT-2's BPE."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import torch

from .errors import TokenizerError


class Tokenizer(Protocol):
    """What the library asks of a tokenizer; CharTokenizer and GPT2Tokenizer both keep it."""

    name: str  # "char" or "gpt2": how a checkpoint says which one to rebuild

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's own text, one string per id (what a plot labels it with)."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


class CharTokenizer:
    """One token per distinct character of the text it was built from, in sorted order."""

    name = "char"

    def __init__(self, chars: str | list[str]):
        chars = list(chars)
        if not chars:
            raise TokenizerError("a character tokenizer needs at least one character")
        if len(set(chars)) != len(chars) or chars != sorted(chars):
            raise TokenizerError("the vocabulary must be distinct characters in sorted order")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            for position, ch in enumerate(text):
                if ch not in self.stoi:
                    raise TokenizerError(
                        f"character {ch!r} (U+{ord(ch):04X}) at position {position} is not in "
                        f"this tokenizer's vocabulary of {self.vocab_size} characters: "
                        "remove it from the text, or build the tokenizer from a text that has it"
                    ) from None
            raise

    def decode(self, ids: list[int]) -> str:
        try:
            return "".join(self.itos[int(i)] for i in ids)
        except KeyError as error:
            raise TokenizerError(
                f"token id {error.args[0]} is outside the vocabulary (0..{self.vocab_size - 1})"
            ) from None

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's character."""
        return [self.decode([i]) for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "char", "chars": "".join(self.chars)}

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        if values.get("kind") != "char":
            raise TokenizerError(f"{path} holds a {values.get('kind')!r} tokenizer, not a char one")
        return cls(list(values["chars"]))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class GPT2Tokenizer:
    """tiktoken's `gpt2` byte-pair encoding: 50,257 tokens, any text encodes."""

    name = "gpt2"

    def __init__(self) -> None:
        import tiktoken

        try:
            self._encoding = tiktoken.get_encoding("gpt2")
        except Exception as error:  # tiktoken raises plain Exceptions for network and cache faults
            raise TokenizerError(
                f"could not load tiktoken's gpt2 encoding ({type(error).__name__}: {error}). "
                "Offline, set TIKTOKEN_CACHE_DIR to a folder holding its cached files "
                "(this project's tests use ../shared/data/tiktoken_cache)"
            ) from None

    @property
    def vocab_size(self) -> int:
        return self._encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        # Plain text: "<|endoftext|>" in a corpus is just characters, not the special token.
        return self._encoding.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise TokenizerError(f"token id {bad[0]} is outside the vocabulary (0..{self.vocab_size - 1})")
        return self._encoding.decode(ids)

    def decode_bytes(self, ids: list[int]) -> bytes:
        """The tokens' UTF-8 bytes, which may end inside a character (stream_text completes it)."""
        return self._encoding.decode_bytes([int(i) for i in ids])

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's own text (a piece of a character where BPE splits one)."""
        return [self._encoding.decode_single_token_bytes(i).decode("utf-8", "replace") for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gpt2"}

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size})"


TOKENIZERS = ("char", "gpt2")


def get_tokenizer(name: str, text: str | None = None) -> Tokenizer:
    """'char' (built from `text`) or 'gpt2'."""
    if name == "char":
        if text is None:
            raise TokenizerError("a char tokenizer is built from a text: pass text=")
        return CharTokenizer.from_text(text)
    if name == "gpt2":
        return GPT2Tokenizer()
    raise TokenizerError(f"unknown tokenizer {name!r}: choose one of {', '.join(TOKENIZERS)}")


def tokenizer_from_dict(values: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()`, as stored in a checkpoint."""
    kind = values.get("kind")
    if kind == "char":
        return CharTokenizer(list(values["chars"]))
    if kind == "gpt2":
        return GPT2Tokenizer()
    raise TokenizerError(f"unknown tokenizer kind {kind!r} (expected char or gpt2)")


def encode_corpus(text: str, tokenizer: Tokenizer) -> torch.Tensor:
    """The whole text as one contiguous tensor of token ids."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def token_labels(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    """Readable labels for plots: each token's text with spaces and newlines made visible."""
    return [visible(piece) for piece in tokenizer.token_strings(ids)]


def visible(piece: str) -> str:
    """'␣' for a space, '⏎' for a newline, '⇥' for a tab: so a plot's labels show them."""
    return piece.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"
