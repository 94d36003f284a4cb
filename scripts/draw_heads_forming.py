"""Draw images/heads_forming.gif: attention heads forming while notebook 08's small GPT trains.

    python scripts/draw_heads_forming.py    # about a minute on 2 CPU cores

It trains the model of notebook 08, section 3 (experiments.train_watching_heads: the same seed,
shape and steps), keeps every head's attention on a line of Romeo and Juliet at each evaluation,
and writes one frame per evaluation with matplotlib's PillowWriter: the heads on top, each titled
with its previous-token weight, the loss curve below with the step marked.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.animation import PillowWriter  # noqa: E402

from attention_playground.course import experiments as experiments  # noqa: E402
from attention_playground.data.corpus import load_corpus  # noqa: E402
from attention_playground.viz.training_plots import draw_heads_forming  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000  # a README image: keep it light


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "images" / "heads_forming.gif")
    parser.add_argument("--dpi", type=float, default=60)
    parser.add_argument("--fps", type=float, default=3)
    parser.add_argument("--hold", type=int, default=6, help="extra frames of the last step")
    args = parser.parse_args(argv)

    _, tokenizer, splits = load_corpus("tinyshakespeare")
    forming = experiments.train_watching_heads(splits, tokenizer)
    print(f"trained {forming.history.eval_steps[-1] + 1} steps in {forming.history.seconds:.0f} s")

    L, nh = forming.snapshots[0].weights.shape[:2]
    fig = plt.figure(figsize=(2.0 * nh, 2.0 * (L + 0.75) + 0.4), layout="constrained")
    writer = PillowWriter(fps=args.fps)
    with writer.saving(fig, str(args.out), args.dpi):
        for snapshot in forming.snapshots:
            fig.clear()
            draw_heads_forming(fig, snapshot, forming.history, forming.labels)
            writer.grab_frame()
        for _ in range(args.hold):
            writer.grab_frame()
    plt.close(fig)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({len(forming.snapshots) + args.hold} frames, {size / 1000:.0f} KB)")
    if size > MAX_BYTES:
        print(f"warning: over {MAX_BYTES / 1e6:.0f} MB; lower --dpi")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
