"""The exercises: references and solutions pass, every catalogued mistake fails with its own message,
skeletons print "not done yet", and every notebook's "Your turn" cell passes once filled in."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from exercise_mistakes import MISTAKES, Planted
from torch import nn

import attention_playground as ap
from attention_playground import exercises
from attention_playground.exercises import EXERCISES, NOT_DONE, ExerciseError
from attention_playground.exercises import solutions as solutions
from attention_playground.nn.base import LanguageModel
from attention_playground.nn.sampling import next_token

ROOT = Path(__file__).resolve().parents[1]
COURSE = [ROOT / "notebooks" / f"{name}.ipynb" for name in (
    "00_data_and_tokenizers", "01_bigram", "02_bag_of_words", "03_masked_softmax",
    "04_self_attention", "05_multi_head_attention", "06_gpt",
)]  # fmt: skip


def _tokenizer(text):
    tokenizer = ap.CharTokenizer.from_text(text)
    return tokenizer.encode, tokenizer.decode


def _feed_forward(n_embd):
    return ap.FeedForward(ap.GPTConfig(n_embd=n_embd, n_head=1))


# The library's own code, in each check's call shape, where the library has it.
REFERENCES = {
    "check_char_tokenizer": _tokenizer,
    "check_split": ap.split,
    "check_get_batch": ap.get_batch,
    "check_bigram_loss": LanguageModel.loss,
    "check_causal_average": ap.causal_average,
    "check_masked_softmax": ap.masked_softmax,
    "check_attention_scores": ap.attention_scores,
    "check_attend": lambda q, k, v: ap.masked_softmax(ap.attention_scores(q, k)) @ v,
    "check_head": ap.Head,
    "check_feed_forward": _feed_forward,
    "check_block": ap.Block,
    "check_gpt_forward": lambda model, idx: model(idx)[0],
    "check_next_token": lambda logits, t, k, generator: next_token(logits, t, k, generator=generator),
}


def printed(check, answer) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(answer)
    return out.getvalue()


def message(planted: Planted) -> str:
    with pytest.raises(ExerciseError) as caught:
        EXERCISES[planted.check].check(planted.answer)
    return str(caught.value)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_library_passes_its_own_check(name):
    out = printed(EXERCISES[name].check, REFERENCES[name])
    assert out.count("\n") == 1 and ": correct. " in out, out


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_solution_passes(name):
    out = printed(EXERCISES[name].check, solutions.SOLUTIONS[name])
    assert out.count("\n") == 1 and ": correct. " in out, out


def test_sixteen_exercises_in_every_notebook_of_the_course_with_a_solution_each():
    assert (
        set(solutions.SOLUTIONS)
        == set(EXERCISES)
        == set(exercises.__all__) - {"EXERCISES", "NOT_DONE", "ExerciseError", "show_solution"}
    )
    assert len(EXERCISES) >= 15
    assert {e.notebook for e in EXERCISES.values()} == {f"{i:02d}" for i in range(7)}


@pytest.mark.parametrize("planted", MISTAKES, ids=lambda m: f"{m.check[6:]}-{m.answer.__name__}")
def test_a_catalogued_mistake_fails_with_its_own_message(planted):
    text = message(planted)
    assert planted.phrase in text, text
    title = EXERCISES[planted.check].check.title
    assert text.startswith(f"{title}: ") and text.splitlines()[-1].startswith("Hint: ")


def test_the_catalogue_has_three_mistakes_per_exercise_and_forty_in_all():
    per_check = Counter(m.check for m in MISTAKES)
    assert set(per_check) == set(EXERCISES)
    assert min(per_check.values()) >= 3, per_check
    assert len(MISTAKES) >= 40


def test_two_different_mistakes_never_give_the_same_message():
    texts = [message(m) for m in MISTAKES]
    assert len(set(texts)) == len(texts)
    headlines = Counter(t.splitlines()[0] for t in texts)
    assert [h for h, n in headlines.items() if n > 1] == []  # each recognised as its own mistake


def test_exercise_error_is_an_assertion_error():
    assert issubclass(ExerciseError, AssertionError)


def test_a_message_shows_the_smallest_input_where_the_mistake_shows():
    (triu,) = [m for m in MISTAKES if m.answer.__name__ == "softmax_triu"]
    text = message(triu)
    assert "scores (2, 2):" in text and "expected weights (2, 2):" in text and "your weights (2, 2):" in text


# ---- answers the checks do not know --------------------------------------------------------------


def test_a_right_answer_that_changes_its_input_in_place_passes():
    def in_place(scores):
        T = scores.size(-1)
        return scores.masked_fill_(torch.ones(T, T).triu(1).bool(), float("-inf")).softmax(dim=-1)

    def divides_in_place(logits, temperature, top_k, generator):
        logits /= temperature
        return solutions.my_next_token(logits, 1.0, top_k, generator)

    assert ": correct. " in printed(exercises.check_masked_softmax, in_place)
    assert ": correct. " in printed(exercises.check_next_token, divides_in_place)


def test_an_unknown_wrong_answer_says_where_it_differs():
    def squared(scores):  # causal, rows summing to 1, and still wrong: a mistake no one makes
        weights = ap.masked_softmax(scores) ** 2
        return weights / weights.sum(dim=-1, keepdim=True)

    with pytest.raises(
        ExerciseError, match=r"your weights and the reference differ at index \(1, [01]\): expected"
    ):
        exercises.check_masked_softmax(squared)


def test_an_unknown_wrong_shape_says_the_shapes():
    with pytest.raises(ExerciseError, match=r"your y: shape \(1, 1, 4\), expected \(1, 1, 2\)"):
        exercises.check_causal_average(lambda x: torch.cat([x, x], dim=-1))


def test_an_answer_that_raises_says_so_and_on_which_input():
    with pytest.raises(ExerciseError, match="your code raised ZeroDivisionError") as caught:
        exercises.check_attention_scores(lambda q, k: 1 / 0)
    assert "q (1, 4, 4):" in str(caught.value)


# ---- what the learner reads when it fails --------------------------------------------------------


def failure(check, answer) -> ExerciseError:
    with pytest.raises(ExerciseError) as caught:
        check(answer)
    return caught.value


def frames(error: BaseException) -> list[str]:
    tb, names = error.__traceback__, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def test_a_wrong_answer_is_one_error_without_the_checks_frames():
    error = failure(exercises.check_masked_softmax, lambda scores: scores.softmax(dim=-1))
    assert error.__cause__ is None and error.__suppress_context__  # no chained traceback
    assert frames(error)[-1] == "run"  # raised by the check's wrapper: none of the comparison's frames
    assert error.learner_error is None
    rendered = error._render_traceback_()  # what Jupyter shows in place of a traceback
    assert rendered == [f"ExerciseError: {error}"] and rendered[0].startswith(
        "ExerciseError: my_masked_softmax: "
    )


def test_when_the_learners_code_raises_they_get_their_own_traceback_and_one_error():
    def my_attention_scores(q, k):
        scale = 1 / 0  # the learner's bug
        return q @ k.transpose(-2, -1) * scale

    error = failure(exercises.check_attention_scores, my_attention_scores)
    assert isinstance(error.learner_error, ZeroDivisionError)
    assert error.__cause__ is None and error.__suppress_context__
    assert frames(error)[-2:] == ["run", "my_attention_scores"]  # the wrapper, then the learner's code
    rendered = "\n".join(error._render_traceback_())
    assert "scale = 1 / 0" in rendered and "ZeroDivisionError" in rendered
    assert "attention_playground" not in rendered  # not one frame of the library
    assert (
        rendered.splitlines()[-len(str(error).splitlines())] == f"ExerciseError: {str(error).splitlines()[0]}"
    )
    assert str(error).startswith("my_attention_scores: your code raised ZeroDivisionError")


def test_a_module_that_raises_in_its_forward_shows_its_forward_not_torchs_call_machinery():
    class MyHead(nn.Module):
        def __init__(self, n_embd, head_size):
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(n_embd, head_size, bias=False) for _ in range(3))

        def forward(self, x):
            return self.query(x) @ self.key(x)  # (B, T, hs) @ (B, T, hs): the shapes do not fit

    error = failure(exercises.check_head, MyHead)
    assert frames(error)[-2:] == ["run", "forward"] and isinstance(error.learner_error, RuntimeError)


CHECKED = "\n\ncheck_masked_softmax(my_masked_softmax)"
JUPYTER_CELLS = [
    "from attention_playground.exercises import check_masked_softmax",
    "def my_masked_softmax(scores):\n    return scores.softmax(dim=-1)" + CHECKED,  # wrong
    "def my_masked_softmax(scores):\n    return scores.softmax(dim=0)[5]" + CHECKED,  # raises
]


def test_jupyter_shows_the_message_first_and_only_the_learners_frames():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in JUPYTER_CELLS])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    wrong, raising = ([o for o in cell.outputs if o.output_type == "error"][0] for cell in nb.cells[1:])
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    assert [ansi.sub("", line) for line in wrong.traceback][0].startswith(
        "ExerciseError: my_masked_softmax: "
    )
    shown = "\n".join(ansi.sub("", line) for line in raising.traceback)
    assert "scores.softmax(dim=0)[5]" in shown and "IndexError" in shown
    assert "attention_playground" not in shown and "exercises" not in shown  # no frame of the check
    assert shown.count("Traceback") <= 1 and "direct cause" not in shown  # one traceback, no chain


def test_show_solution_reveals_one_answer_by_any_of_its_names():
    for check_name, entry in EXERCISES.items():
        short = check_name.removeprefix("check_")
        shown = str(exercises.show_solution(short))
        assert f"{entry.check.title}(" in shown, (short, shown[:80])  # under the notebook's own name
        assert (
            str(exercises.show_solution(check_name))
            == shown
            == str(exercises.show_solution(entry.check.title))
        )
    assert "```python" in exercises.show_solution("masked_softmax")._repr_markdown_()
    with pytest.raises(ValueError, match="no exercise called 'masked_sofmax': name one of 'char_tokenizer'"):
        exercises.show_solution("masked_sofmax")


def test_a_module_without_the_asked_layers_says_which_is_missing():
    class NoValue(nn.Module):
        def __init__(self, n_embd, head_size):
            super().__init__()
            self.query = nn.Linear(n_embd, head_size, bias=False)
            self.key = nn.Linear(n_embd, head_size, bias=False)

    with pytest.raises(ExerciseError, match="no nn.Linear called `value`"):
        exercises.check_head(NoValue)


# ---- skeletons -------------------------------------------------------------------------------------


def raises_not_implemented(*args):
    raise NotImplementedError("your turn")


def returns_ellipsis(*args): ...


class SkeletonModule(nn.Module):
    def __init__(self, *args):
        super().__init__()
        raise NotImplementedError("your turn")


class SkeletonForward(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.query = self.key = self.value = self.proj = nn.Linear(8, 4)
        self.heads = nn.ModuleList([nn.Linear(8, 4), nn.Linear(8, 4)])
        self.ln1, self.attn, self.ln2, self.ffwd = (
            nn.LayerNorm(8),
            nn.Linear(8, 8),
            nn.LayerNorm(8),
            nn.Linear(8, 8),
        )

    def forward(self, x):
        raise NotImplementedError("your turn")


@pytest.mark.parametrize("skeleton", [raises_not_implemented, returns_ellipsis, SkeletonModule])
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_a_skeleton_prints_not_done_yet_and_does_not_raise(name, skeleton):
    out = printed(EXERCISES[name].check, skeleton)
    assert out.count("\n") == 1 and NOT_DONE in out, out


@pytest.mark.parametrize("name", ["check_head", "check_block"])
def test_a_module_whose_forward_is_still_the_skeleton_is_not_done_yet(name):
    assert NOT_DONE in printed(EXERCISES[name].check, SkeletonForward)


def test_a_check_leaves_the_notebooks_random_state_and_autograd_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    printed(exercises.check_next_token, solutions.my_next_token)
    printed(exercises.check_get_batch, solutions.my_get_batch)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.is_grad_enabled()


# ---- the notebooks' "Your turn" cells --------------------------------------------------------------


def your_turn_cells() -> list[tuple[str, int, str]]:
    """(notebook, index, source) of every code cell that calls a check."""
    cells = []
    for path in COURSE:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "attention_playground.exercises import" in source:
                cells.append((path.stem, i, source))
    return cells


def check_call(tree: ast.Module) -> tuple[str, str]:
    """The cell's one `check_x(answer)` statement: the check's name and the answer's."""
    calls = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", "").startswith("check_")
    ]
    assert len(calls) == 1 and isinstance(calls[0].args[0], ast.Name), "one check call, on a name, per cell"
    return calls[0].func.id, calls[0].args[0].id


