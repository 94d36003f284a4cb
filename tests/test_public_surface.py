"""The library names and attributes the notebooks use exist: a rename fails here, not in a learner's hands.

The names are read from the notebooks' own code cells (every `ap.X`, `viz.X`, `LanguageModel.loss`, and
every name imported from the package), so a notebook edited to use a new name is covered at once.
The attributes the notebooks read on objects the library returns are pinned below on tiny models.
"""

import ast
import importlib
import json
from pathlib import Path

import pytest
import torch

import attention_playground as ap
from attention_playground import viz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PACKAGE = "attention_playground"


def code_of(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def library_bindings(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it stands for in the package, from the imports: {"ap": "", "viz": "viz"}."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    path = alias.name.removeprefix(PACKAGE).lstrip(".")
                    bound[alias.asname or alias.name] = path if alias.asname else ""
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            module = node.module.removeprefix(PACKAGE).lstrip(".")
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{module}.{alias.name}".lstrip(".")
    return bound


def dotted(node: ast.AST) -> list[str] | None:
    """`ap.GPT.forward` -> ["ap", "GPT", "forward"]; None unless it is a plain chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def library_names(sources: list[str]) -> set[str]:
    """Every package name the code uses, as a path from the package: "GPT.forward", "viz.head_view"."""
    trees = [ast.parse(source) for source in sources]
    bound = {}
    for tree in trees:
        bound.update(library_bindings(tree))
    names = {path for path in bound.values() if path}  # each imported name itself
    for tree in trees:
        for node in ast.walk(tree):
            chain = dotted(node) if isinstance(node, ast.Attribute) else None
            if chain and chain[0] in bound:
                names.add(".".join(filter(None, [bound[chain[0]], *chain[1:]])))
    return names


def resolve(path: str) -> object:
    """The object at `path` in the package: a submodule, or an attribute of one, or of a class."""
    obj = importlib.import_module(PACKAGE)
    for i, part in enumerate(path.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            prefix = ".".join([PACKAGE, *path.split(".")[: i + 1]])
            obj = importlib.import_module(prefix)  # a submodule not imported by __init__; else it raises
    return obj


def missing(names: set[str]) -> list[str]:
    absent = []
    for name in sorted(names):
        try:
            resolve(name)
        except (AttributeError, ImportError):
            absent.append(name)
    return absent


def test_the_notebooks_use_the_library_through_these_names():
    names = set().union(*(library_names(code_of(path)) for path in NOTEBOOKS))
    # the collection itself works: it finds the course's main names by all three routes
    assert {"GPT", "train", "Head", "viz", "viz.attention_explorer", "nn.base.LanguageModel.loss"} <= names
    assert "nn.sampling.sample_text" in names and "MultiHeadAttention.from_heads" in names
    assert len(names) > 40


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_library_name_a_notebook_uses_exists(path):
    absent = missing(library_names(code_of(path)))
    assert not absent, f"{path.name} uses {', '.join(absent)}, which the library no longer has"


def test_a_renamed_name_is_caught():
    cell = (
        "import attention_playground as ap\nfrom attention_playground import viz\n"
        "from attention_playground.nn.sampling import sample_txt\n"
        "ap.set_seed(1)\nap.no_such_function(1)\nviz.plot_nothing()\nap.GPT.no_such_method\n"
    )
    assert missing(library_names([cell])) == [
        "GPT.no_such_method", "nn.sampling.sample_txt", "no_such_function", "viz.plot_nothing",
    ]  # fmt: skip


# --- attributes the notebooks read on what the library returns, pinned on tiny models ---


@pytest.fixture
def tiny_config() -> ap.GPTConfig:
    return ap.GPTConfig(vocab_size=11, block_size=8, n_embd=16, n_head=2, n_layer=3)


@pytest.fixture
def tiny_splits() -> ap.Splits:
    data = torch.randint(0, 11, (400,), generator=torch.Generator().manual_seed(0))
    return ap.split(data)


def test_gpt_blocks_and_their_layers(tiny_config):
    model = ap.GPT(tiny_config)
    assert len(model.blocks) == tiny_config.n_layer
    block = model.blocks[0]
    assert isinstance(block, ap.Block)
    assert block.attn.qkv.weight.shape == (3 * tiny_config.n_embd, tiny_config.n_embd)  # 05, 06
    assert block.attn.proj.weight.shape == (tiny_config.n_embd, tiny_config.n_embd)
    for part in (block.ln1, block.ln2, block.ffwd, model.token_embedding, model.position_embedding):
        assert isinstance(part, torch.nn.Module)
    assert model.ln_f.weight.shape == (tiny_config.n_embd,)
    assert model.lm_head.weight.shape == (tiny_config.vocab_size, tiny_config.n_embd)
    tables = model.token_embedding.weight.numel() + model.position_embedding.weight.numel()
    assert model.num_params(embeddings=False) == model.num_params() - tables  # 06


def test_head_query_key_value_and_the_bigram_table():
    head = ap.Head(16, 8)
    for layer in (head.query, head.key, head.value):  # 04 loads the step-by-step weights into these
        assert isinstance(layer, torch.nn.Linear) and layer.weight.shape == (8, 16)
    bigram = ap.BigramLanguageModel(11)
    assert bigram.token_embedding_table.weight.shape == (11, 11)  # 01 shows it by the lecture's name
    assert bigram.num_params() == 11 * 11


def test_attention_maps_are_layers_batch_heads_queries_keys(tiny_config):
    idx = torch.randint(0, 11, (2, 5))  # (B, T)
    maps = ap.GPT(tiny_config).attention_maps(idx)
    assert maps.weights.shape == maps.scores.shape == (3, 2, 2, 5, 5)  # (L, B, nh, T, T)
    torch.testing.assert_close(maps.weights.sum(-1), torch.ones(3, 2, 2, 5))
    one_layer = ap.AttentionLanguageModel(tiny_config, feed_forward=True).attention_maps(idx)
    assert one_layer.weights.shape == (1, 2, 2, 5, 5)


def test_history_has_every_field_the_notebooks_read(tiny_config, tiny_splits):
    model = ap.GPT(tiny_config)
    config = ap.TrainConfig(batch_size=2, max_iters=4, eval_interval=2, eval_iters=1, warmup=1, device="cpu")
    history = ap.train(model, tiny_splits, config)
    assert len(history.step_losses) == len(history.learning_rates) == 4
    assert history.eval_steps == [1, 3]  # every eval_interval steps and at the last, counted from 0
    assert len(history.train_loss) == len(history.val_loss) == 2
    assert history.final_val_loss == history.val_loss[-1]
    assert history.best_val_loss == min(history.val_loss)
    assert history.best_step in history.eval_steps
    assert history.seconds > 0 and history.tokens_seen == 4 * 2 * tiny_config.block_size
    assert history.tokens_per_second == pytest.approx(history.tokens_seen / history.seconds)


def test_presets_splits_and_tokenizers_as_the_notebooks_read_them(tiny_config, tiny_splits):
    preset = ap.get_preset("tiny")
    assert preset.model_config(65).vocab_size == 65 and preset.train.max_iters >= 1
    assert len(tiny_splits.train) + len(tiny_splits.val) == 400
    tokenizer = ap.CharTokenizer.from_text("hii there")
    assert tokenizer.name == "char" and tokenizer.vocab_size == len(tokenizer.chars) == 6
    assert tokenizer.stoi["h"] == 2 and tokenizer.itos[2] == "h"
    assert tokenizer.decode(tokenizer.encode("there")) == "there"
    model = ap.GPT(tiny_config)
    out = model.generate(torch.zeros(1, 1, dtype=torch.long), 3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 4)  # 06 samples with model.generate(prompt, n, generator=...)


def test_the_explorer_results_the_notebooks_read(tiny_config):
    tokenizer = ap.CharTokenizer.from_text("abc d\n")
    model = ap.GPT(
        ap.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_embd=16, n_head=2, n_layer=3)
    )
    prompt = viz.prompt_attention(model, tokenizer, "ab c\nd")
    assert prompt.ids == tokenizer.encode("ab c\nd") and len(prompt.labels) == 6
    assert prompt.scores.shape == prompt.weights.shape == (3, 2, 6, 6)  # (L, nh, T, T)
    patterns = viz.head_patterns(prompt.weights, prompt.labels)
    uniform = viz.head_patterns(viz.uniform_attention(6), prompt.labels)
    assert set(patterns._fields) == {"previous", "first", "itself", "space", "newline"}  # 07 divides by these
    assert patterns.previous.shape == (3, 2)
    layer, head, weight = patterns.strongest("previous")
    assert patterns.previous[layer, head].item() == pytest.approx(weight)
    assert "uniform" in patterns.table(uniform)
    view = viz.head_view(prompt.scores, prompt.labels, layer, head, 4, 0.5)
    assert view.weights.shape == (6, 6) and view.top[0][0] <= 4 and view.title.startswith(f"layer {layer}")
