import dataclasses
import math

import pytest
import torch
from torch.testing import assert_close

from attention_playground import (
    PRESETS,
    AttentionLanguageModel,
    BigramLanguageModel,
    ConfigError,
    ExtendedGPT,
    FeedForward,
    GPTConfig,
    generate,
    get_batch,
)
from attention_playground.nn.activations import ReLUSquared
from attention_playground.nn.sampling import sample_text


@pytest.mark.parametrize(
    "make",
    [
        lambda: BigramLanguageModel(65),
        lambda: AttentionLanguageModel(GPTConfig(block_size=32, n_embd=32, n_head=1)),
        lambda: AttentionLanguageModel(GPTConfig(block_size=32, n_embd=32, n_head=4), feed_forward=True),
        lambda: ExtendedGPT(GPTConfig(block_size=32, n_embd=32, n_head=4, n_layer=2)),
    ],
    ids=["bigram", "single-head", "multi-head+ffwd", "gpt"],
)
def test_every_model_has_one_contract_and_starts_near_ln_v(make, shakespeare_splits):
    torch.manual_seed(1337)
    model = make()
    x, y = get_batch(shakespeare_splits.train, 8, 32, torch.Generator().manual_seed(0))
    logits, loss = model(x, y)
    assert logits.shape == (8, 32, 65), "logits for every position: (B, T, V)"
    assert abs(loss.item() - math.log(65)) < 0.3
    logits_only, no_loss = model(x)
    assert no_loss is None and torch.equal(logits_only, logits)


def test_gpt2_sized_vocabulary_starts_near_ln_v():
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(vocab_size=50257, block_size=16, n_embd=32, n_head=2, n_layer=1))
    idx = torch.randint(50257, (2, 16))
    _, loss = model(idx, idx)
    assert abs(loss.item() - math.log(50257)) < 0.3


def test_lecture_preset_has_the_lectures_size():
    model = ExtendedGPT(PRESETS["lecture"].model_config(65))
    assert model.num_params() == 10_788_929  # the lecture's "10.788929 M parameters"
    tables = model.token_embedding.weight.numel() + model.position_embedding.weight.numel()
    assert model.num_params(embeddings=False) == 10_788_929 - tables


@pytest.mark.parametrize(
    ("make", "block_size", "supports_kv_cache", "has_attention"),
    [
        (lambda: BigramLanguageModel(65), None, False, False),
        (lambda: AttentionLanguageModel(GPTConfig(block_size=16, n_embd=32, n_head=1)), 16, False, True),
        (lambda: ExtendedGPT(GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=1)), 16, True, True),
    ],
    ids=["bigram", "attention-lm", "gpt"],
)
def test_every_model_states_what_it_can_do(make, block_size, supports_kv_cache, has_attention):
    model = make()
    assert (model.vocab_size, model.block_size) == (65, block_size)
    assert (model.supports_kv_cache, model.has_attention) == (supports_kv_cache, has_attention)
    idx = torch.zeros(1, 4, dtype=torch.long)
    if not has_attention:
        with pytest.raises(TypeError, match="has no attention to show"):
            model.attention_maps(idx)
    if not supports_kv_cache:
        with pytest.raises(TypeError, match="has no KV cache: sample with use_cache=False"):
            model.new_kv_cache(1)
        # use_cache=True asks for the cache only where there is one: the plain loop, the same tokens
        plain = generate(model, idx, 20, generator=torch.Generator().manual_seed(0), use_cache=False)
        assert torch.equal(plain, generate(model, idx, 20, generator=torch.Generator().manual_seed(0)))


def test_qkv_bias_and_bias_set_different_layers():
    gpt = ExtendedGPT(GPTConfig(block_size=8, n_embd=16, n_head=2, n_layer=1, bias=False, qkv_bias=True))
    attn = gpt.blocks[0].attn
    assert attn.qkv.bias is not None and attn.proj.bias is None and gpt.lm_head.bias is None
    gpt = ExtendedGPT(GPTConfig(block_size=8, n_embd=16, n_head=2, n_layer=1, bias=True, qkv_bias=False))
    attn = gpt.blocks[0].attn
    assert attn.qkv.bias is None and attn.proj.bias is not None and gpt.blocks[0].ln1.bias is not None
    head = AttentionLanguageModel(GPTConfig(block_size=8, n_embd=16, n_head=1, qkv_bias=True)).attention
    assert head.query.bias is not None and head.key.bias is not None and head.value.bias is not None


@pytest.mark.parametrize("embedding_dropout", [True, False])
def test_embedding_dropout_only_where_the_config_says(embedding_dropout):
    torch.manual_seed(0)
    config = GPTConfig(block_size=8, n_embd=32, n_head=2, n_layer=1, dropout=0.5)
    model = ExtendedGPT(dataclasses.replace(config, embedding_dropout=embedding_dropout)).train()
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    idx = torch.randint(65, (2, 8))
    model(idx)
    model(idx)
    embeddings = model.embed(idx)
    assert torch.equal(seen[0], seen[1]) == (not embedding_dropout)
    assert torch.equal(seen[0], embeddings) == (not embedding_dropout)


