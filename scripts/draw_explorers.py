"""Train the models behind the notebooks' attention explorers and export each explorer as one HTML
file in images/: what the course site (scripts/build_site.py) shows where a notebook has its widget.

Usage: .venv/bin/python scripts/draw_explorers.py   (as long as the four notebooks' training cells, about
30 s on 2 idle cores, minutes on busy ones; prints each file's size)

Each model is the notebook's own recipe and seed, so the page shows what the notebook's explorer
opens on (on another CPU the digits can differ a little; notebook 07 says why):
  explorer.html            notebook 07: the tiny preset, block 64, 1,500 steps; the strongest
                           previous-token head
  explorer_importance.html notebook 08: the heads-forming GPT; the head whose knock-out costs most
  explorer_induction.html  notebook 08: the attention-only model on repeated letters; its induction head
  explorer_reversal.html   notebook 09: the string reverser's cross-attention
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

import attention_playground as ap
from attention_playground import viz
from attention_playground.analysis.ablation import head_importance
from attention_playground.course import experiments as ex
from attention_playground.course import tasks
from attention_playground.data.corpus import load_corpus
from attention_playground.viz.export import describe_model, export_prompt_attention

IMAGES = Path(__file__).resolve().parent.parent / "images"
LINE = "ROMEO:\nBut, soft! what light through yonder window breaks?\n"  # notebooks 07 and 08


def notebook_07(splits: ap.Splits, tokenizer: ap.CharTokenizer) -> Path:
    preset = ap.get_preset("tiny")
    model_config = dataclasses.replace(preset.model_config(tokenizer.vocab_size), block_size=64)
    train_config = dataclasses.replace(preset.train, max_iters=1500, eval_interval=500, device="cpu")
    ap.set_seed(1337)
    model = ap.GPT(model_config)
    history = ap.train(model, splits, train_config)
    print(f"notebook 07: trained {train_config.max_iters} steps, val loss {history.val_loss[-1]:.4f}")
    prompt = viz.prompt_attention(model, tokenizer, LINE)
    layer, head, _ = viz.head_patterns(prompt.weights, prompt.labels).strongest("previous")
    title = f"Attention explorer: notebook 07's {describe_model(model)}, 1,500 steps on Tiny Shakespeare"
    return viz.export_explorer(model, tokenizer, LINE, IMAGES / "explorer.html", layer, head, title=title)


def notebook_08_importance(splits: ap.Splits, tokenizer: ap.CharTokenizer) -> Path:
    forming = ex.train_watching_heads(splits, tokenizer)
    x, y = ap.get_batch(splits.val, 64, 64, torch.Generator().manual_seed(0))  # the notebook's windows
    rise = head_importance(forming.model, x, y)  # (L, nh)
    layer, head = divmod(int(rise.argmax()), rise.size(1))
    print(f"notebook 08: most important head: layer {layer} head {head} (+{rise.max():.3f})")
    line = "ROMEO:\nBut, soft! what light through yonder window br"
    about = f"{describe_model(forming.model)}; layer {layer} head {head} matters most"
    title = f"Attention explorer: notebook 08's {about}"
    path = IMAGES / "explorer_importance.html"
    return viz.export_explorer(forming.model, tokenizer, line, path, layer, head, title=title)


def notebook_08_induction(splits: ap.Splits, tokenizer: ap.CharTokenizer) -> Path:
    config = ex.InductionConfig()
    induction = ex.train_induction(config)
    letters = ex.letters_tokenizer(config.vocab_size)
    random_letters = "q7GxTb2mWkLd"
    line = random_letters + random_letters[:-1]
    query = len(random_letters) + 5  # the 'b' of the second copy
    head = induction.induction_head()
    print(f"notebook 08: induction head: layer 1 head {head}")
    about = f"attention-only {describe_model(induction.model)} on repeated letters"
    title = f"Attention explorer: notebook 08's {about}"
    path = IMAGES / "explorer_induction.html"
    return viz.export_explorer(induction.model, letters, line, path, 1, head, query, title=title)


def notebook_09(splits: ap.Splits, tokenizer: ap.CharTokenizer) -> Path:
    task, model_config, train_config = tasks.reversal_recipe()
    ap.set_seed(train_config.seed)
    reverser = ap.EncoderDecoder(model_config)
    tasks.fit(reverser, task.sampler(train_config.batch_size, seed=1), train_config)
    print(f"notebook 09: exact match {tasks.exact_match(reverser, task):.3f}")
    attention = viz.cross_prompt_attention(
        reverser, task.tokenizer, "attention", "<noitnetta", query_labels=list("noitnetta>")
    )
    title = "Cross-attention explorer: notebook 09's string reverser (rows: the letters it writes)"
    return export_prompt_attention(attention, IMAGES / "explorer_reversal.html", layer=1, title=title)


DRAWINGS: list[Callable[[ap.Splits, ap.CharTokenizer], Path]] = [
    notebook_07,
    notebook_08_importance,
    notebook_08_induction,
    notebook_09,
]


def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    _, tokenizer, splits = load_corpus("tinyshakespeare")
    for draw in DRAWINGS:
        began = time.perf_counter()
        path = draw(splits, tokenizer)
        seconds = time.perf_counter() - began
        print(f"wrote images/{path.name}: {path.stat().st_size:,} bytes ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
