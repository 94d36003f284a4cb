"""Inside one prediction, as numbers: the forward trace, the logit lens, direct logit attribution, the
embedding views and the next-token distribution, each checked against the model's own forward."""

import pytest
import torch

from attention_playground import (
    GPT,
    AttentionLanguageModel,
    BigramLanguageModel,
    ExtendedGPT,
    GPTConfig,
    TokenizerError,
)
from attention_playground.analysis.embeddings import (
    character_class,
    neighbour_similarity,
    position_similarity,
    principal_components,
    token_map,
)
from attention_playground.analysis.lens import direct_logit_attribution, logit_lens
from attention_playground.analysis.prediction import next_token_distribution, read_prompt
from attention_playground.analysis.trace import trace_forward
from attention_playground.nn.decoding import sampling_probs

PROMPT = "ROMEO:\nBut, soft! what light"


def shaken(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The model with every parameter moved off its init (biases and LayerNorm gains too), so that no
    part of a sum is zero by accident."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.2)
    return model.eval()


def make(kind: str, **switches) -> torch.nn.Module:
    torch.manual_seed(0)
    sizes = {"vocab_size": 65, "block_size": 32, "n_embd": 16, "n_head": 2, "n_layer": 3}
    config = GPTConfig(**{**sizes, **switches})
    if kind == "gpt":
        return shaken(GPT(config))
    if kind == "extended":
        return shaken(ExtendedGPT(config))
    return shaken(AttentionLanguageModel(config, feed_forward=kind == "attention+ffwd"))


def model_logits(model, tokenizer, text=PROMPT) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([tokenizer.encode(text)], device=model.device))[0]


MODELS = [
    ("gpt", {}),
    ("gpt", {"bias": True, "qkv_bias": True, "tie_weights": True, "activation": "gelu_tanh"}),
    ("extended", {"position": "rope", "qk_norm": True}),
    ("extended", {"position": "sinusoidal", "tie_weights": True}),
]


@pytest.mark.parametrize(
    ("kind", "switches"), MODELS + [("attention", {"n_head": 1}), ("attention+ffwd", {})]
)
def test_traced_logits_are_the_models_own(char_tokenizer, kind, switches):
    model = make(kind, **switches)
    trace = trace_forward(model, char_tokenizer, PROMPT)
    expected = model_logits(model, char_tokenizer)
    torch.testing.assert_close(trace.logits, expected)
    torch.testing.assert_close(trace.step("lm_head").tensor, expected)
    torch.testing.assert_close(trace.probs.sum(-1), torch.ones(1, len(PROMPT)))
    assert trace.names[0] == "idx" and trace.names[-2:] == ["lm_head", "softmax"]
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules()), "hooks removed"