def run_cell(source: str, fill_in: bool) -> str:
    """Execute a cell on its own; with fill_in, its skeleton is replaced by the solution first."""
    tree = ast.parse(source)
    check, answer = check_call(tree)
    namespace: dict = {}
    if fill_in:
        skeletons = [
            n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == answer
        ]
        assert len(skeletons) == 1, f"the cell defines {answer} once"
        tree.body.remove(skeletons[0])
        namespace[answer] = solutions.SOLUTIONS[check]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<your turn>", "exec"), namespace)
    return out.getvalue()


CELLS = your_turn_cells()


def test_every_notebook_of_the_course_has_a_your_turn_and_every_exercise_is_in_one():
    assert {notebook for notebook, _, _ in CELLS} == {path.stem for path in COURSE}
    called = Counter(check_call(ast.parse(source))[0] for _, _, source in CELLS)
    assert set(called) == set(EXERCISES) and max(called.values()) == 1


def test_the_checks_messages_name_what_the_notebooks_cell_defines():
    for _, _, source in CELLS:
        check, answer = check_call(ast.parse(source))
        assert EXERCISES[check].check.title == answer  # "my_tokenizer: ...", "MyMultiHead: ..."
        assert EXERCISES[check].task.startswith(answer)


def test_sampling_the_next_token_comes_after_temperature_and_top_k_are_taught():
    cells = json.loads((ROOT / "notebooks" / "06_gpt.ipynb").read_text(encoding="utf-8"))["cells"]
    sources = ["".join(cell["source"]) for cell in cells]
    exercise = next(i for i, source in enumerate(sources) if "check_next_token(" in source)
    taught = [
        i
        for i, source in enumerate(sources[:exercise])
        if cells[i]["cell_type"] == "markdown" and re.search(r"^## .*temperature.*top-k", source, re.I | re.M)
    ]
    assert taught, "notebook 06 teaches temperature and top-k in a section before its next-token exercise"
    assert any("sampling_probs(" in sources[i] for i in range(taught[0], exercise))  # and shows them


