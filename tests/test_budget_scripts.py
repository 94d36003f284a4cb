"""The tokenizer race script: it finds its markers and writes what it measured."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    sys.path.insert(0, str(ROOT / "scripts"))  # as when run from the command line
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


@pytest.fixture(scope="module")
def race():
    return load_script("tokenizer_race")


def entry(race, name, val_per_token, chars_per_token):
    return race.Entry(name, 65, 410_368, 4_000, 30_000.0, val_per_token, chars_per_token, "b\n", "\na")


def test_the_race_table_gives_the_loss_per_character(race):
    entries = [entry(race, "char", 1.5, 1.0), entry(race, "gpt2", 4.2, 3.0)]
    table = race.table(entries).splitlines()
    assert table[0].startswith("| tokenizer | vocab | parameters | steps | tokens/s | val per token")
    assert (
        "| characters (`--tokenizer char`) | 65 | 410,368 | 4,000 | 30,000 | 1.5000 | 1.000 | 1.5000 |"
        in table
    )
    assert table[3].endswith("| 4.2000 | 3.000 | 1.4000 |")
    samples = race.samples(entries)
    assert (
        samples.count("```") == 8 and "**GPT-2 tokens, compact, after training:**\n\n```\na\n```" in samples
    )
    block = race.readme_block(entries, 5, "python scripts/tokenizer_race.py", 1337)
    assert (
        "`budget` for characters (dropout 0, weight decay 0.6); `budget-gpt2` for GPT-2 tokens, compact "
        "(dropout 0.1 but none on the attention weights, weight decay 1)" in block
    ), "each contestant's preset, as `train --minutes 5` takes it for its tokenizer, and its regularisation"


def test_the_race_writes_between_the_readmes_markers(race, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- tokenizer-race:start -->\n| tokenizer |" in readme, "the README holds the race's table"
    copy = tmp_path / "README.md"
    copy.write_text(readme, encoding="utf-8")
    assert race.write_readme(copy, "| the table |\n")
    start, end = "<!-- tokenizer-race:start -->\n", "<!-- tokenizer-race:end -->"
    before, rest = readme.split(start)
    after = rest.split(end)[1]
    assert copy.read_text(encoding="utf-8") == before + start + "| the table |\n" + end + after
    other = tmp_path / "other.md"
    other.write_text("no markers\n", encoding="utf-8")
    assert not race.write_readme(other, "x") and other.read_text(encoding="utf-8") == "no markers\n"