def test_trace_records_each_step_of_a_block_with_its_shape(char_tokenizer):
    model = make("gpt")
    trace = trace_forward(model, char_tokenizer, PROMPT)
    T, C, nh = len(PROMPT), 16, 2
    for i in range(3):
        assert trace.step(f"blocks.{i}.qkv → q".replace(".qkv", ".attn.qkv")).shape == (1, nh, T, C // nh)
        weights = trace.step(f"blocks.{i}.attn weights").tensor
        assert weights.shape == (1, nh, T, T) and (weights.triu(1) == 0).all()
        maps = model.attention_maps(torch.tensor([char_tokenizer.encode(PROMPT)]))
        torch.testing.assert_close(weights, maps.weights[i].detach())
        # the residual stream: what entered the block, plus the two writes, is what left it
        before = trace.step("blocks.0 input" if i == 0 else f"blocks.{i - 1}").tensor
        after = before + trace.step(f"blocks.{i}.attn").tensor + trace.step(f"blocks.{i}.ffwd").tensor
        torch.testing.assert_close(after, trace.step(f"blocks.{i}").tensor)
    embeddings = trace.step("token_embedding").tensor + trace.step("position_embedding").tensor
    torch.testing.assert_close(embeddings, trace.step("blocks.0 input").tensor)
    assert trace.step("blocks.0.attn.qkv → q").size == T * C
    table = trace.table()
    assert (
        "blocks.2.ffwd" in table
        and f"(1, {nh}, {T}, {T})" in table
        and len(table.splitlines()) == 1 + len(trace.steps)
    )


def test_trace_crops_a_long_prompt_to_the_last_block_and_refuses_a_model_without_attention(char_tokenizer):
    model = make("gpt")
    trace = trace_forward(model, char_tokenizer, PROMPT * 3)
    assert len(trace.prompt.ids) == 32 and "block_size=32" in trace.prompt.note
    assert trace.prompt.ids == char_tokenizer.encode((PROMPT * 3)[-32:])
    with pytest.raises(TypeError, match="has none to show"):
        trace_forward(BigramLanguageModel(65), char_tokenizer, PROMPT)
    with pytest.raises(ValueError, match="empty"):
        trace_forward(model, char_tokenizer, "")


@pytest.mark.parametrize(("kind", "switches"), MODELS)
def test_the_last_lens_layer_is_the_models_output(char_tokenizer, kind, switches):
    model = make(kind, **switches)
    lens = logit_lens(model, char_tokenizer, PROMPT)
    expected = model_logits(model, char_tokenizer)[0]
    assert lens.logits.shape == (4, len(PROMPT), 65) and lens.layers == [
        "embeddings",
        "block 0",
        "block 1",
        "block 2",
    ]
    torch.testing.assert_close(lens.logits[-1], expected)
    assert torch.equal(lens.final_ids, expected.argmax(-1))
    torch.testing.assert_close(lens.final_probs[-1], lens.top_probs[-1])
    assert lens.guesses[-1] == [char_tokenizer.decode([i]).replace(" ", "␣").replace("\n", "⏎")
                                for i in expected.argmax(-1).tolist()]  # fmt: skip
    # the first row reads the embeddings alone: ln_f and lm_head on token + position
    idx = torch.tensor([char_tokenizer.encode(PROMPT)])
    with torch.no_grad():
        x = (
            model.token_embedding(idx) + model.position_embedding(torch.arange(idx.size(1)))
            if kind == "gpt"
            else None
        )
        if x is not None:
            torch.testing.assert_close(lens.logits[0], model.lm_head(model.ln_f(x))[0])


def test_settles_at_is_the_first_layer_from_which_the_final_guess_stays_on_top(char_tokenizer):
    lens = logit_lens(make("gpt"), char_tokenizer, PROMPT)
    final = lens.final_ids[-1].item()
    lens.top_ids[:, -1] = torch.tensor([final, 7, final, final])
    assert lens.settles_at() == 2
    lens.top_ids[:, -1] = torch.tensor([final, final, final, final])
    assert lens.settles_at() == 0


@pytest.mark.parametrize(("kind", "switches"), MODELS)
def test_attribution_parts_add_up_to_the_logit(char_tokenizer, kind, switches):
    model = make(kind, **switches)
    logits = model_logits(model, char_tokenizer)[0]
    for position, token in ((-1, None), (5, 3), (0, 40)):
        a = direct_logit_attribution(model, char_tokenizer, PROMPT, token=token, position=position)
        want = logits[position].argmax().item() if token is None else token
        assert a.token == want and a.position == position % len(PROMPT)
        assert a.logit == pytest.approx(logits[position, want].item(), abs=1e-5)
        assert a.total == pytest.approx(a.logit, abs=1e-4)
        assert len(a.names) == 1 + 3 * (2 + 1) + 1 and a.names[:4] == [
            "embeddings",
            "L0 H0",
            "L0 H1",
            "L0 ffwd",
        ]
        assert (a.values[:-1] != 0).all(), "every part wrote something"


def test_attribution_moves_with_a_knocked_out_head_by_its_share_through_a_frozen_scale(char_tokenizer):
    """Zeroing the last layer's head 1 takes away its share; the parts written before it are the same
    vectors, read through a new frozen scale: each of their shares changes by one and the same factor."""
    from attention_playground.analysis.ablation import knock_out

    model = make("gpt")
    a = direct_logit_attribution(model, char_tokenizer, PROMPT)
    with knock_out(model, [(2, 1)]):
        b = direct_logit_attribution(model, char_tokenizer, PROMPT, token=a.token)
    index = a.names.index("L2 H1")
    assert b.values[index] == 0
    ratios = b.values[: index - 1] / a.values[: index - 1]  # the embeddings and blocks 0, 1
    torch.testing.assert_close(ratios, torch.full_like(ratios, ratios[0].item()))
    assert ratios[0] != 1.0  # the scale did change: the test compares what the frozen scale means


def test_attribution_refuses_what_it_cannot_split(char_tokenizer):
    with pytest.raises(ValueError, match="pre-norm residual"):
        direct_logit_attribution(make("extended", norm="post"), char_tokenizer, PROMPT)
    with pytest.raises(TypeError, match="GPT or an ExtendedGPT"):
        direct_logit_attribution(make("attention+ffwd"), char_tokenizer, PROMPT)
    with pytest.raises(ValueError, match="position=40"):
        direct_logit_attribution(make("gpt"), char_tokenizer, PROMPT, position=40)
    with pytest.raises(ValueError, match="token=65"):
        direct_logit_attribution(make("gpt"), char_tokenizer, PROMPT, token=65)


def test_character_classes():
    cases = {
        "a": "vowel", "t": "consonant", "T": "capital", "E": "capital", "3": "digit", "!": "punctuation",
        " ": "whitespace", "\n": "whitespace", " the": "consonant", " And": "capital", "'": "punctuation",
    }  # fmt: skip
    assert {piece: character_class(piece) for piece in cases} == cases


def test_token_map_is_the_tables_principal_components(char_tokenizer):
    model = make("gpt")
    tokens = token_map(model, char_tokenizer)
    table = model.token_embedding.weight.detach()
    centred = table - table.mean(0)
    assert tokens.coords.shape == (65, 4)
    variance = tokens.coords.var(0) * 64 / (centred.pow(2).sum() / 64 * 64)
    torch.testing.assert_close(variance, tokens.explained, rtol=1e-4, atol=1e-6)
    assert (tokens.explained[:-1] >= tokens.explained[1:]).all()
    # the first component is the direction of largest variance: no unit vector does better
    unit = torch.nn.functional.normalize(
        torch.randn(16, 200, generator=torch.Generator().manual_seed(0)), dim=0
    )
    assert (centred @ unit).var(0).max() <= tokens.coords[:, 0].var() + 1e-6
    counts = {name: tokens.classes.count(name) for name in set(tokens.classes)}
    assert counts == {
        "vowel": 5,
        "consonant": 21,
        "capital": 26,
        "digit": 1,
        "punctuation": 10,
        "whitespace": 2,
    }
    assert tokens.labels[char_tokenizer.encode(" ")[0]] == "␣"
    again, _ = principal_components(table.clone(), 4)
    torch.testing.assert_close(again, tokens.coords)  # the same signs every time


def test_position_similarity(char_tokenizer):
    similarity = position_similarity(make("gpt"))
    assert similarity.shape == (32, 32)
    torch.testing.assert_close(similarity.diagonal(), torch.ones(32))
    torch.testing.assert_close(similarity, similarity.T)
    sines = position_similarity(make("extended", position="sinusoidal"))
    assert neighbour_similarity(sines, 1) > neighbour_similarity(sines, 16)  # nearby sinusoids look alike
    with pytest.raises(ValueError, match="RoPE"):
        position_similarity(make("extended", position="rope"))


def test_next_token_distribution_is_what_sampling_draws_from(char_tokenizer):
    model = make("gpt")
    logits = model_logits(model, char_tokenizer)[0, -1]
    view = next_token_distribution(model, char_tokenizer, PROMPT, temperature=0.7, top_k=12, top_p=0.8)
    torch.testing.assert_close(view.probs, sampling_probs(logits, 0.7, 12, 0.8))
    torch.testing.assert_close(view.model_probs, logits.softmax(-1))
    assert 1 <= view.kept <= 12 and [p for _, _, p in view.top] == sorted(
        (p for _, _, p in view.top), reverse=True
    )
    greedy = next_token_distribution(model, char_tokenizer, PROMPT, temperature=0)
    assert greedy.kept == 1 and greedy.top[0][0] == logits.argmax().item()
    with pytest.raises(ValueError, match="top_p"):
        next_token_distribution(model, char_tokenizer, PROMPT, top_p=1.5)
    with pytest.raises(TokenizerError):
        read_prompt(model, char_tokenizer, "naïve")


@pytest.mark.cuda
def test_the_views_read_a_model_on_the_gpu(char_tokenizer):
    model = make("gpt").cuda()
    trace = trace_forward(model, char_tokenizer, PROMPT)
    torch.testing.assert_close(trace.logits, model_logits(model, char_tokenizer).cpu())
    assert logit_lens(model, char_tokenizer, PROMPT).logits.device.type == "cpu"
    a = direct_logit_attribution(model, char_tokenizer, PROMPT)
    assert a.values.device.type == "cpu" and a.total == pytest.approx(a.logit, abs=1e-3)
    assert next_token_distribution(model, char_tokenizer, PROMPT, top_p=0.9).probs.device.type == "cpu"