@pytest.mark.parametrize(
    ("notebook", "index", "source"), CELLS, ids=[f"{n[:2]}-cell{i}" for n, i, _ in CELLS]
)
def test_a_your_turn_cell_as_saved_prints_not_done_yet(notebook, index, source):
    out = run_cell(source, fill_in=False)
    assert out.count("\n") == 1 and NOT_DONE in out, out


@pytest.mark.parametrize(
    ("notebook", "index", "source"), CELLS, ids=[f"{n[:2]}-cell{i}" for n, i, _ in CELLS]
)
def test_a_your_turn_cell_filled_in_with_the_solution_passes_its_check(notebook, index, source):
    out = run_cell(source, fill_in=True)
    assert out.count("\n") == 1 and ": correct. " in out, out


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem[:2])
def test_each_your_turn_code_cell_follows_its_task(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        if "attention_playground.exercises import" in "".join(cell["source"]) and cell["cell_type"] == "code":
            task = "".join(cells[i - 1]["source"])
            assert cells[i - 1]["cell_type"] == "markdown" and task.startswith("### Your turn: "), task[:80]


# ---- docs/exercises.md --------------------------------------------------------------------------------


def test_docs_exercises_md_is_the_catalogue_the_checks_write():
    spec = importlib.util.spec_from_file_location(
        "exercise_catalogue", ROOT / "scripts" / "exercise_catalogue.py"
    )
    catalogue = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(catalogue)
    assert (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8") == catalogue.catalogue(), (
        "docs/exercises.md is out of date: run python scripts/exercise_catalogue.py"
    )
