import pytest
import torch
from torch.testing import assert_close

from attention_playground import (
    GPT,
    AttentionLanguageModel,
    ExtendedAttention,
    ExtendedGPT,
    GPTConfig,
    Head,
    MultiHeadAttention,
    attend,
    attend_with_maps,
    causal_average,
    causal_mask,
    masked_softmax,
)
from attention_playground.nn.attention import recording_attention


@pytest.fixture
def toy() -> torch.Tensor:
    torch.manual_seed(1337)
    return torch.randn(4, 8, 2)  # the lecture's (B, T, C)


def test_three_bag_of_words_averages_agree(toy):
    B, T, C = toy.shape
    loop = torch.zeros_like(toy)
    for b in range(B):
        for t in range(T):
            loop[b, t] = toy[b, : t + 1].mean(0)
    weights = masked_softmax(torch.zeros(T, T))  # uniform over the past
    assert_close(causal_average(toy), loop)
    assert_close(weights @ toy, loop)


def test_masked_weights_are_zero_above_the_diagonal_and_rows_sum_to_one():
    torch.manual_seed(0)
    weights = masked_softmax(torch.randn(3, 5, 10, 10) * 5)
    assert torch.all(weights.triu(diagonal=1) == 0), "the future must get exactly zero weight"
    assert_close(weights.sum(-1), torch.ones(3, 5, 10))
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))


def test_temperature_sharpens():
    torch.manual_seed(0)
    scores = torch.randn(6, 6)
    last = slice(-1, None)  # the last query reads all 6 keys; the first reads only itself (always 1)
    assert masked_softmax(scores, temperature=0.1)[last].max() > masked_softmax(scores)[last].max()


def _future_change_leaves_past(module_output, x, t):
    """Changing the input at position t must not change any output before t."""
    changed = x.clone()
    changed[:, t:] = torch.randn_like(changed[:, t:])
    before, after = module_output(x), module_output(changed)
    assert_close(before[:, :t], after[:, :t])
    assert not torch.allclose(before[:, t:], after[:, t:]), "the change should matter from t on"


@pytest.mark.parametrize("fast", [True, False])
def test_head_and_mha_never_read_the_future(small_config, fast):
    torch.manual_seed(0)
    x = torch.randn(2, 12, small_config.n_embd)
    head = Head(small_config.n_embd, 8)
    mha = MultiHeadAttention(small_config)

    def run(module):
        return module if fast else (lambda inp: module.forward_with_maps(inp)[0])

    _future_change_leaves_past(run(head), x, 7)
    _future_change_leaves_past(run(mha), x, 7)


def test_gpt_never_reads_the_future(small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config).eval()
    idx = torch.randint(65, (2, 16))
    changed = idx.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 65
    logits, _ = model(idx)
    logits_changed, _ = model(changed)
    assert_close(logits[:, :10], logits_changed[:, :10])
    assert not torch.allclose(logits[:, 10:], logits_changed[:, 10:])


@pytest.mark.parametrize("Tq", [9, 4, 1], ids=["causal", "after-a-cache", "one-new-token"])
def test_sdpa_path_equals_the_explicit_path(Tq):
    """attend (fused) == attend_with_maps (step by step), also for the last Tq queries over 9 keys."""
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 9, 8).unbind(0)
    q = q[:, :, -Tq:]
    fast = attend(q, k, v)
    slow, maps = attend_with_maps(q, k, v)
    assert_close(fast, slow)
    assert maps.weights.shape == maps.scores.shape == (2, 4, Tq, 9)
    assert_close(maps.weights, masked_softmax(maps.scores))
    assert torch.all(maps.weights.triu(diagonal=9 - Tq + 1) == 0), "query t reads keys 0..t only"
    assert_close(maps.weights[:, :, -1], torch.softmax(maps.scores[:, :, -1], dim=-1))  # the last: all


@pytest.mark.parametrize(
    "make",
    [
        lambda c: Head(c.n_embd, 8, bias=True),
        lambda c: MultiHeadAttention(c),
        lambda c: ExtendedAttention(c),
    ],
    ids=["head", "mha", "extended"],
)
def test_forward_equals_forward_with_maps(small_config, make):
    torch.manual_seed(0)
    module = make(small_config).eval()
    x = torch.randn(2, 9, small_config.n_embd)
    with torch.no_grad():
        y = module(x)
        y_teaching, maps = module.forward_with_maps(x)
    assert_close(y, y_teaching)
    nh = 1 if isinstance(module, Head) else small_config.n_head
    assert maps.weights.shape == maps.scores.shape == (2, nh, 9, 9)
    assert_close(maps.weights, masked_softmax(maps.scores))


@pytest.mark.parametrize("make", [GPT, ExtendedGPT], ids=["gpt", "extended"])
def test_attention_maps_run_the_teaching_path_through_the_whole_model(small_config, make):
    """model.attention_maps swaps each layer's output for its teaching path's: the logits it leads to
    equal the fast path's, and every layer's maps are those of that layer's own input."""
    torch.manual_seed(0)
    model = make(small_config).eval()
    idx = torch.randint(65, (2, 9))
    with torch.no_grad(), recording_attention(model) as recorded:
        teaching_logits, _ = model(idx)
    assert_close(teaching_logits, model(idx)[0])
    assert len(recorded) == small_config.n_layer
    assert_close(model.attention_maps(idx).weights, torch.stack([m.weights for m in recorded]))
    assert_close(
        recorded[0].weights,
        model.blocks[0]
        .attn.forward_with_maps(
            model.blocks[0].ln1(model.token_embedding(idx) + model.position_embedding(torch.arange(9)))
        )[1]
        .weights,
    )


def test_mha_equals_heads_side_by_side_then_projection():
    torch.manual_seed(0)
    heads = [Head(32, 8, bias=False) for _ in range(4)]
    proj = torch.nn.Linear(32, 32, bias=False)
    x = torch.randn(2, 10, 32)
    by_hand = proj(torch.cat([h(x) for h in heads], dim=-1))
    assert_close(MultiHeadAttention.from_heads(heads, proj)(x), by_hand)


def test_from_heads_keeps_which_layers_have_biases():
    """Heads with q/k/v biases and a projection without: the batched module has the same layout."""
    torch.manual_seed(0)
    heads = [Head(16, 4, bias=True) for _ in range(4)]
    proj = torch.nn.Linear(16, 16, bias=False)
    mha = MultiHeadAttention.from_heads(heads, proj)
    assert mha.qkv.bias is not None and mha.proj.bias is None
    x = torch.randn(2, 5, 16)
    assert_close(mha(x), proj(torch.cat([h(x) for h in heads], dim=-1)))


def test_attention_maps_come_from_the_training_path(small_config):
    torch.manual_seed(0)
    idx = torch.randint(65, (1, 12))
    for model in (
        ExtendedGPT(small_config),
        AttentionLanguageModel(GPTConfig(block_size=16, n_embd=32, n_head=1)),
    ):
        maps = model.eval().attention_maps(idx)
        L = getattr(model.config, "n_layer", 1) if isinstance(model, ExtendedGPT) else 1
        nh = model.config.n_head
        assert maps.weights.shape == maps.scores.shape == (L, 1, nh, 12, 12)
        assert torch.all(maps.weights.triu(1) == 0)
        assert_close(maps.weights.sum(-1), torch.ones(L, 1, nh, 12))
