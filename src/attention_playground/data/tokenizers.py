"""Tokenizers behind one interface: characters (vocab 65 on Tiny Shakespeare), GPT-2's BPE with all
50,257 tokens, and GPT-2's BPE over only the tokens a corpus uses (11,706 for Tiny Shakespeare)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import TokenizerError


class Tokenizer(Protocol):
    """What the library asks of a tokenizer; CharTokenizer, GPT2Tokenizer and CompactGPT2Tokenizer keep it."""

    name: str  # what get_tokenizer and --tokenizer call it: "char", "gpt2" (compact) or "gpt2-full"

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's own text, one string per id (what a plot labels it with)."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


def distinct_and_sorted(chars: str | list[str]) -> list[str]:
    """A character vocabulary as a list, or a TokenizerError if it is empty, repeats or is unsorted."""
    chars = list(chars)
    if not chars:
        raise TokenizerError("a character tokenizer needs at least one character")
    if len(set(chars)) != len(chars) or chars != sorted(chars):
        raise TokenizerError("the vocabulary must be distinct characters in sorted order")
    return chars


def unknown_character(text: str, stoi: dict[str, int]) -> TokenizerError:
    """The error for the first character of `text` that `stoi` lacks: which one, and where."""
    position, ch = next((i, ch) for i, ch in enumerate(text) if ch not in stoi)
    return TokenizerError(
        f"character {ch!r} (U+{ord(ch):04X}) at position {position} is not in this tokenizer's "
        f"vocabulary of {len(stoi)} characters: remove it from the text, or build the tokenizer "
        "from a text that has it"
    )


class CharTokenizer:
    """One token per distinct character of the text it was built from, in sorted order."""

    name = "char"

    def __init__(self, chars: str | list[str]):
        self.chars = distinct_and_sorted(chars)  # the vocabulary: each character once, in order
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}  # string to integer
        self.itos = dict(enumerate(self.chars))  # integer to string

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))  # every character the text uses

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text -> one id per character; a character outside the vocabulary is a TokenizerError."""
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            raise unknown_character(text, self.stoi) from None

    def decode(self, ids: list[int]) -> str:
        """Ids -> the text they stand for; an id outside the vocabulary is a TokenizerError."""
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

    name = "gpt2-full"

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


