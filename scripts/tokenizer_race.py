"""The tokenizer race: characters against GPT-2 tokens, the same wall time each, samples before and after.

    python scripts/tokenizer_race.py                      # 5 minutes each: about 11 minutes on 2 cores
    python scripts/tokenizer_race.py --minutes 1 --no-write
    python scripts/tokenizer_race.py --contestants char,gpt2,gpt2-full   # and all 50,257 GPT-2 tokens

Each contestant is the preset `train --minutes N` takes for its tokenizer (`budget` for characters;
`budget-gpt2`, the same made to overfit less, for GPT-2's tokens) over that tokenizer's vocabulary,
trained on Tiny Shakespeare for the same wall time (budget.TimeBudget, its evaluations included),
one after another, from the same seed. Before training and after it (from
the best checkpoint, as `train` samples) each writes a sample of about the same number of
characters. The table: parameters, tokens/s, the best model's loss over its whole val split per
token, the val split's characters per token, and their ratio, nats per character: the one loss
the tokenizers share. The table and the samples go to stdout and into docs/benchmarks.md between
`<!-- tokenizer-race:start -->` and `<!-- tokenizer-race:end -->`. Nothing in them is typed by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import attention_playground as ap
from attention_playground.data.corpus import corpus_of
from attention_playground.data.tokenizers import characters_per_token
from attention_playground.nn.sampling import sample_text
from attention_playground.tools.machine import describe_machine
from attention_playground.training.budget import train_for
from attention_playground.training.config import budget_preset_for
from attention_playground.training.lecture import whole_split_loss
from attention_playground.training.runtime.allocator import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"  # the race's table and samples live there
RACE_BLOCK = re.compile(r"(<!-- tokenizer-race:start -->\n).*?(<!-- tokenizer-race:end -->)", re.DOTALL)
TITLES = {"char": "characters", "gpt2": "GPT-2 tokens, compact", "gpt2-full": "GPT-2 tokens, all 50,257"}


@dataclass
class Entry:
    name: str  # char, gpt2 or gpt2-full
    vocab_size: int
    parameters: int
    steps: int
    tokens_per_second: float
    val_per_token: float  # the best checkpoint over the whole val split
    chars_per_token: float  # of the val split
    before: str  # a sample of the untrained model
    after: str  # and of the best checkpoint

    @property
    def val_per_char(self) -> float:
        return self.val_per_token / self.chars_per_token


def race(name: str, text: str, seconds: float, sample_chars: int, seed: int) -> Entry:
    """Train one contestant for `seconds` and sample it before and after."""
    _, tokenizer, splits = corpus_of(text, name)
    chars_per_token = characters_per_token(tokenizer, splits.val)  # of the split the loss is of
    sample_tokens = round(sample_chars / chars_per_token)  # about sample_chars characters for each
    preset = ap.get_preset(budget_preset_for(name))  # as `train --minutes N --tokenizer name` takes
    ap.set_seed(seed)
    model = ap.GPT(preset.model_config(tokenizer.vocab_size))
    before = sample_text(model, tokenizer, "\n", sample_tokens, 0.8, None, seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ckpt.pt"
        config = dataclasses.replace(preset.train, seed=seed, device="cpu")
        history = train_for(model, splits, config, seconds, tokenizer=tokenizer, checkpoint_path=path)
        best = ap.load_checkpoint(path).model
    windows = max(1, 2**24 // (best.block_size * tokenizer.vocab_size))  # 64 MB of logits at a time
    return Entry(
        name=name,
        vocab_size=tokenizer.vocab_size,
        parameters=model.num_params(),
        steps=len(history.step_losses),
        tokens_per_second=history.tokens_per_second,
        val_per_token=whole_split_loss(best, splits.val, best.block_size, windows=windows),
        chars_per_token=chars_per_token,
        before=before,
        after=sample_text(best, tokenizer, "\n", sample_tokens, 0.8, None, seed),
    )


def table(entries: list[Entry]) -> str:
    rows = [
        "| tokenizer | vocab | parameters | steps | tokens/s | val per token | characters per token "
        "| val per character |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in entries:
        rows.append(
            f"| {TITLES[e.name]} (`--tokenizer {e.name}`) | {e.vocab_size:,} | {e.parameters:,} "
            f"| {e.steps:,} | {e.tokens_per_second:,.0f} | {e.val_per_token:.4f} | {e.chars_per_token:.3f} "
            f"| {e.val_per_char:.4f} |"
        )
    return "\n".join(rows)


def samples(entries: list[Entry]) -> str:
    parts = []
    for e in entries:
        for when, text in (("untrained", e.before), ("after training", e.after)):
            parts.append(f"**{TITLES[e.name]}, {when}:**\n\n```\n{text.strip(chr(10))}\n```")
    return "\n\n".join(parts)


ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU", "relu_squared": "ReLU squared"}  # in the docs' words


def regularisation(preset_name: str) -> str:
    """A preset's dropout and weight decay, such as "dropout 0, weight decay 0.1"."""
    preset = ap.get_preset(preset_name)
    dropout = f"dropout {preset.model.dropout:g}"
    if preset.model.dropout and not preset.model.attention_dropout:
        dropout += " but none on the attention weights"
    return f"{dropout}, weight decay {preset.train.weight_decay:g}"


