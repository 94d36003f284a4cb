"""Fixed-step probes of the `cpu` preset's recipe: where each variant's val loss stands, and when.

    python scripts/probe_cpu_preset.py                                   # every recipe, seed 1337
    python scripts/probe_cpu_preset.py --recipes adamw-500,preset --seeds 1337,1,2

The bench asks how soon the `cpu` preset reaches val loss 1.886 (bench.TARGET_VAL_LOSS). A run of a
fixed number of steps is deterministic for its seed, so a recipe can be judged without the clock's
noise: where it ends (the preset's own estimate, 10 batches, and the whole val split) and how
long its steps take. Each recipe is the `cpu` preset with a few fields changed; `adamw-500` is the
preset as it was until session 9. One recipe after another (run nothing else meanwhile); each
prints one line as it finishes: ms per step (median, evaluations left out), the val estimate at
each evaluation with the run's wall time there, and the full val loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import attention_playground as ap
from attention_playground.data.corpus import load_corpus
from attention_playground.tools.bench import TARGET_VAL_LOSS, BenchClock, split_loss
from attention_playground.training.runtime.allocator import keep_freed_memory


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    train: dict[str, Any]  # TrainConfig fields changed from the cpu preset's
    model: dict[str, Any] = field(default_factory=dict)  # GPTConfig fields changed


ADAMW_500 = {  # the cpu preset until session 9
    "optimizer": "adamw", "max_iters": 500, "eval_interval": 250, "learning_rate": 5e-3, "min_lr": 5e-4,
    "schedule": "cosine",
}  # fmt: skip
LINEAR_500 = {**ADAMW_500, "schedule": "linear"}


def muon(steps: int, lr: float, schedule: str = "linear") -> dict[str, Any]:
    return {"max_iters": steps, "eval_interval": steps // 2, "learning_rate": lr, "min_lr": lr / 10,
            "schedule": schedule}  # fmt: skip


RECIPES = [
    Recipe("adamw-500", "the preset until session 9: AdamW, 500 steps, lr 5e-3, cosine", ADAMW_500),
    Recipe("adamw-500-linear", "as adamw-500, a straight line to 5e-4", LINEAR_500),
    Recipe("adamw-475-linear", "as adamw-500-linear, 475 steps", {**LINEAR_500, "max_iters": 475}),
    Recipe("adamw-500-2-heads", "as adamw-500, 2 heads of 64", ADAMW_500, {"n_head": 2}),
    Recipe("muon-500-lr-5e-3", "Muon, as adamw-500 otherwise", {**ADAMW_500, "optimizer": "muon"}),
    Recipe("muon-400-lr-1e-2", "Muon, 400 steps, lr 1e-2, cosine", muon(400, 1e-2, "cosine")),
    Recipe("muon-300-lr-1e-2", "Muon, 300 steps, lr 1e-2, cosine", muon(300, 1e-2, "cosine")),
    Recipe("muon-250-lr-2e-2", "Muon, 250 steps, lr 2e-2, cosine", muon(250, 2e-2, "cosine")),
    Recipe("muon-300-lr-2e-2-cosine", "Muon, 300 steps, lr 2e-2, cosine", muon(300, 2e-2, "cosine")),
    Recipe("muon-300-lr-1.5e-2", "Muon, 300 steps, lr 1.5e-2, a straight line", muon(300, 1.5e-2)),
    Recipe("preset", "the preset now: Muon, 300 steps, lr 2e-2, a straight line to 2e-3", {}),
    Recipe("muon-300-lr-3e-2", "Muon, 300 steps, lr 3e-2, a straight line", muon(300, 3e-2)),
]  # fmt: skip


@dataclass
class Probe:
    recipe: Recipe
    seed: int
    ms_per_step: float
    evaluations: list[tuple[int, float, float]]  # (steps, val estimate, seconds of the run so far)
    full_val: float

    @property
    def reached(self) -> tuple[int, float] | None:
        """(steps, seconds) at the first evaluation at or under the bench's target, if any."""
        return next(((s, t) for s, v, t in self.evaluations if v <= TARGET_VAL_LOSS), None)

    def line(self) -> str:
        evals = ", ".join(f"{s}: {v:.4f} ({t:.1f} s)" for s, v, t in self.evaluations)
        reached = f"step {self.reached[0]}, {self.reached[1]:.1f} s" if self.reached else "no"
        return (
            f"{self.recipe.name:26s} seed {self.seed:4d}  {self.ms_per_step:5.1f} ms/step  val {evals}  "
            f"full {self.full_val:.4f}  reached {TARGET_VAL_LOSS}: {reached}"
        )


def configs(recipe: Recipe, vocab_size: int, seed: int) -> tuple[ap.GPTConfig, ap.TrainConfig]:
    cpu = ap.get_preset("cpu")
    model = dataclasses.replace(cpu.model_config(vocab_size), **recipe.model)
    return model, dataclasses.replace(cpu.train, device="cpu", seed=seed, **recipe.train)


def probe(recipe: Recipe, splits: ap.Splits, vocab_size: int, seed: int, **override: Any) -> Probe:
    """One run of the recipe; `override` changes its TrainConfig further (tests shorten it)."""
    model_config, train_config = configs(recipe, vocab_size, seed)
    train_config = dataclasses.replace(train_config, **override)
    ap.set_seed(seed)
    model = ap.GPT(model_config)
    clock = BenchClock(stop_at=train_config.max_iters, slice_seconds=math.inf)  # one slice: the whole run
    history = ap.Trainer(model, splits, train_config, callbacks=[clock]).run()
    steady = clock.step_seconds[5:] or clock.step_seconds  # the first steps warm caches up
    evaluations = zip((s + 1 for s in history.eval_steps), history.val_loss, clock.eval_seconds, strict=True)
    return Probe(
        recipe=recipe,
        seed=seed,
        ms_per_step=statistics.median(steady) * 1e3,
        evaluations=list(evaluations),
        full_val=split_loss(model, splits.val, model_config.block_size),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", help="comma-separated names (default: all)")
    parser.add_argument("--seeds", default="1337", help="comma-separated seeds (default: 1337)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as `train` does: large tensors reuse freed memory (allocator.py)
    by_name = {r.name: r for r in RECIPES}
    names = args.recipes.split(",") if args.recipes else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}: choose from {', '.join(by_name)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    corpus = load_corpus()
    for name in names:
        for seed in seeds:
            print(probe(by_name[name], corpus.splits, corpus.tokenizer.vocab_size, seed).line(), flush=True)


if __name__ == "__main__":
    main()
