"""The scripts that write issue 18's tables: they find their markers and write what they measured."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from attention_playground import PRESETS

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    sys.path.insert(0, str(ROOT / "scripts"))  # they import ladder.cpu_name, as when run
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


@pytest.fixture(scope="module")
def tune():
    return load_script("tune_budget")


def test_every_tuning_recipe_is_the_start_with_named_changes_and_the_preset_is_the_chosen_one(tune):
    start_model, start_train = tune.START_MODEL, tune.START_TRAIN
    names = [r.name for r in tune.RECIPES]
    assert names[0] == "start" and len(set(names)) == len(names) and tune.CHOSEN in names
    for recipe in tune.RECIPES:
        model, train = tune.configs(recipe, 65, seed=7)
        assert train.seed == 7 and train.device == "cpu"
        changed = {k for k in vars(model) if getattr(model, k) != getattr(start_model, k)} - {"vocab_size"}
        changed |= {k for k in vars(train) if getattr(train, k) != getattr(start_train, k)} - {
            "seed",
            "device",
        }
        assert changed == set(recipe.model) | set(recipe.train), recipe.name
    cpu_longer = tune.configs(next(r for r in tune.RECIPES if r.name == "cpu-longer"), 65, 1337)[0]
    assert cpu_longer == PRESETS["cpu"].model_config(65), "the cpu preset's shape, run longer"
    model, train = tune.configs(next(r for r in tune.RECIPES if r.name == tune.CHOSEN), 65, 1337)
    budget = PRESETS["budget"]
    assert model == budget.model_config(65), "the budget preset is the recipe the table chose"
    assert train == dataclasses.replace(budget.train, device="cpu")


def test_the_tuning_table_marks_the_best_and_goes_between_the_docs_markers(tune, tmp_path):
    results = [
        tune.Result(tune.RECIPES[0], 410_368, 5_000, 34_000.0, 1.49, 1.48, 0.05, 299.0),
        tune.Result(tune.RECIPES[1], 418_688, 5_400, 36_000.0, 1.55, 1.54, 0.23, 299.0),
    ]
    table = tune.table(results)
    assert "| `start` |" in table and "| **1.4900** | 1.4800 | 0.050 |" in table
    assert "| 1.5500 | 1.5400 | 0.230 |" in table
    docs = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "<!-- budget-tuning:start -->\n" in docs and "<!-- budget-tuning:end -->" in docs
    copy = tmp_path / "benchmarks.md"
    copy.write_text(docs, encoding="utf-8")
    assert tune.write_docs(copy, table + "\n")
    assert f"<!-- budget-tuning:start -->\n{table}\n<!-- budget-tuning:end -->" in copy.read_text(
        encoding="utf-8"
    )


@pytest.fixture(scope="module")
def probes():
    return load_script("probe_cpu_preset")


def test_each_cpu_probe_is_the_preset_with_the_fields_it_names(probes):
    cpu = PRESETS["cpu"]
    for recipe in probes.RECIPES:
        model, train = probes.configs(recipe, 65, seed=7)
        assert train.seed == 7 and train.device == "cpu"
        changed = {k for k in vars(train) if getattr(train, k) != getattr(cpu.train, k)} - {"seed", "device"}
        changed |= {k for k in vars(model) if getattr(model, k) != getattr(cpu.model_config(65), k)}
        named = {k for k, v in recipe.train.items() if v != getattr(cpu.train, k)}
        named |= {k for k, v in recipe.model.items() if v != getattr(cpu.model, k)}
        assert changed == named, recipe.name
    preset = next(r for r in probes.RECIPES if r.name == "preset")
    assert probes.configs(preset, 65, 1337)[1] == dataclasses.replace(cpu.train, device="cpu")
    old = probes.configs(next(r for r in probes.RECIPES if r.name == "adamw-500"), 65, 1337)[1]
    assert (old.optimizer, old.max_iters, old.learning_rate, old.schedule) == ("adamw", 500, 5e-3, "cosine")


def test_a_cpu_probe_reports_each_evaluation_and_whether_it_reached_the_target(probes, shakespeare_splits):
    recipe = next(r for r in probes.RECIPES if r.name == "preset")
    result = probes.probe(recipe, shakespeare_splits, 65, 1337, max_iters=4, eval_interval=2, eval_iters=1)
    assert [steps for steps, _, _ in result.evaluations] == [2, 4]
    assert result.evaluations[0][2] < result.evaluations[1][2], "the run's wall time grows"
    assert result.reached is None, "4 steps do not reach val 1.886"
    assert "reached 1.886: no" in result.line() and result.full_val > 3.0
    result.evaluations.append((300, 1.85, 12.0))
    assert result.reached == (300, 12.0)


def test_a_budget_duel_gives_two_tuning_recipes_the_same_time(tune):
    duel = load_script("budget_duel")
    adamw = "linear-to-0-betas-0.95-relu-squared"  # round 10's best, the budget preset until round 11
    runs = duel.duel_runs([adamw, tune.CHOSEN], 65, 120.0, seed=1337)
    assert [run.name for run in runs] == [adamw, tune.CHOSEN]
    assert all(run.budget_seconds == 120.0 for run in runs)
    assert runs[1].train_config == dataclasses.replace(PRESETS["budget"].train, device="cpu")
    muon = runs[1].train_config
    assert (muon.optimizer, muon.learning_rate) == ("muon", 5e-3)
    assert (
        dataclasses.replace(muon, optimizer="adamw", learning_rate=3e-3, weight_decay=0.1)
        == runs[0].train_config
    )
    assert runs[0].model_config == runs[1].model_config
    with pytest.raises(SystemExit):
        duel.main([adamw, "no-such-recipe"])
