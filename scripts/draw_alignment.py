"""Train notebook 09's string reverser and draw its cross-attention: images/cross_attention_alignment.png.

Usage: .venv/bin/python scripts/draw_alignment.py   (prints what it measured; seconds to ~2 min on 2 cores)

The recipe is tasks.reversal_recipe(), the one notebook 09 trains with the same seed, so the
README's picture is the notebook's model. Rows: what the decoder writes; columns: the source's
letters; each row should read the letter it copies, n - 1 - t: an anti-diagonal.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window

import torch  # noqa: E402

import attention_playground as ap  # noqa: E402
from attention_playground import viz  # noqa: E402
from attention_playground.course import tasks as tasks  # noqa: E402

IMAGE = Path(__file__).resolve().parent.parent / "images" / "cross_attention_alignment.png"
WORDS = ("attention", "playground")  # 9 and 10 letters: real words, a random draw would hardly make them


def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    task, model_config, train_config = tasks.reversal_recipe()
    ap.set_seed(train_config.seed)
    model = ap.EncoderDecoder(model_config)
    history = tasks.fit(model, task.sampler(train_config.batch_size, seed=1), train_config)
    exact = tasks.exact_match(model, task)
    loss = history.step_losses[-1]
    print(f"trained {train_config.max_iters} steps in {history.seconds:.1f} s, final loss {loss:.4f}")
    print(f"exact match on {len(task.test)} held-out strings: {exact:.3f}")
    prompts = [
        viz.cross_prompt_attention(model, task.tokenizer, word, "<" + word[::-1], list(word[::-1]) + [">"])
        for word in WORDS
    ]
    fig = viz.plot_alignment(prompts)
    fig.suptitle("cross-attention of a trained string reverser: each letter written reads the one it copies")
    IMAGE.parent.mkdir(exist_ok=True)
    fig.savefig(IMAGE, dpi=150, facecolor="white", metadata={"Software": None})  # no version: same bytes
    print(f"wrote {IMAGE.relative_to(IMAGE.parent.parent)}")


if __name__ == "__main__":
    main()