@pytest.mark.parametrize("attention_dropout", [True, False])
@pytest.mark.parametrize("n_head", [1, 2])
def test_attention_dropout_drops_the_weights_only_where_the_config_says(attention_dropout, n_head):
    config = GPTConfig(
        block_size=8, n_embd=16, n_head=n_head, dropout=0.5, attention_dropout=attention_dropout
    )
    attention = AttentionLanguageModel(config).attention.train()
    attention.resid_dropout = torch.nn.Identity()  # only the weights' dropout is left to draw
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        undropped = attention.eval()(x)
        dropped = [attention.train()(x) for _ in range(2)]
    # dropping weights changes the output and draws a new mask each call; not dropping them changes nothing
    assert torch.equal(dropped[0], undropped) == (not attention_dropout)
    assert torch.equal(dropped[0], dropped[1]) == (not attention_dropout)


def test_200_steps_on_one_batch_drive_the_loss_near_zero(shakespeare_splits):
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(block_size=16, n_embd=64, n_head=4, n_layer=2))
    x, y = get_batch(shakespeare_splits.train, 4, 16, torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1, f"could not memorise one batch: loss {loss.item():.3f}"


def test_generation_runs_past_block_size_and_is_reproducible(small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    start = torch.zeros(1, 1, dtype=torch.long)
    for use_cache in (False, True):
        a = generate(model, start, 40, generator=torch.Generator().manual_seed(1), use_cache=use_cache)
        b = generate(model, start, 40, generator=torch.Generator().manual_seed(1), use_cache=use_cache)
        assert a.shape == (1, 41) and torch.equal(a, b)


def test_greedy_with_and_without_cache_agree_within_the_block(small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    prompt = torch.randint(65, (2, 3))
    plain = generate(model, prompt, small_config.block_size - 3, temperature=0, use_cache=False)
    cached = generate(model, prompt, small_config.block_size - 3, temperature=0, use_cache=True)
    assert torch.equal(plain, cached)


def test_top_k_one_is_greedy(small_config):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    prompt = torch.randint(65, (1, 4))
    greedy = generate(model, prompt, 10, temperature=0)
    top1 = generate(model, prompt, 10, temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(greedy, top1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": -1}, "max_new_tokens=-1 must be a whole number >= 0"),
        ({"max_new_tokens": 5, "temperature": -0.5}, "temperature=-0.5 must be >= 0"),
        ({"max_new_tokens": 5, "top_k": 0}, "top_k=0 must be >= 1"),
    ],
)
def test_bad_sampling_arguments(small_config, kwargs, message):
    model = ExtendedGPT(small_config)
    with pytest.raises(ConfigError, match=message):
        generate(model, torch.zeros(1, 1, dtype=torch.long), **kwargs)


def test_sample_text_same_seed_same_text(small_config, char_tokenizer):
    torch.manual_seed(0)
    model = ExtendedGPT(small_config)
    a = sample_text(model, char_tokenizer, "ROMEO:", 30, seed=7)
    assert a.startswith("ROMEO:") and len(a) == 36
    assert a == sample_text(model, char_tokenizer, "ROMEO:", 30, seed=7)
    assert a != sample_text(model, char_tokenizer, "ROMEO:", 30, seed=8)


def test_prompt_with_unknown_character(small_config, char_tokenizer):
    from attention_playground import TokenizerError

    with pytest.raises(TokenizerError, match="character '€'"):
        sample_text(ExtendedGPT(small_config), char_tokenizer, "a€", 5)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(block_size=8, n_embd=32, n_head=2, n_layer=1, dropout=0.5))
    idx = torch.randint(65, (2, 8))
    model.eval()
    assert_close(model(idx)[0], model(idx)[0])
    model.train()
    assert not torch.allclose(model(idx)[0], model(idx)[0])


def test_relu_squared_has_autograds_gradient_and_second_order_is_refused():
    """ReLUSquared's hand-written backward equals autograd's own through relu(x).square()."""
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ReLUSquared(), (x,))
    grad_out = torch.tensor([1.0, -2.0, 3.0, 0.5, -1.5], dtype=torch.float64)
    (ours,) = torch.autograd.grad(ReLUSquared()(x), x, grad_out)
    (autograds,) = torch.autograd.grad(torch.relu(x).square(), x, grad_out)
    assert_close(ours, autograds)
    assert_close(ours, torch.tensor([0.0, 0.0, 0.0, 0.5, -9.0], dtype=torch.float64))  # 2 relu(x) grad
    (first,) = torch.autograd.grad(ReLUSquared()(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):  # once_differentiable: no silent wrong second derivative
        first.sum().backward()


@pytest.mark.parametrize(
    ("activation", "expected"),
    [("relu", [0.0, 0.0, 0.0, 1.0, 2.0]), ("gelu", None), ("relu_squared", [0.0, 0.0, 0.0, 1.0, 4.0])],
)
def test_feed_forward_applies_the_configured_activation(activation, expected):
    """Linear -> activation -> Linear: with identity-like weights the middle shows through."""
    ffwd = FeedForward(GPTConfig(n_embd=1, n_head=1, activation=activation))
    with torch.no_grad():
        ffwd.net[0].weight.copy_(torch.tensor([[1.0], [0.0], [0.0], [0.0]]))  # (4C, C)
        ffwd.net[2].weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # (C, 4C)
        x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])[:, None]  # (T, C)
        y = ffwd(x)[:, 0]
    expected = torch.tensor(expected) if expected else torch.nn.functional.gelu(x[:, 0])
    assert_close(y, expected)
