"""The README and docs/: a short front page for learners, reference pages that say what is true now,
numbers that come from a script or a saved notebook, and shipped text that speaks of what the
software does, never of how it was made."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
README_MAX_LINES = 200
COURSE_TABLE_BY_LINE = 60


def load_script(name: str):
    """A script of scripts/ as a module, importable as it is when run (they import each other)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the README: short, and the course first -------------------------------------------------------


def test_the_readme_is_short_and_its_course_table_comes_early():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: at most {README_MAX_LINES}"
    course = [i for i, line in enumerate(lines, 1) if line.startswith("| notebook |")]
    assert course, "README.md has no course table (a header row starting '| notebook |')"
    assert course[0] <= COURSE_TABLE_BY_LINE, (
        f"the course table starts at line {course[0]}: bring it within the first {COURSE_TABLE_BY_LINE}"
    )
    start = next(i for i, line in enumerate(lines, 1) if line == "<!-- course-map:start -->")
    assert start < course[0], "the course table sits inside the course-map block run_notebooks.py rewrites"


# Blocks that scripts write, and the run-time spans of the course table: their numbers are measured.
SCRIPT_BLOCKS = re.compile(r"<!-- (ladder|ablations):start -->.*?<!-- \1:end -->", re.DOTALL)
SCRIPT_SPANS = re.compile(r"<!-- (runtime|runtime-machine) -->.*?<!-- /\1 -->", re.DOTALL)
MEASURED = re.compile(
    r"(?<![\w.])(?<!Python )(?<!torch )\d+\.\d{2,}(?![\w.])"  # a loss or a ratio: 1.8361 (not a version)
    r"|\d[\d,]*(?:\.\d+)?\s*(?:tokens/s|tok/s|steps/s|it/s|GFLOP/s|TFLOP/s)"  # a rate
    r"|(?<![\w.])\d+(?:\.\d+)?x\b"  # a speed-up: 10.1x
    r"|\d+(?:\.\d+)?\s?%"  # a share: 41%
    r"|(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\d,])"  # a count: 3,855 steps
)


def hand_typed_figures(text: str) -> list[str]:
    """Measured-looking figures outside the blocks scripts write, except where another's are quoted."""
    prose = SCRIPT_SPANS.sub("", SCRIPT_BLOCKS.sub("", text))
    found = []
    for sentence in re.split(r"(?<=[.;:])\s+|\|", re.sub(r"\s*\n\s*", " ", prose)):
        if not re.search(r"lecture|nanoGPT", sentence):  # "the lecture reports about 1.48"
            found.extend(match[0] for match in MEASURED.finditer(sentence))
    return found


def test_every_figure_in_the_readme_is_written_by_a_script():
    typed = hand_typed_figures(README.read_text(encoding="utf-8"))
    assert not typed, (
        f"README.md types {typed} by hand: let a script write it between markers, copy it from a "
        "saved notebook, or move it to docs/"
    )


def test_the_figure_check_sees_a_typed_figure_and_lets_the_blocks_and_quotes_pass():
    assert hand_typed_figures("It reaches 1.8361 in 12.8 s.") == ["1.8361"]
    assert hand_typed_figures("Muon runs at 47,889 tokens/s, 0.30x the time, 41% MFU.") == [
        "47,889 tokens/s",
        "0.30x",
        "41%",
    ]
    block = "<!-- ladder:start -->\n| 2.4835 |\n<!-- ladder:end -->\n<!-- runtime -->~2 s<!-- /runtime -->"
    assert hand_typed_figures(block + "\nPython 3.11 and torch 2.13.0.") == []
    assert hand_typed_figures("The lecture reports about 1.48 after 5,000 steps.") == []


# --- the README's ablation table is notebook 08's saved output ---------------------------------------


@pytest.fixture(scope="module")
def ablations():
    return load_script("experiments_readme")


def test_the_readme_ablation_block_is_notebook_08s_saved_output(ablations):
    readme = README.read_text(encoding="utf-8")
    saved = notebook(ablations.NOTEBOOK)
    table, printed = ablations.saved_outputs(saved)
    assert table.startswith("| variant |") and "no positions" in table
    assert ablations.rewrite(readme, saved) == readme, (
        "README.md's ablations block differs from notebook 08's saved output: run "
        "python scripts/experiments_readme.py"
    )
    assert table in readme and printed in readme


def synthetic_notebook(table: str, printed: str) -> dict:
    def code(source: str, outputs: list) -> dict:
        return {"cell_type": "code", "source": source, "outputs": outputs, "metadata": {}}

    return {
        "cells": [
            {"cell_type": "markdown", "source": "| variant | typed in prose |", "metadata": {}},
            code("display(Markdown(ex.ablation_table(runs)))", [
                {"output_type": "display_data", "data": {"text/plain": "<Markdown>", "text/markdown": table}},
            ]),
            code("display(Markdown(ex.ablation_table(mine)))", [
                {"output_type": "display_data", "data": {"text/markdown": "| variant | mine |\n| --- |"}},
            ]),
            code("changes = ex.phase_change(induction)", [
                {"output_type": "stream", "name": "stdout", "text": printed.splitlines(keepends=True)},
            ]),
        ]
    }  # fmt: skip


