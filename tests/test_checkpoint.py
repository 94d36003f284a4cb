import dataclasses

import pytest
import torch

from attention_playground import (
    AttentionLanguageModel,
    BigramLanguageModel,
    CharTokenizer,
    CheckpointError,
    ExtendedGPT,
    GPT2Tokenizer,
    GPTConfig,
    TrainConfig,
    load_checkpoint,
    save_checkpoint,
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ExtendedGPT(GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=2)),
        lambda: AttentionLanguageModel(GPTConfig(block_size=16, n_embd=32, n_head=1), feed_forward=True),
        lambda: BigramLanguageModel(65),
    ],
    ids=["gpt", "attention-lm", "bigram"],
)
def test_round_trip_gives_identical_logits(tmp_path, char_tokenizer, make):
    torch.manual_seed(0)
    model = make().eval()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer, TrainConfig(), step=7, val_loss=1.5)
    loaded = load_checkpoint(path)
    idx = torch.randint(65, (2, 16))
    assert torch.equal(model(idx)[0], loaded.model.eval()(idx)[0])
    assert (loaded.step, loaded.val_loss, loaded.train_config) == (7, 1.5, TrainConfig())
    assert loaded.tokenizer.encode("ROMEO:") == char_tokenizer.encode("ROMEO:")
    assert not list(tmp_path.glob("*.tmp")), "the atomic save leaves no temporary file"


def test_truncated_checkpoint(tmp_path, char_tokenizer):
    path = save_checkpoint(tmp_path / "ckpt.pt", ExtendedGPT(GPTConfig(n_layer=1)), char_tokenizer)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is damaged: it was cut short or corrupted") as error:
        load_checkpoint(path)
    assert "PytorchStreamReader" in error.value.detail, "torch's own words are kept, apart from the line"


def test_missing_file_and_missing_field(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this course: it lacks format_version"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_wrong_shapes(tmp_path, char_tokenizer):
    path = save_checkpoint(tmp_path / "ckpt.pt", ExtendedGPT(GPTConfig(n_layer=1)), char_tokenizer)
    payload = torch.load(path, weights_only=True)
    payload["model"]["config"]["n_embd"] = 64  # config and weights now disagree
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="the weights do not fit the model its config describes"):
        load_checkpoint(path)


def test_checkpoint_from_a_different_vocabulary(tmp_path, char_tokenizer):
    path = save_checkpoint(tmp_path / "ckpt.pt", ExtendedGPT(GPTConfig(n_layer=1)), char_tokenizer)
    with pytest.raises(CheckpointError, match="trained with a char vocabulary of 65 tokens, which differs"):
        load_checkpoint(path, tokenizer=GPT2Tokenizer())
    other = CharTokenizer.from_text("abc")
    with pytest.raises(CheckpointError, match="differs from the given char tokenizer's 3"):
        load_checkpoint(path, tokenizer=other)
    mismatched = ExtendedGPT(GPTConfig(vocab_size=3, n_layer=1))
    with pytest.raises(CheckpointError, match="its tokenizer has 65 tokens but its model has vocab_size=3"):
        save_checkpoint(tmp_path / "bad.pt", mismatched, char_tokenizer)
        load_checkpoint(tmp_path / "bad.pt")


def test_checkpoint_from_before_activation_was_a_setting_loads_as_gelu(tmp_path, char_tokenizer):
    """Checkpoints saved before GPTConfig had `activation` hold GELU models: they must still load as such."""
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=2, activation="gelu")).eval()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer)
    payload = torch.load(path, weights_only=True)
    del payload["model"]["config"]["activation"]  # as written by the earlier version
    torch.save(payload, path)
    loaded = load_checkpoint(path).model.eval()
    assert loaded.config.activation == "gelu"
    idx = torch.randint(65, (2, 16))
    assert torch.equal(model(idx)[0], loaded(idx)[0])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda c: ExtendedGPT(c),
        lambda c: AttentionLanguageModel(dataclasses.replace(c, n_head=1), feed_forward=True),
    ],
    ids=["gpt", "attention-lm"],
)
def test_checkpoint_from_before_qkv_bias_and_embedding_dropout_loads_as_it_was(
    tmp_path, char_tokenizer, make, bias
):
    """Before these settings, q/k/v had a bias exactly when `bias` was on, and GPT always had dropout
    on its embeddings: an old file must rebuild that model, with the same weights and logits."""
    torch.manual_seed(0)
    config = GPTConfig(block_size=16, n_embd=32, n_head=4, n_layer=2, bias=bias, qkv_bias=bias)
    model = make(config).eval()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer)
    payload = torch.load(path, weights_only=True)
    del payload["model"]["config"]["qkv_bias"], payload["model"]["config"]["embedding_dropout"]
    torch.save(payload, path)
    loaded = load_checkpoint(path).model.eval()
    assert (loaded.config.qkv_bias, loaded.config.embedding_dropout) == (bias, True)
    idx = torch.randint(65, (2, 16))
    assert torch.equal(model(idx)[0], loaded(idx)[0])
