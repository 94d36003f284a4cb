"""Two small tasks for the models beyond the decoder, and the loop that trains them.

- Who speaks? Tiny Shakespeare's speeches ("NAME:" then lines, up to a blank line), labelled with
  their speaker: a sequence classification task that the text itself provides.
- Reverse a string: random letters in, the same letters backwards out. The alignment is known
  (target position t copies source position n-1-t), so we can see whether cross-attention found it.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.tokenizers import CharTokenizer, Tokenizer
from ..errors import DataError
from ..nn.attention import key_padding_mask
from ..nn.base import evaluating
from ..nn.encoder import EncoderConfig, EncoderDecoder
from ..training.config import TrainConfig
from ..training.history import History
from ..training.trainer import Trainer

SPEECH = re.compile(r"([A-Za-z][^\n:]*):\n(.+)", re.DOTALL)  # "NAME:" on its own line, then the speech


class Speech(NamedTuple):
    speaker: str
    text: str


def speeches(text: str) -> list[Speech]:
    """Every speech of a play text, in order: blocks separated by a blank line, "NAME:\\n" first."""
    found = []
    for block in text.split("\n\n"):
        match = SPEECH.fullmatch(block.strip("\n"))
        if match:
            found.append(Speech(match[1], match[2]))
    return found


class Batch(NamedTuple):
    """Padded token ids (B, T), one label per row, the padding mask (True: a real token).

    In the order of EncoderClassifier.forward's arguments: `model(*batch)` gives (logits, loss).
    """

    idx: torch.Tensor
    labels: torch.Tensor
    padding_mask: torch.Tensor


class Pairs(NamedTuple):
    """Sources (B, Ts) and targets for an EncoderDecoder, in the order of its forward's arguments."""

    src: torch.Tensor  # (B, Ts) padded with the pad token
    tgt_in: torch.Tensor  # (B, Tt) the start token, then the target, padded
    targets: torch.Tensor  # (B, Tt) the target, then the stop token, then -100 (skipped by the loss)
    src_padding_mask: torch.Tensor  # (B, Ts) True for the source's real tokens


def pad(rows: Sequence[Sequence[int]], pad_id: int, length: int | None = None) -> torch.Tensor:
    """Rows of ids, each padded at the end with pad_id to `length` (default: the longest row)."""
    length = length or max(len(row) for row in rows)
    return torch.tensor([list(row) + [pad_id] * (length - len(row)) for row in rows], dtype=torch.long)


class SubsetTokenizer:
    """Another tokenizer's tokens, renumbered to only those a text uses: 0 pads, 1 is any other token.

    A classifier trained on a few hundred speeches sees a few thousand of GPT-2's 50,257 tokens: its
    embedding table needs only those, and a token it never saw in training reads as "unknown".
    """

    PAD, UNKNOWN = 0, 1

    def __init__(self, base: Tokenizer, texts: Sequence[str]):
        self.base = base
        self.kept = sorted({i for text in texts for i in base.encode(text)})  # base ids, in order
        self.new_id = {old: new for new, old in enumerate(self.kept, start=2)}
        self.name = f"{base.name}-subset"

    @property
    def vocab_size(self) -> int:
        return len(self.kept) + 2

    def encode(self, text: str) -> list[int]:
        return [self.new_id.get(i, self.UNKNOWN) for i in self.base.encode(text)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.token_strings(ids))

    def token_strings(self, ids: list[int]) -> list[str]:
        """Each token's text; "" for padding, "<unk>" for a token outside the subset."""
        special = {self.PAD: "", self.UNKNOWN: "<unk>"}
        return [
            special[i] if i in special else self.base.token_strings([self.kept[i - 2]])[0]
            for i in map(int, ids)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "base": self.base.to_dict(), "kept": self.kept}

    def __repr__(self) -> str:
        return f"SubsetTokenizer({self.base!r}, vocab_size={self.vocab_size})"


