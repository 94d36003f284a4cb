"""The code the notebooks show is the code that runs, at the size of its lesson.

- The lesson's classes (GPT, Block, MultiHeadAttention) and the variants layered around them
  (ExtendedGPT, ExtendedBlock, ExtendedAttention) compute the same thing at the lecture's switches.
- Every object a notebook shows with show_source keeps the length pinned here.
- The lecture's training loop and the Trainer's plain settings give the same losses.
"""

import ast
import dataclasses
import inspect
import json
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import attention_playground as ap
from attention_playground import (
    GPT,
    AttentionLanguageModel,
    Block,
    ConfigError,
    ExtendedAttention,
    ExtendedBlock,
    ExtendedGPT,
    GPTConfig,
    MultiHeadAttention,
    Splits,
    TrainConfig,
    Trainer,
    simple_training_loop,
)
from attention_playground.nn.config import LECTURE_SWITCHES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2, dropout=0.1, bias=True)

# Each object a notebook shows, and its length in lines: a change to one is a change to a lesson.
SHOWN_LINES = {
    "CharTokenizer.__init__": 4,
    "CharTokenizer.from_text": 3,
    "CharTokenizer.encode": 6,
    "CharTokenizer.decode": 8,
    "split": 6,
    "get_batch": 12,
    "LanguageModel.loss": 7,
    "BigramLanguageModel": 18,
    "LanguageModel.generate": 27,
    "estimate_loss": 22,
    "simple_training_loop": 31,
    "causal_average": 6,
    "attention_scores": 7,
    "causal_mask": 3,
    "masked_softmax": 11,
    "attend_with_maps": 9,
    "Head": 22,
    "AttentionLanguageModel": 20,
    "MultiHeadAttention": 35,
    "FeedForward": 14,
    "Block": 14,
    "GPT.__init__": 13,
    "GPT.forward": 10,
    "ExtendedBlock._add": 7,
    "rotate_by_position": 12,
    "CrossAttention.forward_with_maps": 6,
    "DecoderBlock.forward": 7,
    "EncoderClassifier.forward": 6,
}
LIMITS = {"MultiHeadAttention": 40, "Block": 25}  # what the lessons of notebooks 05 and 06 allow


def shown_objects() -> dict[str, str]:
    """Every show_source argument in the notebooks' code, as a dotted name, with its notebook."""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("show_source"):
                    for arg in node.args:
                        found[ast.unparse(arg).removeprefix("ap.")] = path.name
    return found


def resolve(name: str) -> object:
    from attention_playground.course import experiments
    from attention_playground.nn.base import LanguageModel
    from attention_playground.nn.positions import rotate_by_position

    scope = {"ex": experiments, "LanguageModel": LanguageModel, "rotate_by_position": rotate_by_position}
    head, *rest = name.split(".")
    obj = scope[head] if head in scope else getattr(ap, head)
    for part in rest:
        obj = getattr(obj, part)
    return obj


def lines_of(name: str) -> int:
    return len(inspect.getsource(resolve(name)).rstrip("\n").splitlines())


def test_every_shown_object_keeps_its_lesson_size():
    shown = shown_objects()
    assert {"MultiHeadAttention", "Block", "GPT.forward", "LanguageModel.generate"} <= set(shown)
    sizes = {name: lines_of(name) for name in shown}
    unpinned = sorted(set(sizes) - set(SHOWN_LINES))
    assert not unpinned, f"a notebook shows {unpinned}: pin their lengths in SHOWN_LINES"
    changed = {name: f"{SHOWN_LINES[name]} -> {n}" for name, n in sizes.items() if n != SHOWN_LINES[name]}
    assert not changed, f"a shown object changed length (a lesson changed: update SHOWN_LINES): {changed}"
    too_long = {name: n for name, n in sizes.items() if n > LIMITS.get(name, 10**6)}
    assert not too_long, f"longer than its lesson allows: {too_long}"


