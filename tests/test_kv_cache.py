"""The KV cache computes what the plain loop computes: the same logits, the same greedy tokens within
block_size, and a defined, deterministic restart past it. (Its speed is measured by the bench.)"""

import pytest
import torch

from attention_playground import ExtendedGPT, GPTConfig, KVCache, generate

CONFIG = GPTConfig(vocab_size=65, block_size=24, n_embd=32, n_head=4, n_layer=2)


@pytest.fixture
def model() -> ExtendedGPT:
    torch.manual_seed(0)
    model = ExtendedGPT(CONFIG)
    with torch.no_grad():  # larger weights than at init: logits far apart, as in a trained model
        for p in model.parameters():
            p.mul_(8.0 if p.dim() >= 2 else 1.0)
    return model.eval()


def test_cached_logits_match_the_full_forward(model):
    """A prompt in one piece, then one token at a time, then three at once: each position's logits
    equal the full forward's, which reads the whole sequence at once."""
    idx = torch.randint(65, (2, CONFIG.block_size))
    with torch.no_grad():
        full, _ = model(idx)  # (B, T, V)
        cache = model.new_kv_cache(batch_size=2)
        pieces = [(0, 10), *[(t, t + 1) for t in range(10, 16)], (16, 19), (19, 24)]
        for start, end in pieces:
            logits, _ = model(idx[:, start:end], kv_cache=cache)
            torch.testing.assert_close(logits, full[:, start:end], rtol=1e-4, atol=1e-5)
        assert cache.length == CONFIG.block_size


def test_greedy_tokens_agree_within_block_size(model):
    for prompt_len in (1, 5):
        prompt = torch.randint(65, (3, prompt_len))
        new = CONFIG.block_size - prompt_len  # prompt + new tokens == block_size: no crop, no restart
        plain = generate(model, prompt, new, temperature=0, use_cache=False)
        cached = generate(model, prompt, new, temperature=0, use_cache=True)
        assert plain.shape == (3, CONFIG.block_size)
        assert torch.equal(plain, cached)


def test_sampled_tokens_agree_within_block_size_with_the_same_generator(model):
    prompt = torch.zeros((1, 1), dtype=torch.long)
    new = CONFIG.block_size - 1
    plain = generate(model, prompt, new, generator=torch.Generator().manual_seed(3), use_cache=False)
    cached = generate(model, prompt, new, generator=torch.Generator().manual_seed(3), use_cache=True)
    assert torch.equal(plain, cached)


def test_past_block_size_the_cache_restarts_from_the_last_half_block(model):
    """When the cache is full, the next token reads only the last block_size // 2 tokens."""
    prompt = torch.zeros((1, 1), dtype=torch.long)
    total = 3 * CONFIG.block_size
    out = generate(model, prompt, total, temperature=0, use_cache=True)
    assert out.shape == (1, total + 1)
    assert torch.equal(out, generate(model, prompt, total, temperature=0, use_cache=True)), "deterministic"
    assert out.min() >= 0 and out.max() < CONFIG.vocab_size
    half = CONFIG.block_size // 2
    with torch.no_grad():
        # out[:, :block_size] fill the cache and give out[:, block_size]; the next token is the first
        # one after the restart, and reads only the last half block before it
        context = out[:, CONFIG.block_size + 1 - half : CONFIG.block_size + 1]
        logits, _ = model(context)
    assert out[0, CONFIG.block_size + 1].item() == logits[0, -1].argmax().item()


def test_plain_loop_past_block_size_reads_the_last_block(model):
    prompt = torch.zeros((1, 1), dtype=torch.long)
    out = generate(model, prompt, CONFIG.block_size + 5, temperature=0, use_cache=False)
    with torch.no_grad():
        logits, _ = model(out[:, -1 - CONFIG.block_size : -1])
    assert out[0, -1].item() == logits[0, -1].argmax().item()


def test_a_full_cache_refuses_more_positions():
    cache = KVCache(n_layer=1, batch_size=1, n_head=2, max_len=4, head_size=8)
    k = torch.zeros(1, 2, 3, 8)
    cache.update(0, k, k)
    cache.advance(3)
    with pytest.raises(ValueError, match="KV cache holds 4 positions; 5 were asked for"):
        cache.update(0, torch.zeros(1, 2, 2, 8), torch.zeros(1, 2, 2, 8))


def test_cache_follows_the_model_dtype(model):
    cache = model.to(torch.bfloat16).new_kv_cache(batch_size=1)
    assert cache.keys.dtype == torch.bfloat16 and cache.keys.shape == (2, 1, 4, CONFIG.block_size, 8)