@dataclass
class SpeakerTask:
    """Speeches of the `speakers`, labelled 0..k-1, split into train and test by speech."""

    speakers: list[str]
    tokenizer: SubsetTokenizer  # the training speeches' tokens; 0 pads
    train: list[tuple[list[int], int]]  # (token ids, label) per speech
    test: list[tuple[list[int], int]]
    max_len: int

    def batch(self, examples: Sequence[tuple[list[int], int]]) -> Batch:
        idx = pad([ids for ids, _ in examples], SubsetTokenizer.PAD, self.max_len)
        lengths = torch.tensor([len(ids) for ids, _ in examples])
        labels = torch.tensor([y for _, y in examples])
        return Batch(idx, labels, key_padding_mask(lengths, self.max_len))

    def sampler(self, batch_size: int, seed: int) -> Callable[[], Batch]:
        """A function that returns a fresh random training batch each call (seeded)."""
        rng = random.Random(seed)
        return lambda: self.batch(rng.choices(self.train, k=batch_size))

    def majority_baseline(self) -> float:
        """Test accuracy of always answering the speaker most frequent in the training set."""
        most = collections.Counter(y for _, y in self.train).most_common(1)[0][0]
        return sum(y == most for _, y in self.test) / len(self.test)


def speaker_task(
    text: str,
    tokenizer: Tokenizer,
    n_speakers: int = 4,
    max_len: int = 64,
    test_fraction: float = 0.2,
    seed: int = 1337,
) -> SpeakerTask:
    """Who says this speech? The n_speakers with the most speeches; each speech's first max_len
    tokens; a seeded split by speech (a speech is wholly train or wholly test). The tokens are
    `tokenizer`'s, renumbered to those of the training speeches (SubsetTokenizer)."""
    every = speeches(text)
    counts = collections.Counter(s.speaker for s in every)
    if len(counts) < n_speakers:
        raise DataError(f"the text has {len(counts)} speakers, fewer than n_speakers={n_speakers}")
    speakers = [name for name, _ in counts.most_common(n_speakers)]
    label = {name: i for i, name in enumerate(speakers)}
    chosen = [s for s in every if s.speaker in label]
    random.Random(seed).shuffle(chosen)
    n_test = max(1, round(test_fraction * len(chosen)))
    test, train = chosen[:n_test], chosen[n_test:]
    subset = SubsetTokenizer(tokenizer, [s.text for s in train])

    def encoded(part: list[Speech]) -> list[tuple[list[int], int]]:
        return [(subset.encode(s.text)[:max_len], label[s.speaker]) for s in part]

    return SpeakerTask(speakers, subset, encoded(train), encoded(test), max_len)


