"""Attention beyond the decoder: masks, cross-attention, sinusoidal positions, the encoder, the
encoder-decoder and the classifier, and the two small tasks they train on."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attention_playground import (
    AttentionError,
    ConfigError,
    CrossAttention,
    DecoderBlock,
    Encoder,
    EncoderBlock,
    EncoderClassifier,
    EncoderConfig,
    EncoderDecoder,
    ExtendedAttention,
    GPTConfig,
    SinusoidalPositions,
    TrainConfig,
    attend,
    attend_with_maps,
    key_padding_mask,
    sinusoidal_positions,
)
from attention_playground.course.tasks import (
    ReversalTask,
    SubsetTokenizer,
    exact_match,
    fit,
    speaker_task,
    speeches,
)
from attention_playground.nn.attention import recording_attention


def qkv(B=2, nh=3, Tq=5, Tk=5, hs=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, nh, Tq, hs, generator=generator),
        torch.randn(B, nh, Tk, hs, generator=generator),
        torch.randn(B, nh, Tk, hs, generator=generator),
    )


PADDING = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])  # the second row: 4 real keys of 7


@pytest.fixture
def config() -> EncoderConfig:
    return EncoderConfig(vocab_size=20, block_size=12, n_embd=32, n_head=4, n_layer=2)


# --- masks: both paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask, Tq, Tk",
    [("causal", 7, 7), ("causal", 3, 7), ("none", 7, 7), ("none", 4, 7), (PADDING, 7, 7), (PADDING, 2, 7)],
    ids=["causal", "causal-after-cache", "none", "none-cross", "padding", "padding-cross"],
)
def test_fast_path_equals_teaching_path_with_every_mask(mask, Tq, Tk):
    q, k, v = qkv(Tq=Tq, Tk=Tk)
    fast = attend(q, k, v, mask=mask)
    slow, maps = attend_with_maps(q, k, v, mask=mask)
    assert fast.shape == slow.shape == (2, 3, Tq, 8)
    assert maps.weights.shape == (2, 3, Tq, Tk)
    assert_close(fast, slow)
    assert_close(maps.weights.sum(-1), torch.ones(2, 3, Tq))


def test_the_default_is_the_causal_mask_bit_for_bit():
    q, k, v = qkv(Tq=6, Tk=6)
    assert torch.equal(attend(q, k, v), attend(q, k, v, mask="causal"))
    assert torch.equal(attend(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.equal(attend_with_maps(q, k, v)[0], attend_with_maps(q, k, v, mask="causal")[0])
    weights = attend_with_maps(q, k, v)[1].weights
    assert torch.all(weights.triu(1) == 0)


def test_no_mask_reads_every_key():
    q, k, v = qkv(Tq=6, Tk=6)
    weights = attend_with_maps(q, k, v, mask="none")[1].weights
    assert torch.all(weights > 0), "no mask: the future is read too"
    assert_close(weights, torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1))


def test_padding_keys_get_exactly_zero_weight_and_change_nothing():
    q, k, v = qkv(Tq=7, Tk=7)
    _, maps = attend_with_maps(q, k, v, mask=PADDING)
    assert torch.all(maps.weights[1, :, :, 4:] == 0), "padding is read by no query"
    assert torch.all(maps.weights[1, :, :, :4] > 0)
    assert torch.all(maps.weights[0] > 0), "a row without padding reads every key"
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 4:], v2[1, :, 4:] = 100.0, -100.0  # whatever sits in the padding
    for path in (lambda *a: attend(*a, mask=PADDING), lambda *a: attend_with_maps(*a, mask=PADDING)[0]):
        assert_close(path(q, k, v), path(q, k2, v2))


def test_key_padding_mask_from_lengths():
    assert torch.equal(
        key_padding_mask([3, 1], 4), torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    )


@pytest.mark.parametrize(
    "mask, message",
    [
        ("future", "causal"),
        (torch.ones(2, 6, dtype=torch.bool), r"\(B, Tk\) = \(2, 7\)"),
        (torch.ones(2, 7), "booleans"),
        (torch.tensor([[True] * 7, [False] * 7]), "no real key"),
    ],
    ids=["unknown-name", "wrong-length", "not-bool", "all-padding"],
)
def test_masks_that_cannot_work_fail_clearly(mask, message):
    q, k, v = qkv(Tq=7, Tk=7)
    for path in (attend, attend_with_maps):
        with pytest.raises(AttentionError, match=message):
            path(q, k, v, mask=mask)


def test_mha_without_the_mask_and_with_padding():
    torch.manual_seed(0)
    config = GPTConfig(n_embd=32, n_head=4)
    causal, encoder = ExtendedAttention(config).eval(), ExtendedAttention(config, causal=False).eval()
    encoder.load_state_dict(causal.state_dict())
    x = torch.randn(2, 7, 32)
    q, k, v = causal.queries_keys_values(x)
    expected = causal.proj(
        F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, 7, 32)
    )
    assert torch.equal(causal(x), expected), "the default stays the causal self-attention, bit for bit"
    assert not torch.allclose(encoder(x)[:, :-1], causal(x)[:, :-1]), "without the mask, the future counts"
    assert_close(encoder(x)[:, -1], causal(x)[:, -1]), "the last token reads everything either way"
    y, maps = encoder.forward_with_maps(x, key_padding_mask=PADDING)
    assert_close(encoder(x, key_padding_mask=PADDING), y)
    assert torch.all(maps.weights[1, :, :, 4:] == 0)
    with pytest.raises(AttentionError, match="causal self-attention takes no padding mask"):
        causal(x, key_padding_mask=PADDING)


# --- cross-attention ----------------------------------------------------------------------------------


def test_cross_attention_reads_a_sequence_of_another_length():
    torch.manual_seed(0)
    cross = CrossAttention(GPTConfig(n_embd=32, n_head=4)).eval()
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)  # Tq = 5 queries, Tk = 7 keys
    y = cross(x, memory)
    y_teaching, maps = cross.forward_with_maps(x, memory)
    assert y.shape == (2, 5, 32) and maps.weights.shape == maps.scores.shape == (2, 4, 5, 7)
    assert_close(y, y_teaching)
    assert torch.all(maps.weights > 0), "no mask: every source token can be read"
    changed = memory.clone()
    changed[:, 6] += 1.0
    assert not torch.allclose(cross(x, changed), y), "every query reads the last source token"
    changed_x = x.clone()
    changed_x[:, 4] += 1.0
    assert_close(cross(changed_x, memory)[:, :4], y[:, :4]), "a query reads the memory, not other queries"


def test_cross_attention_ignores_the_sources_padding():
    torch.manual_seed(0)
    cross = CrossAttention(GPTConfig(n_embd=32, n_head=4)).eval()
    x, memory = torch.randn(2, 3, 32), torch.randn(2, 7, 32)
    y, maps = cross.forward_with_maps(x, memory, PADDING)
    assert_close(cross(x, memory, PADDING), y)
    assert torch.all(maps.weights[1, :, :, 4:] == 0)
    padded = memory.clone()
    padded[1, 4:] = torch.randn(3, 32)
    assert_close(cross(x, padded, PADDING), y)
    with pytest.raises(AttentionError, match=r"\(B, Tk, C\) = \(2, Tk, 32\)"):
        cross(x, torch.randn(2, 7, 16))


# --- sinusoidal positions -------------------------------------------------------------------------------


@pytest.mark.parametrize("C", [16, 7])
def test_sinusoidal_positions_follow_the_2017_formula(C):
    T = 50
    table = sinusoidal_positions(T, C)
    assert table.shape == (T, C) and table.dtype == torch.float32
    for pos in (0, 1, 17, 49):
        for i in range((C + 1) // 2):
            angle = pos / 10000 ** (2 * i / C)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            if 2 * i + 1 < C:
                assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert len({tuple(row) for row in table.tolist()}) == T, "every position has its own code"


def test_sinusoidal_module_is_a_buffer_not_a_parameter():
    module = SinusoidalPositions(32, 16)
    assert list(module.parameters()) == [] and "table" not in module.state_dict()
    assert torch.equal(module(5, start=3), sinusoidal_positions(32, 16)[3:8])
    with pytest.raises(ConfigError, match="make it longer"):
        module(40)


# --- encoder, decoder ------------------------------------------------------------------------------------


def test_the_encoder_reads_the_future_and_the_decoder_does_not(config):
    torch.manual_seed(0)
    encoder = Encoder(config).eval()
    model = EncoderDecoder(config).eval()
    idx = torch.randint(20, (2, 10))
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 20
    assert not torch.allclose(encoder(idx)[:, :7], encoder(changed)[:, :7]), "the encoder reads ahead"
    src = torch.randint(20, (2, 6))
    logits, _ = model(src, idx)
    logits_changed, _ = model(src, changed)
    assert_close(logits[:, :7], logits_changed[:, :7]), "the decoder never reads its future"
    assert not torch.allclose(logits[:, 7:], logits_changed[:, 7:])
    other_src = src.clone()
    other_src[:, -1] = (other_src[:, -1] + 1) % 20
    assert not torch.allclose(model(other_src, idx)[0][:, 0], logits[:, 0]), "every target reads the source"


def test_without_positions_and_mask_the_encoder_is_permutation_equivariant(config):
    torch.manual_seed(0)
    idx = torch.randint(20, (2, 9))
    order = torch.randperm(9)
    for positions, equivariant in (("none", True), ("sinusoidal", False), ("learned", False)):
        torch.manual_seed(0)
        encoder = Encoder(dataclasses.replace(config, positions=positions)).eval()
        if positions == "learned":
            torch.nn.init.normal_(encoder.embed.position_embedding.weight)  # distinct positions, loud enough
        shuffled_then_encoded = encoder(idx[:, order])
        encoded_then_shuffled = encoder(idx)[:, order]
        assert torch.allclose(shuffled_then_encoded, encoded_then_shuffled, atol=1e-5) == equivariant, (
            positions
        )


@pytest.mark.parametrize("make", [EncoderBlock, DecoderBlock], ids=["encoder", "decoder"])
def test_blocks_forward_equals_forward_with_maps(config, make):
    torch.manual_seed(0)
    block = make(config).eval()
    x, memory = torch.randn(2, 7, 32), torch.randn(2, 5, 32)
    if make is EncoderBlock:
        with recording_attention(block) as recorded:
            y_teaching = block(x, PADDING)
        (maps,) = recorded
        assert_close(block(x, PADDING), y_teaching)
        assert maps.weights.shape == (2, 4, 7, 7) and torch.all(maps.weights[1, ..., 4:] == 0)
    else:
        with recording_attention(block) as recorded:
            y_teaching = block(x, memory)
        self_maps, cross_maps = recorded
        assert_close(block(x, memory), y_teaching)
        assert self_maps.weights.shape == (2, 4, 7, 7) and torch.all(self_maps.weights.triu(1) == 0)
        assert cross_maps.weights.shape == (2, 4, 7, 5)


def test_padding_changes_no_real_tokens_output(config):
    torch.manual_seed(0)
    encoder = Encoder(config).eval()
    classifier = EncoderClassifier(config, n_classes=3).eval()
    idx = torch.randint(1, 20, (1, 6))
    padded = torch.cat([idx, torch.zeros(1, 4, dtype=torch.long)], dim=1)  # 4 pad tokens (id 0)
    mask = key_padding_mask([6], 10)
    assert_close(encoder(padded, mask)[:, :6], encoder(idx))
    assert_close(classifier(padded, padding_mask=mask)[0], classifier(idx)[0])


def test_encoder_decoder_loss_skips_the_targets_after_the_end(config):
    torch.manual_seed(0)
    model = EncoderDecoder(config)
    src, tgt_in = torch.randint(20, (3, 6)), torch.randint(20, (3, 8))
    targets = torch.randint(20, (3, 8))
    logits, loss = model(src, tgt_in, targets)
    assert logits.shape == (3, 8, 20)
    assert loss.item() == pytest.approx(math.log(20), abs=0.3), "a fresh model guesses evenly"
    cut = targets.clone()
    cut[:, 5:] = -100
    expected = F.cross_entropy(logits[:, :5].reshape(-1, 20), targets[:, :5].reshape(-1))
    assert_close(model(src, tgt_in, cut)[1], expected)
    assert model(src, tgt_in)[1] is None


def test_greedy_decoding_is_deterministic_and_is_the_argmax(config):
    torch.manual_seed(0)
    model = EncoderDecoder(config)
    src = torch.randint(3, 20, (4, 7))
    first = model.generate(src, start_id=1, max_new_tokens=6)
    assert torch.equal(first, model.generate(src, start_id=1, max_new_tokens=6))
    assert first.shape == (4, 6)
    out = torch.full((4, 1), 1)
    for _ in range(6):  # the same, one forward at a time
        out = torch.cat([out, model(src, out)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(first, out[:, 1:])


def test_sampled_decoding_follows_its_seed_and_stops(config):
    torch.manual_seed(0)
    model = EncoderDecoder(config)
    src = torch.randint(3, 20, (4, 7))

    def sample(seed):
        generator = torch.Generator().manual_seed(seed)
        return model.generate(src, 1, 10, temperature=1.0, generator=generator)

    assert torch.equal(sample(1), sample(1)) and not torch.equal(sample(1), sample(2))
    greedy = model.generate(src, 1, 10)
    stop = int(greedy[0, 2])  # the token row 0 writes third: make it the stop token
    stopped = model.generate(src, 1, 10, stop_id=stop)
    assert torch.all(stopped[0, 2:] == stop), "after its stop token a row writes only stop tokens"
    with pytest.raises(ConfigError, match="block_size=12"):
        model.generate(src, 1, 12)


def test_classifier_pools_and_says_what_the_pool_reads(config):
    torch.manual_seed(0)
    idx = torch.randint(1, 20, (2, 7))
    labels = torch.tensor([0, 2])
    for pooling in ("mean", "first"):
        model = EncoderClassifier(config, n_classes=3, pooling=pooling).eval()
        logits, loss = model(idx, labels, PADDING)
        assert logits.shape == (2, 3) and loss.item() == pytest.approx(math.log(3), abs=0.2)
        pooled = model.pooled_attention(idx, PADDING)
        assert pooled.shape == (2, 4, 7)
        assert_close(pooled.sum(-1), torch.ones(2, 4))
        assert torch.all(pooled[1, :, 4:] == 0), "padding feeds nothing"
        maps = model.attention_maps(idx, PADDING)
        expected = maps.weights[-1, :, :, 0] if pooling == "first" else maps.weights[-1, 0].mean(1)
        assert_close(pooled if pooling == "first" else pooled[0], expected)
    changed = idx.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 20
    first = EncoderClassifier(config, n_classes=3, pooling="first").eval()
    assert not torch.allclose(first(idx)[0], first(changed)[0]), "the first token reads the last"
    with pytest.raises(ConfigError, match="pooling"):
        EncoderClassifier(config, 3, pooling="max")


def test_encoder_config_checks_positions():
    with pytest.raises(ConfigError, match="positions='rotary'"):
        EncoderConfig(positions="rotary")
    with pytest.raises(ConfigError, match="n_embd=30 must be divisible"):
        EncoderConfig(n_embd=30, n_head=4)


def test_too_long_a_sequence_fails_clearly(config):
    with pytest.raises(ConfigError, match="longer than block_size=12"):
        Encoder(config)(torch.zeros(1, 13, dtype=torch.long))


# --- the tasks -------------------------------------------------------------------------------------------

PLAY = (
    "ROMEO:\nBut, soft!\nwhat light\n\nJULIET:\nAy me!\n\nROMEO:\nShe speaks.\n\n"
    "TITUS:\n\nROMEO:\nO, speak again.\n"
)


def test_speeches_are_name_then_lines_up_to_a_blank_line():
    found = speeches(PLAY)
    assert [s.speaker for s in found] == ["ROMEO", "JULIET", "ROMEO", "ROMEO"], "an empty speech is none"
    assert found[0].text == "But, soft!\nwhat light"


def test_speaker_task_splits_by_speech_and_knows_its_baseline(char_tokenizer, shakespeare):
    task = speaker_task(shakespeare, char_tokenizer, n_speakers=3, max_len=20, test_fraction=0.25)
    assert task.speakers == ["GLOUCESTER", "DUKE VINCENTIO", "MENENIUS"]
    assert len(task.test) == round(0.25 * (len(task.train) + len(task.test)))
    assert all(1 <= len(ids) <= 20 for ids, _ in task.train + task.test)
    batch = task.batch(task.test[:5])
    assert batch.idx.shape == batch.padding_mask.shape == (5, 20) and batch.labels.shape == (5,)
    assert torch.equal(batch.padding_mask.sum(1), torch.tensor([len(ids) for ids, _ in task.test[:5]]))
    assert torch.all(batch.idx[~batch.padding_mask] == SubsetTokenizer.PAD)
    most = max(range(3), key=[y for _, y in task.train].count)  # the speaker training sees most
    assert task.majority_baseline() == [y for _, y in task.test].count(most) / len(task.test)
    assert 0.3 < task.majority_baseline() < 0.5


def test_subset_tokenizer_keeps_only_what_training_saw(char_tokenizer):
    subset = SubsetTokenizer(char_tokenizer, ["abc", "cab"])
    assert subset.vocab_size == 3 + 2
    assert subset.encode("abz") == [2, 3, SubsetTokenizer.UNKNOWN]
    assert subset.token_strings([0, 1, 4]) == ["", "<unk>", "c"]
    assert subset.decode(subset.encode("cab")) == "cab"


def test_reversal_examples_and_held_out_strings():
    task = ReversalTask(min_len=3, max_len=6, n_test=50, seed=0)
    pairs = task.examples(["abc", "hello"])
    decode = task.tokenizer.decode
    assert decode(pairs.src[1].tolist()) == "hello_" and decode(pairs.tgt_in[1].tolist()) == "<olleh_"
    assert pairs.targets[1].tolist()[:6] == task.tokenizer.encode("olleh>") and pairs.targets[1, 6] == -100
    assert pairs.src_padding_mask.tolist()[0] == [True] * 3 + [False] * 3
    draw = task.sampler(64, seed=1)
    for _ in range(20):
        pairs = draw()
        for row, mask in zip(pairs.src, pairs.src_padding_mask, strict=True):
            assert decode(row[mask].tolist()) not in task.test


class PerfectReverser(torch.nn.Module):
    """Writes each source backwards, then the stop token: what exact_match should score 1."""

    def __init__(self, task):
        super().__init__()
        self.task = task

    def generate(self, src, start_id, max_new_tokens, stop_id, src_padding_mask):
        rows = [
            row[mask].flip(0).tolist() + [stop_id] for row, mask in zip(src, src_padding_mask, strict=True)
        ]
        return torch.tensor([r + [stop_id] * (max_new_tokens - len(r)) for r in rows])


def test_exact_match_counts_whole_strings():
    task = ReversalTask(min_len=3, max_len=6, n_test=20, seed=0)
    assert exact_match(PerfectReverser(task), task) == 1.0
    wrong = PerfectReverser(task)
    right = wrong.generate
    wrong.generate = lambda src, *a, **k: right(src, *a, **k).roll(1, dims=0)  # answers shifted by one
    assert exact_match(wrong, task, ["abc", "abc", "xyz"]) == pytest.approx(1 / 3)


def test_fit_memorises_a_batch_and_leaves_the_model_in_eval_mode():
    task = ReversalTask(min_len=2, max_len=4, n_test=10, seed=0)
    small = EncoderConfig(vocab_size=task.tokenizer.vocab_size, block_size=6, n_embd=32, n_head=2, n_layer=1)
    torch.manual_seed(0)
    model = EncoderDecoder(small)
    batch = task.examples(["ab", "cde", "fghi", "jk", "lmn", "opqr"])
    history = fit(model, lambda: batch, TrainConfig(max_iters=80, learning_rate=3e-3, warmup=5))
    assert len(history.step_losses) == 80 and history.seconds > 0
    assert history.step_losses[0] == pytest.approx(math.log(task.tokenizer.vocab_size), abs=0.3)
    assert history.step_losses[-1] < 0.25 * history.step_losses[0]
    assert not model.training
