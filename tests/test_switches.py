"""GPTConfig's switches (position, attention_scale, residual, norm, feed_forward): each does what it says,
and with every switch at its default the model computes exactly what it computed before they existed."""

import dataclasses
import math

import pytest
import torch
from torch.testing import assert_close

from attention_playground import (
    AttentionLanguageModel,
    Block,
    ConfigError,
    ExtendedAttention,
    ExtendedBlock,
    ExtendedGPT,
    GPTConfig,
    attend,
    attend_with_maps,
    load_checkpoint,
    save_checkpoint,
)
from attention_playground.nn.attention import recording_attention
from attention_playground.nn.positions import rotate_by_position, sinusoidal_positions

SMALL = GPTConfig(vocab_size=65, block_size=16, n_embd=32, n_head=4, n_layer=2)


def teaching_path(module: torch.nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """module(*args) with each attention layer inside it on its teaching path (forward_with_maps)."""
    with recording_attention(module):
        return module(*args)


def seeded_model(**switches) -> ExtendedGPT:
    torch.manual_seed(0)
    return ExtendedGPT(dataclasses.replace(SMALL, **switches)).eval()


# ---- every switch at its default: today's model -------------------------------------------------


def test_defaults_give_the_loss_computed_before_the_switches_existed():
    """The same seeded model, batch and dropout draw as on main before this change: the same loss."""
    torch.manual_seed(1337)
    model = ExtendedGPT(dataclasses.replace(SMALL, dropout=0.1))
    generator = torch.Generator().manual_seed(0)
    idx, targets = (
        torch.randint(65, (4, 16), generator=generator),
        torch.randint(65, (4, 16), generator=generator),
    )
    torch.manual_seed(5)
    _, train_loss = model.train()(idx, targets)
    _, eval_loss = model.eval()(idx, targets)
    # printed on main at 5dedec6 (float32; a few ulps of slack for another CPU's rounding)
    assert train_loss.item() == pytest.approx(4.184974193572998, abs=2e-6)
    assert eval_loss.item() == pytest.approx(4.190464496612549, abs=2e-6)


def test_default_block_is_the_lectures_pre_norm_block_bit_for_bit():
    torch.manual_seed(0)
    block = Block(SMALL).eval()
    x = torch.randn(2, 16, 32)
    with torch.no_grad():
        by_hand = x + block.attn(block.ln1(x))
        by_hand = by_hand + block.ffwd(block.ln2(by_hand))  # the lecture's Block.forward
        assert torch.equal(block(x), by_hand)
        assert_close(teaching_path(block, x), by_hand)  # the teaching path: the same, to rounding


def test_default_state_dict_keys_are_unchanged():
    keys = set(seeded_model().state_dict())
    assert "position_embedding.weight" in keys and "ln_f.weight" in keys
    assert {f"blocks.{i}.{part}.weight" for i in range(2) for part in ("ln1", "ln2")} <= keys
    assert not any("sinusoidal" in key for key in keys)


# ---- position ----------------------------------------------------------------------------------


def test_sinusoidal_positions_are_the_papers_formula():
    T, C = 12, 8
    table = sinusoidal_positions(T, C)
    for pos in range(T):
        for i in range(C // 2):
            angle = pos / 10000 ** (2 * i / C)  # Vaswani et al. 2017, section 3.5
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    assert_close(sinusoidal_positions(4, C, start=5), table[5:9])


def test_sinusoidal_model_adds_the_table_as_a_buffer_and_reads_past_its_block():
    model = seeded_model(position="sinusoidal")
    assert model.position_embedding is None
    assert "sinusoidal_table" not in model.state_dict(), "a buffer that is not saved: old files still load"
    assert not any("sinusoidal" in name for name, _ in model.named_parameters()), "never trained"
    idx = torch.randint(65, (2, 40))  # longer than block_size=16
    with torch.no_grad():
        embeddings = model.embed(idx)
        tokens = model.token_embedding(idx) * math.sqrt(32)  # the paper's sqrt(d_model), section 3.4
        assert_close(embeddings - tokens, sinusoidal_positions(40, 32).expand(2, 40, 32))
        assert_close(model.embed(idx[:, 3:9], start=3), embeddings[:, 3:9])
        logits, _ = model(idx)
    assert logits.shape == (2, 40, 65)
    # a learned table has block_size rows: nothing past them
    with pytest.raises(ValueError, match="longer than block_size=16"):
        seeded_model()(idx)


def test_rope_keeps_lengths_and_makes_scores_depend_on_the_offset_only():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 10, 8).unbind(0)  # (nh, T, hs) each
    for start in (0, 7):
        assert_close(rotate_by_position(q, start).norm(dim=-1), q.norm(dim=-1))
    assert torch.equal(rotate_by_position(q[:, :1]), q[:, :1]), "position 0 turns nothing"

    def scores(q_start: int, k_start: int) -> torch.Tensor:
        return rotate_by_position(q, q_start) @ rotate_by_position(k, k_start).transpose(-2, -1)

    # q at m and k at n, or both shifted by s: the same scores, because only m - n matters
    for shift in (1, 5, 100):
        assert_close(scores(shift, shift), scores(0, 0), atol=1e-4, rtol=1e-4)
        assert_close(scores(3 + shift, shift), scores(3, 0), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(scores(3, 0), scores(0, 0), atol=1e-3), "but the offset itself matters"


def test_rope_turns_each_channel_pair_by_its_position_times_its_frequency():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 8)  # (B, nh, T, hs): pairs (0, 1), (2, 3), (4, 5), (6, 7)
    start = 4
    turned = rotate_by_position(x, start)
    for t in range(6):
        for i in range(4):
            angle = torch.tensor((start + t) / 10000 ** (2 * i / 8))
            cos, sin = angle.cos(), angle.sin()
            even, odd = x[..., t, 2 * i], x[..., t, 2 * i + 1]
            assert_close(turned[..., t, 2 * i], even * cos - odd * sin, atol=1e-6, rtol=1e-5)
            assert_close(turned[..., t, 2 * i + 1], even * sin + odd * cos, atol=1e-6, rtol=1e-5)
    half = rotate_by_position(x.to(torch.bfloat16), start)
    assert half.dtype == torch.bfloat16, "under autocast q and k keep their dtype"


def test_rope_model_fast_path_equals_teaching_path_and_the_kv_cache():
    model = seeded_model(position="rope")
    assert model.position_embedding is None and model.blocks[0].attn.rotary
    idx = torch.randint(65, (2, 16))
    with torch.no_grad():
        x = model.embed(idx)
        attn = model.blocks[0].attn
        assert_close(attn(x), attn.forward_with_maps(x)[0])
        full, _ = model(idx)
        cache = model.new_kv_cache(2)
        pieces = [model(idx[:, a:b], kv_cache=cache)[0] for a, b in ((0, 9), (9, 10), (10, 16))]
    assert_close(torch.cat(pieces, dim=1), full, rtol=1e-4, atol=1e-5)  # each key turned by its own position


def test_without_positions_the_first_block_sees_its_past_as_a_bag():
    """Permuting the inputs permutes the outputs for attention without a mask. Under the causal mask
    a position reads the *set* of tokens up to it, so shuffling the tokens before it leaves the first
    block's output there unchanged (later blocks read outputs that did change). Learned positions
    break that: they tell the block where each token stood."""
    torch.manual_seed(0)
    idx = torch.randint(65, (1, 16))
    shuffled = idx.clone()
    shuffled[0, :10] = idx[0, torch.randperm(10)]
    assert not torch.equal(shuffled, idx)
    for position, unchanged in (("none", True), ("learned", False)):
        model = seeded_model(position=position)
        with torch.no_grad():
            first = model.blocks[0](model.embed(idx))  # (1, 16, C)
            first_shuffled = model.blocks[0](model.embed(shuffled))
        assert torch.allclose(first[:, 10:], first_shuffled[:, 10:], atol=1e-6) == unchanged
        assert not torch.allclose(first[:, :10], first_shuffled[:, :10], atol=1e-3)


def test_positions_none_has_no_table():
    model = seeded_model(position="none")
    assert model.position_embedding is None
    idx = torch.randint(65, (1, 5))
    assert torch.equal(model.embed(idx), model.token_embedding(idx))
    assert model.num_params(embeddings=False) == model.num_params() - 65 * 32


# ---- attention_scale ---------------------------------------------------------------------------


def test_scale_off_gives_raw_dot_products_on_both_paths():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 9, 8).unbind(0)
    mask = torch.ones(9, 9, dtype=torch.bool).tril()
    by_hand = torch.softmax((q @ k.transpose(-2, -1)).masked_fill(~mask, float("-inf")), dim=-1) @ v
    y, maps = attend_with_maps(q, k, v, scale=1.0)
    assert_close(maps.scores, q @ k.transpose(-2, -1))
    assert_close(y, by_hand)
    assert_close(attend(q, k, v, scale=1.0), by_hand)  # the fused kernel gets the same scale
    for Tq in (1, 4):  # after a cache: one new token, or a few
        assert_close(attend(q[:, :, -Tq:], k, v, scale=1.0), by_hand[:, :, -Tq:])
    assert not torch.allclose(attend(q, k, v), by_hand)


def test_scale_off_in_the_model():
    torch.manual_seed(0)
    config = dataclasses.replace(SMALL, attention_scale=False)
    attn = ExtendedAttention(config).eval()
    x = torch.randn(2, 12, 32)
    with torch.no_grad():
        y, maps = attn.forward_with_maps(x)
        q, k, _ = attn.queries_keys_values(x)
        assert_close(maps.scores, q @ k.transpose(-2, -1))
        assert_close(attn(x), y)
    assert seeded_model(attention_scale=False).blocks[1].attn.scale == 1.0
    with pytest.raises(ConfigError, match="single Head always scales"):
        AttentionLanguageModel(dataclasses.replace(config, n_head=1))


# ---- residual, norm, feed_forward --------------------------------------------------------------


@pytest.mark.parametrize(
    ("switches", "by_hand"),
    [
        ({"residual": False}, lambda b, x: b.ffwd(b.ln2(b.attn(b.ln1(x))))),
        ({"norm": "post"}, lambda b, x: (lambda h: b.ln2(h + b.ffwd(h)))(b.ln1(x + b.attn(x)))),
        ({"norm": "post", "residual": False}, lambda b, x: b.ln2(b.ffwd(b.ln1(b.attn(x))))),
        ({"norm": "none"}, lambda b, x: (lambda h: h + b.ffwd(h))(x + b.attn(x))),
        ({"feed_forward": False}, lambda b, x: x + b.attn(b.ln1(x))),
    ],
    ids=["no-residual", "post-norm", "post-norm-no-residual", "no-norm", "attention-only"],
)
def test_block_switches_compute_what_they_say(switches, by_hand):
    torch.manual_seed(0)
    block = ExtendedBlock(dataclasses.replace(SMALL, **switches)).eval()
    x = torch.randn(2, 16, 32)
    with torch.no_grad():
        assert_close(block(x), by_hand(block, x))
        assert_close(teaching_path(block, x), block(x), atol=1e-5, rtol=1e-5)


def test_norm_none_leaves_no_layer_norm_and_attention_only_no_feed_forward():
    no_norm = seeded_model(norm="none")
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in no_norm.modules())
    post = seeded_model(norm="post")
    assert isinstance(post.ln_f, torch.nn.Identity), "post-norm blocks end normalised"
    attention_only = seeded_model(feed_forward=False)
    assert all(block.ffwd is None for block in attention_only.blocks)
    assert attention_only.num_params() < seeded_model().num_params()
    idx = torch.randint(65, (2, 16))
    for model in (no_norm, post, attention_only):
        logits, loss = model(idx, idx)
        assert logits.shape == (2, 16, 65) and abs(loss.item() - math.log(65)) < 0.5


# ---- config and checkpoints --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"position": "alibi"}, "position='alibi' must be one of learned, sinusoidal, rope, none"),
        ({"norm": "rms"}, "norm='rms' must be one of pre, post, none"),
        ({"residual": "yes"}, "residual='yes' must be True or False"),
        ({"attention_scale": 1}, "attention_scale=1 must be True or False"),
        ({"position": "rope", "n_embd": 12, "n_head": 4}, "head_size=3 (n_embd / n_head) must be even"),
        ({"position": "sinusoidal", "n_embd": 15, "n_head": 3}, "n_embd=15 must be even"),
    ],
)
def test_bad_switches_say_what_to_change(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GPTConfig(**kwargs)


@pytest.mark.parametrize(
    "switches",
    [
        {"position": "sinusoidal"},
        {"position": "rope", "attention_scale": False},
        {"position": "none", "norm": "post", "residual": False},
        {"norm": "none", "feed_forward": False},
    ],
)
def test_checkpoints_keep_the_switches(tmp_path, char_tokenizer, switches):
    model = seeded_model(**switches)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer)).model.eval()
    assert all(getattr(loaded.config, name) == value for name, value in switches.items())
    idx = torch.randint(65, (2, 16))
    assert torch.equal(model(idx)[0], loaded(idx)[0])


def test_checkpoints_from_before_the_switches_load_as_todays_model(tmp_path, char_tokenizer):
    model = seeded_model()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer)
    payload = torch.load(path, weights_only=True)
    for name in ("position", "attention_scale", "residual", "norm", "feed_forward"):
        del payload["model"]["config"][name]  # as written before they existed
    torch.save(payload, path)
    loaded = load_checkpoint(path).model.eval()
    assert loaded.config == model.config
    idx = torch.randint(65, (2, 16))
    assert torch.equal(model(idx)[0], loaded(idx)[0])
