"""Knocking heads out: nothing knocked out changes nothing, a whole layer knocked out removes its
attention, a knocked-out head passes on zero or its mean, and the model comes back as it was."""

import copy

import pytest
import torch
from torch.testing import assert_close

from attention_playground import AttentionLanguageModel, ConfigError, ExtendedGPT, GPTConfig
from attention_playground.analysis.ablation import (
    attention_layers,
    head_importance,
    knock_out,
    knocked_out_heads,
    next_token_probs,
)

CONFIG = GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2)


@pytest.fixture
def model() -> ExtendedGPT:
    torch.manual_seed(0)
    return ExtendedGPT(CONFIG).eval()


@pytest.fixture
def idx() -> torch.Tensor:
    return torch.randint(65, (3, 16), generator=torch.Generator().manual_seed(1))


def head_outputs(model: ExtendedGPT, layer: int, idx: torch.Tensor) -> torch.Tensor:
    """What layer's projection reads: every head's output side by side, (B, T, C)."""
    seen = []
    handle = model.blocks[layer].attn.proj.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        model(idx)
    handle.remove()
    return seen[0]


def test_knocking_out_nothing_changes_nothing(model, idx):
    with torch.no_grad():
        before = model(idx)[0]
        for mode in ("zero", "mean"):
            with knock_out(model, [], mode):
                assert torch.equal(model(idx)[0], before)


def test_zeroing_every_head_of_a_layer_removes_its_attention(model, idx):
    """The same as a copy of the model whose layer-1 attention adds nothing to the residual stream."""
    without = copy.deepcopy(model)
    without.blocks[1].attn.forward = lambda x, kv_cache=None, layer=0: torch.zeros_like(x)
    maps = model.attention_maps(idx)
    with torch.no_grad(), knock_out(model, [(1, h) for h in range(4)]):
        assert_close(model(idx)[0], without(idx)[0])
        # what a head reads is untouched: only what it passes on is gone
        assert torch.equal(model.attention_maps(idx).weights, maps.weights)


def test_a_zeroed_head_passes_on_zero_and_the_others_are_untouched(model, idx):
    hs = CONFIG.head_size
    before = head_outputs(model, 0, idx)
    with knock_out(model, [(0, 2)]):
        after = head_outputs(model, 0, idx)
        with torch.no_grad():
            changed = model(idx)[0]
    assert torch.equal(after[..., 2 * hs : 3 * hs], torch.zeros_like(after[..., :hs]))
    keep = [h for h in range(4) if h != 2]
    for h in keep:
        assert torch.equal(after[..., h * hs : (h + 1) * hs], before[..., h * hs : (h + 1) * hs])
    with torch.no_grad():
        assert not torch.allclose(changed, model(idx)[0])


def test_a_mean_ablated_head_passes_on_its_mean_over_batch_and_positions(model, idx):
    hs = CONFIG.head_size
    before = head_outputs(model, 1, idx)[..., hs : 2 * hs]  # (B, T, hs) of head 1
    with knock_out(model, [(1, 1)], mode="mean"):
        after = head_outputs(model, 1, idx)[..., hs : 2 * hs]
    assert_close(after, before.mean(dim=(0, 1), keepdim=True).expand_as(after))


def test_the_model_is_restored_after_the_block_even_on_an_error(model, idx):
    with torch.no_grad():
        before = model(idx)[0]
    with pytest.raises(RuntimeError, match="inside"), knock_out(model, [(0, 0), (1, 3)]):
        assert knocked_out_heads(model.blocks[0].attn) == {0: "zero"}
        raise RuntimeError("inside")
    assert all(not knocked_out_heads(layer) for layer in attention_layers(model))
    with torch.no_grad():
        assert torch.equal(model(idx)[0], before)


def test_knock_outs_nest_and_add_up(model, idx):
    with knock_out(model, [(0, 0)]):
        with knock_out(model, [(0, 1), (1, 2)]):
            assert knocked_out_heads(model.blocks[0].attn) == {0: "zero", 1: "zero"}
            assert knocked_out_heads(model.blocks[1].attn) == {2: "zero"}
        assert knocked_out_heads(model.blocks[0].attn) == {0: "zero"}
        assert not knocked_out_heads(model.blocks[1].attn)
    assert not knocked_out_heads(model.blocks[0].attn)


def test_fast_path_and_teaching_path_agree_under_a_knock_out(model, idx):
    with knock_out(model, [(0, 1)]), torch.no_grad():
        x = model.embed(idx)
        attn = model.blocks[0].attn
        assert_close(attn(x), attn.forward_with_maps(x)[0])


def test_head_importance_is_the_loss_rise_of_each_head_alone(model, idx):
    targets = torch.roll(idx, -1, dims=1)
    rise = head_importance(model, idx, targets)
    assert rise.shape == (2, 4)
    with torch.no_grad():
        base = model(idx, targets)[1].item()
        with knock_out(model, [(1, 2)]):
            assert rise[1, 2].item() == pytest.approx(model(idx, targets)[1].item() - base)


def test_next_token_probs_reads_up_to_the_position(model, idx):
    ids = idx[0].tolist()
    probs = next_token_probs(model, ids, position=5)
    assert probs.shape == (65,) and probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        expected = torch.softmax(model(idx[:1])[0][0, 5], dim=-1)
    assert_close(probs, expected)
    assert_close(next_token_probs(model, ids), torch.softmax(model(idx[:1])[0][0, -1].detach(), dim=-1))


def test_bad_knock_outs_say_what_to_change(model):
    single = AttentionLanguageModel(GPTConfig(block_size=8, n_embd=16, n_head=1))
    for target, heads, mode, message in [
        (model, [(2, 0)], "zero", r"layer 2 in \(2, 0\) is out of range: this model has layers 0..1"),
        (model, [(0, 4)], "zero", r"head 4 in \(0, 4\) is out of range: layer 0 has heads 0..3"),
        (model, [(0, 0)], "half", "mode='half' must be one of zero, mean"),
        (single, [(0, 0)], "zero", "single Head has no heads to choose from"),
    ]:
        with pytest.raises(ConfigError, match=message), knock_out(target, heads, mode):
            pass
    assert not knocked_out_heads(model.blocks[0].attn)


def test_an_attention_language_model_with_heads_can_lose_one():
    torch.manual_seed(0)
    model = AttentionLanguageModel(GPTConfig(block_size=8, n_embd=16, n_head=4)).eval()
    idx = torch.randint(65, (2, 8))
    with torch.no_grad():
        before = model(idx)[0]
        with knock_out(model, [(0, 3)]):
            assert not torch.allclose(model(idx)[0], before)
        assert torch.equal(model(idx)[0], before)