def test_the_ablation_writer_copies_the_first_saved_table_into_its_block_only(ablations):
    saved = synthetic_notebook(
        "| variant | val loss |\n| --- | ---: |\n| RoPE | 2.105 |", "step 300\nstep 325\n"
    )
    readme = "# R\n\nbefore\n<!-- ablations:start -->\nold\n<!-- ablations:end -->\nafter\n"
    new = ablations.rewrite(readme, saved)
    block = new.split("<!-- ablations:start -->\n")[1].split("<!-- ablations:end -->")[0]
    assert block.startswith("| variant | val loss |\n| --- | ---: |\n| RoPE | 2.105 |\n\n")
    assert "| variant | mine |" not in block, "the notebook's first table, not the learner's own rows"
    assert "```\nstep 300\nstep 325\n```" in block
    assert new.replace(block, "old\n") == readme, "nothing outside the markers changes"
    with pytest.raises(ValueError, match="found 0"):
        ablations.rewrite("no markers\n", saved)
    with pytest.raises(ValueError, match="no saved Markdown table"):
        ablations.saved_outputs({"cells": []})


def test_run_notebooks_refreshes_the_ablations_from_the_notebook_the_writer_reads(ablations):
    runner = load_script("run_notebooks")
    assert (ROOT / "notebooks" / f"{runner.ABLATIONS_NOTEBOOK}.ipynb") == ablations.NOTEBOOK
    assert ablations.NOTEBOOK.is_file()


# --- the other blocks scripts write --------------------------------------------------------------------


def test_the_readme_ladder_is_the_table_of_docs_ladder_md():
    ladder = load_script("ladder")
    block = ladder.README_BLOCK.search(README.read_text(encoding="utf-8"))
    assert block, "README.md has no <!-- ladder:start --> block for scripts/ladder.py"
    table = block[0].removeprefix(block[1]).split("\n\n")[0]  # the table, then the settings line
    assert table.startswith("| stage |") and table in (ROOT / "docs" / "ladder.md").read_text(
        encoding="utf-8"
    )


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
    block = race.race_block(entries, 5, "python scripts/tokenizer_race.py", 1337)
    assert (
        "`budget` for characters (dropout 0, weight decay 0.6); `budget-gpt2` for GPT-2 tokens, compact "
        "(dropout 0.1 but none on the attention weights, weight decay 1)" in block
    ), "each contestant's preset, as `train --minutes 5` takes it for its tokenizer, and its regularisation"


def test_the_race_writes_between_the_markers_of_docs_benchmarks_md(race, tmp_path):
    assert race.DOC == ROOT / "docs" / "benchmarks.md"
    doc = race.DOC.read_text(encoding="utf-8")
    assert "<!-- tokenizer-race:start -->\n| tokenizer |" in doc, "docs/benchmarks.md holds the race's table"
    assert "tokenizer-race:start" not in README.read_text(encoding="utf-8"), "the race lives in docs/"
    copy = tmp_path / "benchmarks.md"
    copy.write_text(doc, encoding="utf-8")
    assert race.write_block(copy, "| the table |\n")
    start, end = "<!-- tokenizer-race:start -->\n", "<!-- tokenizer-race:end -->"
    before, rest = doc.split(start)
    after = rest.split(end)[1]
    assert copy.read_text(encoding="utf-8") == before + start + "| the table |\n" + end + after
    other = tmp_path / "other.md"
    other.write_text("no markers\n", encoding="utf-8")
    assert not race.write_block(other, "x") and other.read_text(encoding="utf-8") == "no markers\n"


# --- links, and docs/testing.md's table of the cells nbval does not compare ----------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_lead_to_files_that_exist(page):
    missing = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http:", "https:", "mailto:", "#")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links files that do not exist: {missing}"


def test_docs_testing_md_names_every_notebook_with_cells_nbval_does_not_compare():
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = text.split("### The cells nbval does not compare")[1].split("\n## ")[0]
    rows = set(re.findall(r"^\| (\d\d) \|", section, re.MULTILINE))
    tagged = {
        path.name[:2]
        for path in NOTEBOOKS
        if any(
            "nbval-ignore-output" in c.get("metadata", {}).get("tags", []) for c in notebook(path)["cells"]
        )
    }
    assert rows == tagged, (
        f"docs/testing.md's table names notebooks {sorted(rows)}; the notebooks with nbval-ignore-output "
        f"cells are {sorted(tagged)}"
    )
    table = [line for line in section.splitlines() if line.startswith("|")]
    first = section.splitlines().index(table[0])
    assert section.splitlines()[first : first + len(table)] == table, "no blank line splits the table"