class ReversalTask:
    """Strings of lowercase letters, lengths min_len..max_len, to be written backwards.

    One vocabulary for source and target: "<" starts the target, ">" ends it, "_" pads.
    A fixed test set of n_test strings is never drawn for training.
    """

    START, STOP, PAD = "<", ">", "_"

    def __init__(self, min_len: int = 4, max_len: int = 10, n_test: int = 500, seed: int = 0):
        self.min_len, self.max_len = min_len, max_len
        self.tokenizer = CharTokenizer.from_text("<>_abcdefghijklmnopqrstuvwxyz")
        self.start_id, self.stop_id, self.pad_id = (self.tokenizer.stoi[c] for c in "<>_")
        rng = random.Random(seed)
        test: set[str] = set()
        while len(test) < n_test:
            test.add(self._random_string(rng))
        self.test = sorted(test)
        self._held_out = test

    def _random_string(self, rng: random.Random) -> str:
        length = rng.randint(self.min_len, self.max_len)
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))

    def examples(self, strings: Sequence[str]) -> Pairs:
        """src (B, max_len) and its padding mask; tgt_in = "<" + reversed and targets = reversed + ">",
        (B, max_len + 1)."""
        encode = self.tokenizer.encode
        src = pad([encode(s) for s in strings], self.pad_id, self.max_len)
        mask = key_padding_mask(torch.tensor([len(s) for s in strings]), self.max_len)
        tgt_in = pad([encode(self.START + s[::-1]) for s in strings], self.pad_id, self.max_len + 1)
        targets = pad([encode(s[::-1] + self.STOP) for s in strings], -100, self.max_len + 1)
        return Pairs(src, tgt_in, targets, mask)

    def sampler(self, batch_size: int, seed: int) -> Callable[[], Pairs]:
        """A function that returns a fresh random training batch each call, never a test string."""
        rng = random.Random(seed)

        def draw() -> Pairs:
            strings: list[str] = []
            while len(strings) < batch_size:
                s = self._random_string(rng)
                if s not in self._held_out:
                    strings.append(s)
            return self.examples(strings)

        return draw

    @torch.no_grad()
    def write(self, model: EncoderDecoder, strings: Sequence[str]) -> list[str]:
        """What `model` (an EncoderDecoder) writes for each string, greedily, up to its stop token."""
        pairs = self.examples(strings)
        out = model.generate(
            pairs.src, self.start_id, self.max_len + 1, stop_id=self.stop_id,
            src_padding_mask=pairs.src_padding_mask,
        )  # fmt: skip
        return [self.tokenizer.decode(row.tolist()).split(self.STOP)[0] for row in out]


def reversal_recipe() -> tuple[ReversalTask, EncoderConfig, TrainConfig]:
    """Notebook 09's reversal task, model shape and training settings, in one place:
    scripts/draw_alignment.py trains the same seeded model for the README's picture.

    300 steps of 64 strings, measured on 2 CPU cores: 6 s idle, 130-165 s shared with other jobs;
    every one of the 500 held-out strings reversed right.
    """
    task = ReversalTask(min_len=4, max_len=10, n_test=500, seed=0)
    model_config = EncoderConfig(
        vocab_size=task.tokenizer.vocab_size, block_size=task.max_len + 2, n_embd=64, n_head=4, n_layer=2
    )  # block_size: the start token, up to 10 letters, the stop token
    train_config = TrainConfig(
        batch_size=64, max_iters=300, learning_rate=3e-3, warmup=50, min_lr=3e-4, weight_decay=0.0, seed=1337
    )
    return task, model_config, train_config


def fit(model: nn.Module, next_batch: Callable[[], tuple], config: TrainConfig) -> History:
    """Train `model` on the CPU for config.max_iters steps of `model(*next_batch())` -> (_, loss).

    The Trainer's loop (its optimizer, schedule and clipping), with next_batch as its batch source:
    any task whose model returns (output, loss) fits. No loss estimates: the tasks measure their own.
    """
    trainer = Trainer(model, lambda generator: tuple(next_batch()), dataclasses.replace(config, device="cpu"))
    history = trainer.run()
    model.eval()
    return history


@torch.no_grad()
def classification_accuracy(model: nn.Module, task: SpeakerTask, batch_size: int = 256) -> float:
    """The fraction of test speeches whose speaker the model names."""
    correct = 0
    with evaluating(model):
        for i in range(0, len(task.test), batch_size):
            batch = task.batch(task.test[i : i + batch_size])
            logits, _ = model(batch.idx, padding_mask=batch.padding_mask)
            correct += (logits.argmax(-1) == batch.labels).sum().item()
    return correct / len(task.test)


@torch.no_grad()
def exact_match(model: EncoderDecoder, task: ReversalTask, strings: Sequence[str] | None = None) -> float:
    """The fraction of strings (default: the held-out test set) the model reverses exactly (greedy)."""
    strings = task.test if strings is None else list(strings)
    written = task.write(model, strings)
    return sum(w == s[::-1] for w, s in zip(written, strings, strict=True)) / len(strings)