def contestant_presets(entries: list[Entry]) -> str:
    """Each contestant's preset and how it is regularised, such as
    "`budget` for characters (dropout 0, weight decay 0.1)", joined by semicolons."""
    parts = []
    for e in entries:
        name = budget_preset_for(e.name)
        parts.append(f"`{name}` for {TITLES[e.name]} ({regularisation(name)})")
    return "; ".join(parts)


def race_block(entries: list[Entry], minutes: float, command: str, seed: int) -> str:
    c = ap.get_preset("budget").model  # budget-gpt2's model differs in its dropout alone (tested)
    return (
        f"{table(entries)}\n\n"
        f"Written by `{command}`: each model trained {minutes:g} minutes of wall time (its evaluations "
        f"included), one after another, seed {seed}, with the preset `train --minutes {minutes:g}` takes "
        f"for its tokenizer: the `budget` preset's model ({c.n_layer} layers, "
        f"{c.n_head} heads, {c.n_embd} channels, block {c.block_size} tokens, "
        f"{'RoPE' if c.position == 'rope' else c.position} positions, "
        f"{ACTIVATION_NAMES.get(c.activation, c.activation)}, "
        f"output layer {'tied to' if c.tie_weights else 'apart from'} the token "
        f"table) and its training; {contestant_presets(entries)}. "
        "val per token: the best checkpoint over its whole val split (the last 10% of the tokens); "
        "val per character = val per token / that split's characters per token; tokens/s: tokens "
        "trained on over the wall time, evaluations included. Samples: 0.8 "
        f"temperature, about the same number of characters each. Measured on {describe_machine()}.\n\n"
        f"{samples(entries)}\n"
    )


def write_block(path: Path, block: str) -> bool:
    """Put `block` between the tokenizer-race markers of `path`; False where it has none."""
    old = path.read_text(encoding="utf-8")
    new, count = RACE_BLOCK.subn(lambda m: m[1] + block + m[2], old)
    if count:
        path.write_text(new, encoding="utf-8")
    return bool(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time per tokenizer (default 5)")
    parser.add_argument(
        "--contestants", default="char,gpt2", help="of char, gpt2, gpt2-full (default: char,gpt2)"
    )
    parser.add_argument("--sample-chars", type=int, default=600, help="about this many characters a sample")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--doc", default=str(DOC), help="the file whose race markers to write between")
    parser.add_argument("--no-write", action="store_true", help="print, write nothing")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as `train` does: large tensors reuse freed memory (allocator.py)
    names = args.contestants.split(",")
    if any(n not in TITLES for n in names) or not args.minutes > 0:
        parser.error(f"--contestants: choose among {', '.join(TITLES)}; --minutes must be positive")

    text = ap.load_text("tinyshakespeare")
    entries = []
    for name in names:
        entry = race(name, text, args.minutes * 60, args.sample_chars, args.seed)
        entries.append(entry)
        print(
            f"{name}: best val loss {entry.val_per_token:.4f} per token, {entry.val_per_char:.4f} per "
            f"character, {entry.tokens_per_second:,.0f} tokens/s, {entry.parameters:,} parameters",
            flush=True,
        )
    command = "python scripts/tokenizer_race.py" + "".join(
        f" {flag} {value}"
        for flag, value, default in (
            ("--minutes", f"{args.minutes:g}", "5"),
            ("--contestants", args.contestants, "char,gpt2"),
        )  # fmt: skip
        if value != default
    )
    block = race_block(entries, args.minutes, command, args.seed)
    print()
    print(block)
    if not args.no_write:
        doc = Path(args.doc)
        print(f"updated {doc.name}" if write_block(doc, block) else f"{doc} has no race markers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