class CompactGPT2Tokenizer:
    """GPT-2's byte-pair encoding over only the tokens a corpus uses, renumbered 0..n-1.

    Tiny Shakespeare uses 11,706 of GPT-2's 50,257 tokens: a model over these needs a token table
    and an output layer a quarter the size, and trains that much faster on a CPU. Text is split
    exactly as GPT-2 splits it; ids are GPT-2's, mapped (in GPT-2's order) to compact ones, and
    decoding maps them back through tiktoken. Text with a token the corpus never uses cannot be
    encoded: TokenizerError names it (GPT2Tokenizer, "gpt2-full", has every token).
    """

    name = "gpt2"

    def __init__(self, gpt2_ids: Sequence[int]):
        self.gpt2 = GPT2Tokenizer()
        gpt2_ids = [int(i) for i in gpt2_ids]
        if not gpt2_ids:
            raise TokenizerError("a compact GPT-2 tokenizer needs at least one token")
        if gpt2_ids != sorted(set(gpt2_ids)) or not 0 <= gpt2_ids[0] <= gpt2_ids[-1] < self.gpt2.vocab_size:
            raise TokenizerError(
                "the vocabulary must be distinct GPT-2 token ids "
                f"(0..{self.gpt2.vocab_size - 1}) in sorted order"
            )
        self.gpt2_ids = gpt2_ids  # compact id i stands for GPT-2 token gpt2_ids[i]
        self._compact = [-1] * self.gpt2.vocab_size  # GPT-2 id -> compact id, -1 where unused
        for compact, gpt2 in enumerate(gpt2_ids):
            self._compact[gpt2] = compact

    @classmethod
    def from_text(cls, text: str) -> CompactGPT2Tokenizer:
        """The tokens `text` uses. load_corpus builds it from the whole corpus, as CharTokenizer's
        characters: on Tiny Shakespeare, a map from the training split alone (11,265 tokens) could not
        encode 441 of the val split's tokens (706 of its 33,803). The model never sees those as
        targets, so their rows only cost it: val loss pays in full for each of them.
        """
        gpt2 = GPT2Tokenizer()
        return cls(sorted(set(gpt2.encode(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.gpt2_ids)

    def encode(self, text: str) -> list[int]:
        ids = [self._compact[i] for i in self.gpt2.encode(text)]
        if min(ids, default=0) < 0:
            position = ids.index(-1)
            gpt2_id = self.gpt2.encode(text)[position]
            piece = self.gpt2.token_strings([gpt2_id])[0]
            raise TokenizerError(
                f"GPT-2 token {piece!r} (id {gpt2_id}, token {position} of the text) is not among the "
                f"{self.vocab_size:,} tokens of this tokenizer's corpus: leave it out of the prompt, "
                "or train with --tokenizer gpt2-full (all 50,257 GPT-2 tokens)"
            )
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.gpt2.decode(self._to_gpt2(ids))

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's own text (a piece of a character where BPE splits one)."""
        return self.gpt2.token_strings(self._to_gpt2(ids))

    def _to_gpt2(self, ids: list[int]) -> list[int]:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise TokenizerError(f"token id {bad[0]} is outside the vocabulary (0..{self.vocab_size - 1})")
        return [self.gpt2_ids[i] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gpt2-compact", "gpt2_ids": list(self.gpt2_ids)}

    def __repr__(self) -> str:
        return f"CompactGPT2Tokenizer(vocab_size={self.vocab_size})"


# The command line's --tokenizer: gpt2 is the compact map; gpt2-full keeps all 50,257 GPT-2 tokens.
TOKENIZERS = ("char", "gpt2", "gpt2-full")


def get_tokenizer(name: str, text: str | None = None) -> Tokenizer:
    """'char' or 'gpt2' (both built from `text`: its characters, the GPT-2 tokens it uses) or 'gpt2-full'."""
    if name in ("char", "gpt2"):
        if text is None:
            raise TokenizerError(f"a {name} tokenizer is built from a text: pass text=")
        return CharTokenizer.from_text(text) if name == "char" else CompactGPT2Tokenizer.from_text(text)
    if name == "gpt2-full":
        return GPT2Tokenizer()
    raise TokenizerError(f"unknown tokenizer {name!r}: choose one of {', '.join(TOKENIZERS)}")


def tokenizer_from_dict(values: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_dict()`, as stored in a checkpoint."""
    kind = values.get("kind")
    if kind == "char":
        return CharTokenizer(list(values["chars"]))
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "gpt2-compact":
        return CompactGPT2Tokenizer(values["gpt2_ids"])
    raise TokenizerError(f"unknown tokenizer kind {kind!r} (expected char, gpt2 or gpt2-compact)")


def encode_corpus(text: str, tokenizer: Tokenizer) -> torch.Tensor:
    """The whole text as one contiguous tensor of token ids."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def characters_per_token(tokenizer: Tokenizer, tokens: torch.Tensor) -> float:
    """How many characters of text `tokens` decode to, per token: a loss per token divided by it is a
    loss per character, the unit every tokenizer shares. Measure it on the split the loss is of:
    Tiny Shakespeare's val split packs 3.08 characters into a GPT-2 token, the whole text 3.30."""
    return len(tokenizer.decode(tokens.tolist())) / len(tokens)


def token_labels(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    """Readable labels for plots: each token's text with spaces and newlines made visible."""
    return [visible(piece) for piece in tokenizer.token_strings(ids)]


def visible(piece: str) -> str:
    """'␣' for a space, '⏎' for a newline, '⇥' for a tab: so a plot's labels show them."""
    return piece.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"
