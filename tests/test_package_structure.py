"""The package's shape: folders in layers, imports that flow one way, rooms of a readable size.

    errors.py, then files.py                  below everything
    nn/ (the model)   data/ (text, tokens)    neither imports the other
    training/                                  the lecture's loop, the Trainer, checkpoints
    analysis/                                  numbers about a model
    viz/                                       pictures and widgets: no Trainer
    course/                                    what the notebooks run; show_source
    exercises/                                 the checks, and one answer to each
    tools/                                     the command line and the bench

A module imports from its own folder or from a layer below; the package's __init__ (the names the
notebooks use) sits above them all. Every import counts: at the top, inside a function, and under
`if TYPE_CHECKING:`.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "attention_playground"
LAYERS = {
    "errors": 0, "files": 1,
    "nn": 2, "data": 2,
    "training": 3,
    "analysis": 4,
    "viz": 5,
    "course": 6,
    "exercises": 7,
    "tools": 8,
}  # fmt: skip
INDEPENDENT = {("nn", "data"), ("data", "nn")}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
# The exercise checks are declarative tables of mistakes, one module per group of exercises.
LONG_MODULES_ALLOWED = {"exercises"}


def module_name(path: Path) -> str:
    """src/attention_playground/nn/gpt.py -> "nn.gpt"; a package's __init__ is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"}


def imported_modules(name: str, path: Path) -> set[str]:
    """Every module of the package that `name` imports, anywhere in its file, as a dotted name."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = [*base, *(node.module or "").split(".")] if node.module else base
            for alias in node.names:  # `from .x import y`: y may itself be a module
                dotted = ".".join([*target, alias.name])
                found.add(dotted if dotted in MODULES else ".".join(target))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("attention_playground."):
            found.add(node.module.removeprefix("attention_playground."))
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def folder(name: str) -> str:
    return name.split(".")[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that goes up a layer, or across two folders that must stay apart."""
    bad = []
    for importer, imported in graph.items():
        if importer == "__init__":
            continue
        for target in imported:
            a, b = folder(importer), folder(target)
            if a == b:
                continue
            if LAYERS[b] > LAYERS[a] or (a, b) in INDEPENDENT or (LAYERS[a] == LAYERS[b]):
                bad.append(f"{importer} imports {target}: {a}/ may not import {b}/")
    return sorted(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := walk(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start, [])):
            return cycle
    return None


def test_every_folder_has_its_layer():
    assert {folder(name) for name in MODULES} - {"__init__"} == set(LAYERS)


def test_imports_flow_one_way_down_the_layers():
    assert layer_violations(GRAPH) == []


def test_no_import_cycle_not_even_for_type_checking():
    cycle = find_cycle({name: targets for name, targets in GRAPH.items() if name != "__init__"})
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def test_the_views_import_no_trainer_and_the_model_keeps_its_own_helpers():
    views = {t for name, targets in GRAPH.items() if folder(name) == "viz" for t in targets}
    assert not {"training.trainer", "training.callbacks", "training.budget"} & views
    assert "training.history" in views, "a view reads a History, which knows no Trainer"
    import attention_playground.nn.base as base
    import attention_playground.nn.kv_cache as kv_cache

    assert base.evaluating.__module__ == base.__name__ and kv_cache.KVCache.__module__ == kv_cache.__name__


def test_the_checkers_find_a_planted_cycle_and_a_planted_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    planted = {"nn.gpt": {"training.trainer"}, "viz.heatmaps": {"nn.attention"}, "data.corpus": {"nn.base"}}
    assert layer_violations(planted) == [
        "data.corpus imports nn.base: data/ may not import nn/",
        "nn.gpt imports training.trainer: nn/ may not import training/",
    ]
    assert "training.trainer" in GRAPH["training.budget"], "imports are read: the graph is not empty"
    assert "nn.attention" in GRAPH["nn.gpt"] and "nn.kv_cache" in GRAPH["nn.variants"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_are_short(name):
    source = MODULES[name].read_text(encoding="utf-8")
    lines = len(source.splitlines())
    if folder(name) not in LONG_MODULES_ALLOWED:
        assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines: split it by subject"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{name}: split these into named steps: {', '.join(long)}"