NBVAL_TALK = re.compile(r"\bnbval\b|nbval-ignore-output|\btagged\b", re.IGNORECASE)


def prose(cell: dict) -> str:
    """What a learner reads as prose: a markdown cell, or a code cell's comments."""
    source = "".join(cell["source"])
    if cell["cell_type"] == "markdown":
        return source
    return "\n".join(line.partition("#")[2] for line in source.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prose_leaves_nbval_and_its_tags_to_docs_testing_md(path):
    talk = [
        f"cell {n}: {match[0]!r}"
        for n, cell in enumerate(notebook(path)["cells"])
        for match in NBVAL_TALK.finditer(prose(cell))
    ]
    assert not talk, (
        f"{path.name} speaks of nbval and its tags ({', '.join(talk)}): docs/testing.md says which cells "
        "are not compared and why; where a number depends on the learner's CPU, say that in plain words"
    )


# --- no development history in shipped text --------------------------------------------------------------

# How the project was made is not a user's concern: what the software does and what it measured
# (with machine and date) is. Each pattern is written so that this file does not match itself, and
# matches across a line break too (\s+).
HISTORY = re.compile(
    "|".join(
        [
            r"\bsessions?\b",
            r"\brounds?\s+\d",
            r"\bissues?\s+#?\d",
            r"\bissue\s+brief\b",
            r"\bthe\s+issue(?:'s)?\b",
            r"\bthis\s+hour\b",
            r"\b(?:fast|faster|slow|slower|slowest|quiet|quieter)\s+hours?\b",
            r"\bin\s+our\s+runs\b",
            r"\bruns?\s+we\s+(?:made|measured)\b",
            r"\bwe\s+(?:measured|found|tried)\b",
            r"\b(?:on|of)\s+the\s+xeon\b",
            r"\bnot\s+yet\s+(?:measured|tested)\b",
            r"\bseed\s+000\b",
        ]
    ),
    re.IGNORECASE,
)
# Legitimate uses of the same words, blanked out before a text is searched.
ALLOWED = (
    'scope="session"',  # pytest's fixture scope
    "start_new_session",  # subprocess: a process group and terminal of its own (POSIX)
    "POSIX sessions",
    "a session of its own",
    "of their own session",
    "sessionContext.session",  # JupyterLab's API
    "scripturefalse session avail",  # an untrained GPT-2 model's sample in the tokenizer race
    "The issue of you and your grace",  # a trained one's
)
SHIPPED = {
    "README.md": ["README.md"],
    "docs": sorted(str(p.relative_to(ROOT)) for p in DOCS),
    "scripts": sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scripts").iterdir() if p.is_file()),
    "src": sorted(str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py")),
    "tests": sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").iterdir() if p.is_file()),
    "notebooks": sorted(str(p.relative_to(ROOT)) for p in NOTEBOOKS),
    "build": ["Makefile", "pyproject.toml", "conftest.py", "environment.yml", ".ci/run"],
}


def shipped_texts(relative: str) -> list[tuple[str, str]]:
    """(where, text) for what a reader sees: the file, or each cell's source and outputs of a notebook."""
    path = ROOT / relative
    if path.suffix != ".ipynb":
        return [(relative, path.read_text(encoding="utf-8"))]
    texts = []
    for n, cell in enumerate(notebook(path)["cells"]):
        texts.append((f"{relative}, cell {n}", "".join(cell["source"])))
        for output in cell.get("outputs", []):
            shown = ["".join(output.get("text", ""))]
            shown += ["".join(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
            texts.append((f"{relative}, cell {n}'s output", "\n".join(shown)))
    return texts


def history_words(relative: str) -> list[str]:
    """Each development-history word of a shipped file, as 'where:line: word'."""
    hits = []
    for where, text in shipped_texts(relative):
        for phrase in ALLOWED:
            text = text.replace(phrase, " " * len(phrase))
        for match in HISTORY.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            hits.append(f"{where}:{line}: {' '.join(match[0].split())!r}")
    return hits


@pytest.mark.parametrize("area", SHIPPED)
def test_no_shipped_text_speaks_of_how_the_project_was_made(area):
    hits = [hit for relative in SHIPPED[area] for hit in history_words(relative)]
    assert not hits, f"{len(hits)} development-history words in {area}:\n" + "\n".join(hits)


def test_the_history_check_finds_the_words_and_passes_their_legitimate_uses(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "Since ses"
        "sion 9 the preset\nroun"
        "d 12 chose it\nas iss"
        "ue 18 asks\nin a fast\nhour\n"
        'fixture(scope="session")\nthe rounds of a tournament\nat issue here\n',
        encoding="utf-8",
    )
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    hits = history_words("page.md")
    assert [hit.split(":")[1] for hit in hits] == ["1", "2", "3", "4"], hits
