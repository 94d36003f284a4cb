"""Each notebook was saved after a clean run and is fit to publish: nbval relies on all of this."""

import ast
import functools
import importlib.util
import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\(Users|Windows)\\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*src=[\"']([^\"']+)")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def output_texts(cell: dict) -> list[str]:
    """The text a reader sees in a cell's outputs: streams, text/plain, text/html, tracebacks."""
    texts = []
    for output in cell["outputs"]:
        texts.append("".join(output.get("text", "")))
        for mime in ("text/plain", "text/html", "text/markdown"):
            texts.append("".join(output.get("data", {}).get(mime, "")))
        texts.extend(output.get("traceback", []))
    return texts


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_the_course_has_its_notebooks_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(len(names))]
    assert len(names) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_after_a_clean_run(path):
    nb = load(path)
    cells = code_cells(nb)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: run it top to bottom (scripts/run_notebooks.sh) before saving"
    )
    assert any(c["outputs"] for c in cells), f"{path.name} was saved without outputs"
    errors = [o for c in cells for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was saved with an error: {errors[0].get('ename')}"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_widget_state_and_no_absolute_paths(path):
    nb = load(path)
    assert "widgets" not in nb["metadata"], f"{path.name} holds widget state in its metadata"
    for i, cell in enumerate(code_cells(nb)):
        text = "".join(output_texts(cell))
        match = ABSOLUTE_PATH.search(text)
        assert not match, f"{path.name}, code cell {i + 1}: an absolute path in its output ({match[0]}…)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_images_are_local_files_that_exist(path):
    nb = load(path)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for match in IMAGE_LINK.finditer("".join(cell["source"])):
            link = match[1] or match[2]
            assert not link.startswith(("http:", "https:", "//")), f"{path.name}: remote image {link}"
            target = (path.parent / link).resolve()
            assert target.is_file(), f"{path.name} links {link}, which does not exist"
            assert target.parent == ROOT / "images", f"{path.name}: images live in images/, not {link}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_what_it_builds_and_the_lectures(path):
    first = load(path)["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown"
    assert "youtube.com/watch?v=kCc8FmEb1nY" in text, f"{path.name}: link Karpathy's lecture"
    assert "fEVyfT-gLqQ" in text, f"{path.name}: link Canziani's class"


# --- magics and shell escapes: nbval lets an unknown %magic pass, so these are checked statically ---

# Shell commands depend on the learner's OS and shell, and installers change the environment the tests
# pin: neither belongs in a course cell, whichever IPython spelling runs them.
SHELL_LINE_MAGICS = {"system", "sx", "sc", "alias", "rehashx", "pip", "conda", "mamba", "micromamba", "uv"}
OTHER_PROGRAMS = {"bash", "sh", "script", "perl", "ruby", "pypy", "python2", "python3"}  # %%bash etc.
SHELL_CELL_MAGICS = {"!", "system", "sx"} | OTHER_PROGRAMS


# IPython's own list, from a fresh shell in a child process: a shell in this one would put
# __IPYTHON__ and display() into builtins and replace __main__ for every test that runs after it.
LIST_MAGICS = """
import json
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config()
config.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=config)
magics = shell.magics_manager.lsmagic()
aliases = [name for name, _ in shell.alias_manager.aliases]
print(json.dumps({"line": sorted(magics["line"]), "cell": sorted(magics["cell"]), "aliases": aliases}))
"""


@functools.cache
def ipython_magics() -> dict[str, frozenset[str]]:
    """What %lsmagic prints in a fresh IPython, split into the magics allowed and the shell ones."""
    found = json.loads(
        subprocess.run([sys.executable, "-c", LIST_MAGICS], capture_output=True, check=True).stdout
    )
    aliases = set(found["aliases"])  # %ls, %cp, %rm, ...: shell commands
    return {
        "line": frozenset(found["line"]) - aliases - SHELL_LINE_MAGICS,
        "cell": frozenset(found["cell"]) - SHELL_CELL_MAGICS,
        "shell": frozenset(aliases | SHELL_LINE_MAGICS | SHELL_CELL_MAGICS),
    }


def ipython_calls(source: str) -> list[tuple[str, str]]:
    """Each magic and shell escape of a code cell, as ("line" | "cell" | "shell", name).

    IPython's own input transformer turns `%name`, `%%name`, `!cmd`, `x = !cmd` and `obj?` into calls
    such as get_ipython().run_line_magic("name", ...), so a `%` inside a string or after an operand
    is not mistaken for one.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    calls = []
    for node in ast.walk(ast.parse(TransformerManager().transform_cell(source))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        if not (isinstance(receiver, ast.Call) and getattr(receiver.func, "id", None) == "get_ipython"):
            continue
        if node.func.attr in ("system", "getoutput"):
            calls.append(("shell", ast.unparse(node.args[0]) if node.args else ""))
        elif node.func.attr in ("run_line_magic", "run_cell_magic"):
            calls.append((node.func.attr.split("_")[1], ast.literal_eval(node.args[0])))
    return calls


def magic_problems(source: str) -> list[str]:
    """What is wrong with a code cell's magics: unknown to IPython, or running a shell command."""
    magics = ipython_magics()
    problems = []
    for kind, name in ipython_calls(source):
        shown = {"line": f"%{name}", "cell": f"%%{name}", "shell": f"!{name}"}[kind]
        if kind == "shell" or name in magics["shell"]:
            problems.append(f"{shown} runs a shell command or an installer: not in a course cell")
        elif name not in magics[kind]:
            problems.append(f"{shown} is not a {kind} magic IPython knows")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_use_only_known_magics_and_no_shell(path):
    for i, cell in enumerate(code_cells(load(path))):
        problems = magic_problems("".join(cell["source"]))
        assert not problems, f"{path.name}, code cell {i + 1}: {'; '.join(problems)}"


def test_the_magic_check_catches_an_unknown_magic_and_a_shell_escape():
    assert magic_problems("%timeit sum(range(10))\nx = 3 % 2\nlen?") == []
    assert magic_problems("%%time\nx = 1") == []
    assert magic_problems("%matplotlib inline") == []
    assert magic_problems("s = '''\n%not_a_magic\n!not_a_shell\n'''") == []  # inside a string
    assert magic_problems("%timit sum(range(10))") == ["%timit is not a line magic IPython knows"]
    assert magic_problems("x = 1\n%%time\nx") != []  # a cell magic below the first line: not one at all
    assert magic_problems("%%timeit_all\nx = 1") == ["%%timeit_all is not a cell magic IPython knows"]
    for shell in (
        "!ls",
        "files = !ls",
        "!!ls",
        "if True:\n    !echo hi",
        "%ls",
        "%pip install torch",
        "%%bash\nls",
    ):
        problems = magic_problems(shell)
        assert len(problems) == 1 and "shell command" in problems[0], (shell, problems)


# --- run times: measured by scripts/run_notebooks.sh, never typed by hand ---


def load_runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = load_runner()
README = ROOT / "README.md"
# A duration: "8 seconds", "~30 s", "0.3 s a step", "2-3 minutes", "a few seconds", "about a minute"
DURATION = re.compile(
    r"(?<![\w=&/])\d[\d,.]*\s*(?:(?:-|–|to)\s*\d[\d,.]*\s*)?(?:s|secs?|seconds?|mins?|minutes?|h|hours?)\b"
    r"|\b(?:a few|several|a couple of|a matter of) (?:seconds|minutes|hours)\b|\b(?:a|an) (?:minute|hour)\b",
    re.IGNORECASE,
)


def hand_typed_durations(text: str) -> list[str]:
    """Durations outside the runner's markers, except in a sentence that quotes the lecture's own."""
    text = runner.MACHINE.sub("", runner.RUNTIME.sub("", text))
    found = []
    for sentence in re.split(r"(?<=[.;:])\s+|\|", re.sub(r"\s*\n\s*", " ", text)):  # table cells too
        if "lecture" not in sentence.lower():  # "the lecture reports ... about 15 minutes on an A100"
            found.extend(match[0] for match in DURATION.finditer(sentence))
    return found


def comments(source: str) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return "\n".join(token.string for token in tokens if token.type == tokenize.COMMENT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_times_come_from_the_runner(path):
    cells = load(path)["cells"]
    opening = "".join(cells[0]["source"])
    assert len(runner.RUNTIME.findall(opening)) == 1, (
        f"{path.name}: the opening cell needs one runtime marker"
    )
    assert "**Run time:** <!-- runtime -->" in opening
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        text = source if cell["cell_type"] == "markdown" else comments(source)
        durations = hand_typed_durations(text)
        assert not durations, (
            f"{path.name}, cell {i}: {durations} typed by hand; state what the output prints, or let "
            "scripts/run_notebooks.sh measure it"
        )


def test_the_readme_course_table_has_a_run_time_for_every_notebook():
    readme = README.read_text(encoding="utf-8")
    block = runner.COURSE_MAP.search(readme)[0]
    for path in NOTEBOOKS:
        rows = [line for line in block.split("\n") if f"](notebooks/{path.name})" in line]
        assert len(rows) == 1 and len(runner.RUNTIME.findall(rows[0])) == 1, f"README: {path.name}'s row"
    assert len(runner.MACHINE.findall(block)) == 1
    assert not hand_typed_durations(block)


def test_the_runner_rewrites_the_opening_cell_between_its_markers_only():
    source = "".join(load(NOTEBOOKS[0])["cells"][0]["source"])
    once = runner.rewrite_notebook_cell(source, 7.4, 2, "00")
    assert runner.RUNTIME.search(once)[2] == (
        "~7 s for Restart & Run All on 2 CPU cores, measured by `scripts/run_notebooks.sh`"
    )
    assert runner.RUNTIME.sub("", once) == runner.RUNTIME.sub("", source)  # the prose is untouched
    twice = runner.rewrite_notebook_cell(once, 125.6, 1, "00")
    assert runner.RUNTIME.search(twice)[2].startswith("~126 s for Restart & Run All on 1 CPU core,")
    assert len(runner.RUNTIME.findall(twice)) == 1
    with pytest.raises(ValueError, match="found 0"):
        runner.rewrite_notebook_cell("**Run time:** about 8 seconds", 8.0, 2, "00")
    with pytest.raises(ValueError, match="found 2"):
        runner.rewrite_notebook_cell(once + once, 8.0, 2, "00")
    assert runner.format_seconds(0.2) == "~1 s" and runner.format_seconds(69.6) == "~70 s"


# --- the notebooks read as lessons ---

OPENING_WORDS = 120  # what you build, what you need from before, the lectures, the run time
CPU_MODEL = re.compile(r"Xeon|EPYC|Ryzen|Core\(TM\)|Intel|AMD|AVX|Apple M\d", re.IGNORECASE)
# How the course was made is not a lesson: no test tooling, no history of its making
MAKING = re.compile(
    r"\bnbval\b|\btagged\b|\bsessions?\b|\bround \d|\bissue \d|\bthis hour\b|\bwe measured\b"
    r"|\bin our runs\b|\bevery run we\b|\bour runs\b|\bwe made\b",
    re.IGNORECASE,
)


def rendered_words(markdown: str) -> int:
    """The words a reader sees: a link counts as its text, markers and markup as nothing."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"<!--.*?-->|[#*`|]", " ", text)
    return len(re.findall(r"[\w~&'’.:/()-]*\w[\w~&'’.:/()-]*", text))


def test_rendered_words_counts_what_a_reader_sees():
    assert rendered_words("**You build:** a [bigram model (22:11)](https://x.y/z?t=1) <!-- runtime -->") == 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_opening_cell_is_short_and_names_no_cpu(path):
    opening = "".join(load(path)["cells"][0]["source"])
    words = rendered_words(opening)
    assert words <= OPENING_WORDS, (
        f"{path.name}: the opening cell has {words} words (at most {OPENING_WORDS})"
    )
    assert not CPU_MODEL.search(opening), f"{path.name}: a CPU's name in the opening cell"
    assert re.search(r"on \d+ CPU cores?, measured by", runner.RUNTIME.search(opening)[2])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_prose_speaks_of_the_lesson_not_of_its_making(path):
    for i, cell in enumerate(load(path)["cells"]):
        source = "".join(cell["source"])
        text = source if cell["cell_type"] == "markdown" else comments(source)
        found = MAKING.findall(text)
        assert not found, f"{path.name}, cell {i}: {found}"


def test_the_exercise_instructions_are_written_out_once():
    says = [
        p.stem for p in NOTEBOOKS for c in load(p)["cells"] if "Run the cell as it is" in "".join(c["source"])
    ]
    assert says == ["00_data_and_tokenizers"]


PROGRESS = re.compile(r"(\d+)%\|")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_saved_progress_bar_shows_a_finished_run(path):
    for i, cell in enumerate(code_cells(load(path))):
        for text in output_texts(cell):
            shown = [int(p) for p in PROGRESS.findall(text.split("\r")[-1] if "\r" in text else text)]
            assert all(p == 100 for p in shown), f"{path.name}, code cell {i + 1}: a bar saved at {shown}%"
            assert "\r" not in text.rstrip("\n"), (
                f"{path.name}, code cell {i + 1}: overwritten bar states saved"
            )


def test_the_runner_rewrites_the_readme_table_with_one_run_of_every_notebook():
    readme = README.read_text(encoding="utf-8")
    seconds = {path.stem: 10.0 * i + 2.2 for i, path in enumerate(NOTEBOOKS)}
    new = runner.rewrite_course_table(readme, seconds, "2 threads on Some CPU", "2026-12-02")
    block = runner.COURSE_MAP.search(new)[0]
    for i, path in enumerate(NOTEBOOKS):
        row = next(line for line in block.split("\n") if f"](notebooks/{path.name})" in line)
        assert row.endswith(f"| <!-- runtime -->~{10 * i + 2} s<!-- /runtime --> |"), row
    assert runner.MACHINE.search(block)[2] == "2 threads on Some CPU, 2026-12-02"
    outside = runner.COURSE_MAP.sub("", readme)
    assert runner.COURSE_MAP.sub("", new) == outside  # nothing outside the course map changes
    assert README.read_text(encoding="utf-8") == readme  # a string in, a string out: no file written
    with pytest.raises(ValueError, match="the run timed"):
        runner.rewrite_course_table(readme, dict(list(seconds.items())[:-1]), "m", "d")  # one missing


def test_the_runner_refuses_a_notebook_without_a_marker_before_running_it(tmp_path):
    import nbformat

    path = tmp_path / "99_no_marker.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("**Run time:** about 8 seconds"),
            nbformat.v4.new_code_cell("1/0"),
        ]
    )
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="99_no_marker.ipynb"):
        runner.main([str(path)])
    assert nbformat.read(path, as_version=4).cells[1].outputs == []  # it did not run


def test_the_runner_sets_your_checkpoint_aside_and_always_renames_it_back(tmp_path):
    """Notebook 07 opens runs/cpu-char/ckpt.pt if you trained one: saved notebooks must not show it."""
    ckpt = tmp_path / "runs" / "cpu-char" / "ckpt.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"your model")
    with pytest.raises(RuntimeError, match="failed"), runner.local_runs_set_aside(tmp_path) as moved:
        assert moved == [ckpt] and not ckpt.exists()  # the notebooks run as on a fresh clone
        raise RuntimeError("a notebook failed")
    assert ckpt.read_bytes() == b"your model"  # back, even after a failure
    aside = ckpt.with_name("ckpt.pt" + runner.ASIDE)
    aside.write_bytes(b"left by a killed run")
    with pytest.raises(SystemExit, match="rename it back"), runner.local_runs_set_aside(tmp_path):
        pass
    assert ckpt.read_bytes() == b"your model" and aside.read_bytes() == b"left by a killed run"
    aside.unlink()
    ckpt.unlink()
    with runner.local_runs_set_aside(tmp_path) as moved:  # nothing trained: nothing to move
        assert moved == []
