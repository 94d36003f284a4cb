"""GPT-2 tokens at a CPU's speed: the compact id map, and an output layer tied to the token table."""

import dataclasses

import pytest
import torch

from attention_playground import (
    CompactGPT2Tokenizer,
    ExtendedGPT,
    GPT2Tokenizer,
    GPTConfig,
    TokenizerError,
    TrainConfig,
    encode_corpus,
    get_tokenizer,
    load_checkpoint,
    save_checkpoint,
    split,
    train,
)
from attention_playground.data.tokenizers import tokenizer_from_dict
from attention_playground.nn.sampling import sample_text


@pytest.fixture(scope="module")
def compact(shakespeare) -> CompactGPT2Tokenizer:
    return CompactGPT2Tokenizer.from_text(shakespeare)


def test_tiny_shakespeare_uses_11706_gpt2_tokens(compact):
    assert compact.vocab_size == 11_706
    assert compact.gpt2_ids == sorted(compact.gpt2_ids) and compact.gpt2_ids[-1] < 50_257


def test_compact_ids_round_trip_the_corpus_and_are_gpt2s_renumbered(shakespeare, compact):
    ids = compact.encode(shakespeare)
    assert compact.decode(ids) == shakespeare
    gpt2_ids = GPT2Tokenizer().encode(shakespeare)
    assert len(ids) == len(gpt2_ids) == 338_025, "the same tokens as GPT-2, so the same split"
    assert [compact.gpt2_ids[i] for i in ids[:1000]] == gpt2_ids[:1000]
    assert max(ids) == compact.vocab_size - 1 and min(ids) == 0
    assert compact.token_strings(compact.encode("To be,\nor")) == ["To", " be", ",", "\n", "or"]


def test_a_token_the_corpus_never_uses_is_named(compact):
    with pytest.raises(TokenizerError) as error:
        compact.encode("ROMEO: my smartphone")
    message = str(error.value)
    assert "GPT-2 token ' smartphone' (id 11745, token 4 of the text) is not among the 11,706" in message
    assert "--tokenizer gpt2-full" in message and "\n" not in message
    with pytest.raises(TokenizerError, match=r"token id 11706 is outside the vocabulary \(0..11705\)"):
        compact.decode([5, 11_706])


def test_the_map_is_saved_as_plain_values_and_rebuilt(compact):
    values = compact.to_dict()
    assert values["kind"] == "gpt2-compact" and values["gpt2_ids"] == compact.gpt2_ids
    rebuilt = tokenizer_from_dict(values)
    assert isinstance(rebuilt, CompactGPT2Tokenizer) and rebuilt.encode("ROMEO:") == compact.encode("ROMEO:")
    for bad in ([], [5, 3], [7, 7], [50_257]):
        with pytest.raises(TokenizerError):
            CompactGPT2Tokenizer(bad)


def test_gpt2_means_the_compact_map_and_gpt2_full_all_tokens():
    text = "First Citizen:\nBefore we proceed"
    assert isinstance(get_tokenizer("gpt2", text), CompactGPT2Tokenizer)
    assert get_tokenizer("gpt2", text).vocab_size == len(set(GPT2Tokenizer().encode(text)))
    assert isinstance(get_tokenizer("gpt2-full"), GPT2Tokenizer)
    with pytest.raises(TokenizerError, match="a gpt2 tokenizer is built from a text: pass text="):
        get_tokenizer("gpt2")
    names = [get_tokenizer(n, text).name for n in ("char", "gpt2", "gpt2-full")]
    assert names == ["char", "gpt2", "gpt2-full"]
    assert GPT2Tokenizer().to_dict() == {"kind": "gpt2"}, "checkpoints of the full model load as before"


def tied_pair(vocab_size: int = 300) -> tuple[ExtendedGPT, ExtendedGPT]:
    config = GPTConfig(vocab_size=vocab_size, block_size=16, n_embd=32, n_head=4, n_layer=2)
    torch.manual_seed(0)
    untied = ExtendedGPT(config)
    torch.manual_seed(0)
    tied = ExtendedGPT(dataclasses.replace(config, tie_weights=True))
    return untied, tied


def test_tied_weights_share_storage_and_count_once():
    untied, tied = tied_pair()
    assert tied.lm_head.weight is tied.token_embedding.weight
    assert tied.lm_head.weight.data_ptr() == tied.token_embedding.weight.data_ptr()
    assert untied.lm_head.weight is not untied.token_embedding.weight
    assert tied.num_params() == untied.num_params() - 300 * 32
    assert tied.num_params(embeddings=False) == untied.num_params(embeddings=False) - 300 * 32
    assert len(list(tied.parameters())) == len(list(untied.parameters())) - 1


def test_tied_weights_stay_tied_through_training(shakespeare_splits):
    _, tied = tied_pair(vocab_size=65)
    before = tied.token_embedding.weight.detach().clone()
    config = TrainConfig(batch_size=4, max_iters=3, eval_interval=3, eval_iters=1, device="cpu")
    train(tied, shakespeare_splits, config)
    assert tied.lm_head.weight is tied.token_embedding.weight
    assert not torch.equal(before, tied.token_embedding.weight), "one table, trained by both uses"


def test_checkpoints_round_trip_tied_and_untied_models(tmp_path, compact):
    for model in tied_pair(compact.vocab_size):
        model.eval()
        path = save_checkpoint(tmp_path / "ckpt.pt", model, compact)
        loaded = load_checkpoint(path).model.eval()
        assert loaded.config == model.config
        assert (loaded.lm_head.weight is loaded.token_embedding.weight) == model.config.tie_weights
        idx = torch.randint(compact.vocab_size, (2, 16))
        assert torch.equal(model(idx)[0], loaded(idx)[0])
    payload = torch.load(path, weights_only=True)
    del payload["model"]["config"]["tie_weights"]  # a checkpoint from before the field
    torch.save(payload, path)
    assert load_checkpoint(path).model.config.tie_weights is False


def test_a_tiny_compact_run_trains_saves_loads_and_samples(tmp_path, shakespeare):
    text = shakespeare[:20_000]
    tokenizer = get_tokenizer("gpt2", text)
    splits = split(encode_corpus(text, tokenizer))
    torch.manual_seed(0)
    model = ExtendedGPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_embd=32, n_head=4,
                                  n_layer=1, tie_weights=True))  # fmt: skip
    config = TrainConfig(batch_size=8, max_iters=20, eval_interval=10, eval_iters=2, learning_rate=1e-2,
                         warmup=2, min_lr=1e-3, device="cpu")  # fmt: skip
    path = tmp_path / "ckpt.pt"
    history = train(model, splits, config, tokenizer=tokenizer, checkpoint_path=path)
    assert history.val_loss[-1] < history.val_loss[0]
    checkpoint = load_checkpoint(path)
    assert isinstance(checkpoint.tokenizer, CompactGPT2Tokenizer)
    assert checkpoint.tokenizer.gpt2_ids == tokenizer.gpt2_ids
    sample = sample_text(checkpoint.model, checkpoint.tokenizer, "First Citizen:", 20, seed=1)
    assert sample.startswith("First Citizen:") and len(sample) > len("First Citizen:") + 20
    with pytest.raises(TokenizerError, match="is not among the"):
        sample_text(checkpoint.model, checkpoint.tokenizer, "my smartphone", 5)