def test_a_changed_length_is_caught():
    assert lines_of("Block") == SHOWN_LINES["Block"] != lines_of("Block") + 1


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_extended_gpt_at_the_lectures_switches_is_the_lessons_gpt(mode):
    torch.manual_seed(0)
    lesson = GPT(CONFIG)
    torch.manual_seed(0)
    extended = ExtendedGPT(CONFIG)
    assert lesson.state_dict().keys() == extended.state_dict().keys()
    for name, tensor in lesson.state_dict().items():
        assert torch.equal(tensor, extended.state_dict()[name]), f"{name}: the same init from the same seed"
    idx = torch.randint(65, (3, 16), generator=torch.Generator().manual_seed(1))
    targets = torch.roll(idx, -1, dims=1)
    lesson.train(mode == "train")
    extended.train(mode == "train")
    torch.manual_seed(2)
    logits, loss = lesson(idx, targets)
    torch.manual_seed(2)  # the same dropout masks, drawn in the same order
    logits_extended, loss_extended = extended(idx, targets)
    assert_close(logits_extended, logits)
    assert_close(loss_extended, loss)


def test_weights_move_between_the_lesson_and_its_variants():
    torch.manual_seed(3)
    lesson = GPT(dataclasses.replace(CONFIG, tie_weights=True)).eval()
    extended = ExtendedGPT(dataclasses.replace(CONFIG, tie_weights=True)).eval()
    extended.load_state_dict(lesson.state_dict())
    idx = torch.randint(65, (2, 16), generator=torch.Generator().manual_seed(4))
    assert_close(extended(idx)[0], lesson(idx)[0])
    x = torch.randn(2, 16, 32)
    block, extended_block = Block(CONFIG).eval(), ExtendedBlock(CONFIG).eval()
    extended_block.load_state_dict(block.state_dict())
    assert_close(extended_block(x), block(x))
    mha, extended_mha = MultiHeadAttention(CONFIG).eval(), ExtendedAttention(CONFIG).eval()
    extended_mha.load_state_dict(mha.state_dict())
    assert_close(extended_mha(x), mha(x))


def test_the_lessons_models_build_the_lessons_attention():
    assert type(AttentionLanguageModel(CONFIG).attention) is MultiHeadAttention
    assert all(type(block.attn) is MultiHeadAttention for block in GPT(CONFIG).blocks)
    assert (
        type(AttentionLanguageModel(dataclasses.replace(CONFIG, position="rope")).attention)
        is ExtendedAttention
    )


@pytest.mark.parametrize("name", sorted(LECTURE_SWITCHES))
def test_the_lessons_gpt_refuses_a_switch_it_does_not_build(name):
    other = {"position": "rope", "norm": "post"}.get(name, not LECTURE_SWITCHES[name])
    config = dataclasses.replace(CONFIG, **{name: other})
    with pytest.raises(
        ConfigError, match=rf"GPT is the lecture's model and builds none of {name}=.*ExtendedGPT"
    ):
        GPT(config)
    ExtendedGPT(config)  # the variants build it


def test_the_lecture_loop_and_the_trainers_plain_settings_give_the_same_losses():
    data = torch.arange(4_000) % 13  # a text the model can learn in a few steps
    splits = Splits(data[:3_600], data[3_600:])
    torch.manual_seed(6)
    start = GPT(dataclasses.replace(CONFIG, dropout=0.0)).state_dict()
    lecture_model, trainer_model = (
        GPT(dataclasses.replace(CONFIG, dropout=0.0)),
        GPT(dataclasses.replace(CONFIG, dropout=0.0)),
    )
    lecture_model.load_state_dict(start)
    trainer_model.load_state_dict(start)
    lecture = simple_training_loop(
        lecture_model, splits, block_size=16, batch_size=8, max_iters=12, learning_rate=3e-3,
        eval_interval=5, eval_iters=3, seed=7,
    )  # fmt: skip
    plain = TrainConfig(
        batch_size=8, max_iters=12, eval_interval=5, eval_iters=3, learning_rate=3e-3, warmup=0,
        schedule="constant", min_lr=3e-3, weight_decay=0.01, decay_norms_and_biases=True,
        betas=(0.9, 0.999), grad_clip=0.0, seed=7, device="cpu",
    )  # fmt: skip
    trainer = Trainer(trainer_model, splits, plain).run()
    assert lecture.eval_steps == trainer.eval_steps == [4, 9, 11]
    assert_close(torch.tensor(trainer.step_losses), torch.tensor(lecture.step_losses), rtol=1e-5, atol=1e-6)
    assert_close(torch.tensor(trainer.val_loss), torch.tensor(lecture.val_loss), rtol=1e-5, atol=1e-6)
    assert lecture.step_losses[-1] < lecture.step_losses[0] - 0.1, "and both learn something"
