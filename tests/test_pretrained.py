"""GPT-2's weights in our GPT, tested offline: a tiny random GPT2LMHeadModel built by transformers from a
GPT2Config (no download), saved as safetensors, loaded with our mapping, compared logit for logit."""

import json

import pytest
import torch

from attention_playground import GPT, CheckpointError, ExtendedGPT, GPTConfig
from attention_playground.nn import pretrained

transformers = pytest.importorskip("transformers", reason="the GPT-2 tests need transformers (the dev extra)")
pytest.importorskip("safetensors", reason="the GPT-2 tests need safetensors (the dev extra)")

VOCAB, BLOCK = 101, 24


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """(folder, transformers' model): a 2-block GPT-2 with random weights, saved as save_pretrained does."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=BLOCK, n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # random biases too, so a bias mapped to the wrong place shows
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(folder, safe_serialization=True)
    return folder, model


def ids(batch: int = 2, T: int = 17) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, T), generator=torch.Generator().manual_seed(1))


def max_logit_difference(ours, theirs) -> float:
    idx = ids()
    with torch.no_grad():
        return (ours(idx)[0] - theirs(idx).logits).abs().max().item()


@pytest.mark.parametrize("cls", [GPT, ExtendedGPT])
def test_loaded_gpt2_gives_transformers_logits(tiny_gpt2, cls):
    folder, theirs = tiny_gpt2
    ours = cls.from_pretrained(str(folder))
    assert isinstance(ours, cls) and not ours.training
    assert ours.lm_head.weight is ours.token_embedding.weight, "GPT-2 ties its output layer"
    c = ours.config
    assert (c.activation, c.bias, c.qkv_bias, c.tie_weights) == ("gelu_tanh", True, True, True)
    assert c.dropout == 0.0
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (2, 4, 32, BLOCK, VOCAB)
    assert max_logit_difference(ours, theirs) < 1e-5


def test_a_planted_transposition_mistake_fails_the_comparison(tiny_gpt2, monkeypatch):
    folder, theirs = tiny_gpt2
    # c_proj is square (C, C): left untransposed it still loads, and only the logits tell
    monkeypatch.setattr(pretrained, "CONV1D", ("attn.c_attn.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"))
    wrong = GPT.from_pretrained(str(folder))
    assert max_logit_difference(wrong, theirs) > 1e-3


def test_the_kv_cache_on_loaded_gpt2_gives_the_same_tokens(tiny_gpt2):
    model = ExtendedGPT.from_pretrained(str(tiny_gpt2[0]))
    prompt = ids(batch=1, T=5)
    new = BLOCK - prompt.size(1)
    plain = model.generate(prompt, new, temperature=0, use_cache=False)
    cached = model.generate(prompt, new, temperature=0, use_cache=True)
    assert torch.equal(plain, cached)
    seeded = [
        model.generate(prompt, new, top_p=0.9, generator=torch.Generator().manual_seed(3), use_cache=cache)
        for cache in (False, True)
    ]
    assert torch.equal(*seeded)


def test_save_pretrained_writes_a_folder_both_libraries_read(tiny_gpt2, tmp_path):
    folder, theirs = tiny_gpt2
    ours = GPT.from_pretrained(str(folder))
    written = ours.save_pretrained(tmp_path / "ours")
    assert {p.name for p in written.iterdir()} == {"config.json", "model.safetensors"}
    assert json.loads((written / "config.json").read_text())["model_type"] == "gpt2"
    again = ExtendedGPT.from_pretrained(str(written))
    assert max_logit_difference(again, theirs) < 1e-5
    reread = transformers.GPT2LMHeadModel.from_pretrained(written).eval()
    with torch.no_grad():
        torch.testing.assert_close(reread(ids()).logits, theirs(ids()).logits)


def test_save_pretrained_refuses_a_model_that_is_not_gpt2_shaped(tmp_path):
    lecture = GPT(GPTConfig(vocab_size=65, block_size=16, n_embd=16, n_head=2, n_layer=1))
    with pytest.raises(CheckpointError, match="bias=False"):
        lecture.save_pretrained(tmp_path / "lecture")
    assert not (tmp_path / "lecture").exists(), "nothing written"


def test_an_unknown_name_or_a_missing_download_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="neither a folder nor a GPT-2 size"):
        GPT.from_pretrained("gpt3")
    with pytest.raises(CheckpointError, match="no config.json"):
        GPT.from_pretrained(str(tmp_path))
    monkeypatch.setattr(pretrained, "cached_folder", lambda name, download: None)  # no cache, no network
    with pytest.raises(CheckpointError) as error:
        GPT.from_pretrained("gpt2-medium")
    message = str(error.value)
    assert "\n" not in message and '".[pretrained]"' in message and "gpt2-medium" in message


def test_the_mapping_names_every_parameter_once():
    config = pretrained.gpt2_config(pretrained.hf_config(GPTConfig(vocab_size=50, block_size=8, n_embd=8,
                                                                   n_head=2, n_layer=3)))  # fmt: skip
    model = GPT(config)
    mapped = set(pretrained.name_pairs(3).values()) | {"lm_head.weight", "lm_head.bias"}
    assert mapped == set(model.state_dict())
    assert pretrained.GPT2_SIZES["gpt2"] == (12, 12, 768)


@pytest.mark.parametrize("cls", [GPT, ExtendedGPT])
def test_the_views_read_loaded_gpt2(tiny_gpt2, cls):
    """The explorer, the knock-out, the next-token view, the trace, the lens and the attribution all take
    the loaded model; GPT-2's biases (attention outputs, ln_f) are in the attribution's sum."""
    from attention_playground import CharTokenizer, viz
    from attention_playground.analysis.ablation import knock_out

    model = cls.from_pretrained(str(tiny_gpt2[0]))
    letters = CharTokenizer("".join(chr(0x100 + i) for i in range(VOCAB)))  # one character per GPT-2 id
    text = letters.decode(ids(batch=1, T=12)[0].tolist())
    with torch.no_grad():
        logits = model(torch.tensor([letters.encode(text)]))[0][0]
    trace = viz.trace_forward(model, letters, text)
    torch.testing.assert_close(trace.logits[0], logits)
    lens = viz.logit_lens(model, letters, text)
    torch.testing.assert_close(lens.logits[-1], logits)
    attribution = viz.direct_logit_attribution(model, letters, text)
    assert attribution.total == pytest.approx(attribution.logit, abs=1e-4)
    assert attribution.values[-1] != 0, "GPT-2's biases have a share"
    explorer = viz.attention_explorer(model, letters, text, layer=1, head=2)
    explorer.knock_out.value = True
    assert "layer 1 head 2 knocked out" in explorer.next_title.value
    with knock_out(model, [(1, 2)]):
        knocked = viz.next_token_distribution(model, letters, text)
    assert not torch.allclose(knocked.model_probs, logits[-1].softmax(-1))


def test_sample_pretrained_writes_from_a_saved_gpt2_folder_with_gpt2s_tokens(tmp_path):
    """`attention-playground sample --pretrained FOLDER` continues a prompt with GPT-2's tokenizer."""
    import os
    import subprocess
    import sys

    config = pretrained.gpt2_config(
        {"vocab_size": 50_257, "n_positions": 16, "n_embd": 8, "n_head": 2, "n_layer": 1}
    )
    torch.manual_seed(0)
    ExtendedGPT(config).save_pretrained(tmp_path / "tiny")
    command = ["sample", "--pretrained", str(tmp_path / "tiny"), "--prompt", "Hello", "--max-new-tokens", "5"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "attention_playground", *command],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello") and len(result.stdout.strip()) > len("Hello")
    missing = subprocess.run(
        [sys.executable, "-m", "attention_playground", "sample", "--pretrained", str(tmp_path / "absent")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr
