"""The attention explorer's callbacks: move a slider, read what the view shows, check it against the
model's own attention maps. No kernel and no browser (tests/test_browser.py drives the real one)."""

import matplotlib
import pytest
import torch

from attention_playground import (
    AttentionLanguageModel,
    BigramLanguageModel,
    EncoderClassifier,
    EncoderConfig,
    EncoderDecoder,
    ExtendedGPT,
    GPT2Tokenizer,
    GPTConfig,
    TokenizerError,
)
from attention_playground.course.tasks import ReversalTask
from attention_playground.data.tokenizers import visible
from attention_playground.viz import (
    AttentionExplorer,
    attention_explorer,
    cross_attention_explorer,
    cross_prompt_attention,
    prompt_attention,
)

matplotlib.use("Agg")

PROMPT = "ROMEO:\nBut, soft! what light"  # 28 characters, a newline and spaces


def make_model(kind: str, vocab_size: int = 65, block_size: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "one_head":
        config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_embd=16, n_head=1, n_layer=1)
        return AttentionLanguageModel(config)
    if kind == "four_heads":
        config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_embd=16, n_head=4, n_layer=1)
        return AttentionLanguageModel(config, feed_forward=True)
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_embd=16, n_head=2, n_layer=3)
    return ExtendedGPT(config)


def models_maps(model, tokenizer, text):
    idx = torch.tensor([tokenizer.encode(text)])
    return model.attention_maps(idx)  # (L, 1, nh, T, T) each


@pytest.mark.parametrize("kind", ["one_head", "four_heads", "gpt"])
def test_every_slider_position_shows_the_models_own_attention(kind, char_tokenizer):
    model = make_model(kind)
    maps = models_maps(model, char_tokenizer, PROMPT)
    L, _, nh, T, _ = maps.weights.shape
    explorer = attention_explorer(model, char_tokenizer, PROMPT)
    assert (explorer.layer.max, explorer.head.max, explorer.query.max) == (L - 1, nh - 1, T - 1)
    assert explorer.layer.disabled == (L == 1) and explorer.head.disabled == (nh == 1)
    for layer, head, query in {(0, 0, 5), (L - 1, nh - 1, T - 1), (L // 2, nh // 2, 0)}:
        explorer.layer.value, explorer.head.value, explorer.query.value = layer, head, query
        view = explorer.view
        assert (view.layer, view.head, view.query) == (layer, head, query)
        torch.testing.assert_close(view.weights, maps.weights[layer, 0, head])
        torch.testing.assert_close(view.scores, maps.scores[layer, 0, head])
        torch.testing.assert_close(view.weights.sum(-1), torch.ones(T))
        assert (view.weights.triu(1) == 0).all(), "nothing read from the future"
        assert f"layer {layer}, head {head}: query '{view.labels[query]}' (position {query})" in view.title
        assert explorer.figure._suptitle is None, "the title is the HTML line above the picture"
        assert (
            explorer.figure.axes[3].get_title()
            == f"what query '{view.labels[query]}' (position {query}) reads"
        )
        assert explorer.title.value == f"<b>{view.title}</b>".replace("'", "&#x27;")


def test_temperature_slider_one_is_the_model_and_lower_is_sharper(char_tokenizer):
    model = make_model("gpt")
    maps = models_maps(model, char_tokenizer, PROMPT)
    explorer = attention_explorer(model, char_tokenizer, PROMPT, layer=1, head=1)
    torch.testing.assert_close(explorer.view.weights, maps.weights[1, 0, 1])
    maxima = []
    for temperature in (4.0, 1.0, 0.25):
        explorer.temperature.value = temperature
        assert explorer.view.temperature == temperature
        maxima.append(explorer.view.weights[-1].max().item())
    assert maxima[0] < maxima[1] < maxima[2]
    assert "temperature 0.25" in explorer.view.title
    assert explorer.figure.axes[2].get_title() == "softmax weights (temperature 0.25)"


def test_moving_a_slider_redraws_the_image(char_tokenizer):
    explorer = attention_explorer(make_model("four_heads"), char_tokenizer, PROMPT)
    before = bytes(explorer.image.value)
    assert before.startswith(b"\x89PNG")
    explorer.head.value = 3
    assert bytes(explorer.image.value) != before
    assert "head 3" in explorer.title.value


def test_char_labels_show_the_prompt_with_visible_spaces_and_newlines(char_tokenizer):
    explorer = attention_explorer(make_model("one_head"), char_tokenizer, PROMPT)
    assert explorer.view.labels == [visible(ch) for ch in PROMPT]
    assert explorer.view.labels[6] == "⏎" and explorer.view.labels[11] == "␣"
    assert [t.get_text() for t in explorer.figure.axes[3].get_xticklabels()] == explorer.view.labels


def test_gpt2_labels_are_the_prompts_pieces():
    try:
        tokenizer = GPT2Tokenizer()
    except TokenizerError as error:
        pytest.skip(f"no tiktoken gpt2 files (set TIKTOKEN_CACHE_DIR): {error}")
    model = make_model("gpt", vocab_size=tokenizer.vocab_size)
    explorer = attention_explorer(model, tokenizer, PROMPT)
    labels = explorer.view.labels
    assert len(labels) == len(tokenizer.encode(PROMPT)) < len(PROMPT)
    assert "".join(labels).replace("␣", " ").replace("⏎", "\n") == PROMPT
    maps = models_maps(model, tokenizer, PROMPT)
    explorer.layer.value, explorer.head.value = 2, 1
    torch.testing.assert_close(explorer.view.weights, maps.weights[2, 0, 1])


def test_all_heads_tab_draws_every_layer_and_head_when_opened(char_tokenizer):
    explorer = attention_explorer(make_model("gpt"), char_tokenizer, PROMPT)
    assert explorer.heads_figure is None, "drawn only when its tab is opened"
    explorer.tabs.selected_index = 1
    assert len(explorer.heads_figure.axes) == 3 * 2
    first = bytes(explorer.heads_image.value)
    explorer.layer.value, explorer.head.value, explorer.query.value = 2, 1, 9
    titles = [ax.get_title() for ax in explorer.heads_figure.axes]
    assert titles[-1] == "layer 2 head 1"
    framed = [ax.get_title() for ax in explorer.heads_figure.axes if ax.spines["top"].get_linewidth() == 3]
    assert framed == ["layer 2 head 1"]
    assert bytes(explorer.heads_image.value) != first
    assert (
        "layer 2, head 1 framed" in explorer.heads_title.value
        and "(position 9)" in explorer.heads_title.value
    )


def test_long_prompts_are_cropped_with_a_note(char_tokenizer):
    model = make_model("gpt", block_size=16)
    explorer = attention_explorer(model, char_tokenizer, PROMPT)
    assert len(explorer.view.labels) == 16
    assert explorer.view.labels == [visible(ch) for ch in PROMPT[:16]]
    assert "28 tokens" in explorer.prompt.note and "block_size=16" in explorer.prompt.note
    assert "Note:" in explorer.widget.children[0].value


def test_models_without_attention_or_empty_prompts_fail_clearly(char_tokenizer):
    with pytest.raises(TypeError, match="no attention to explore"):
        attention_explorer(BigramLanguageModel(65), char_tokenizer, PROMPT)

    class MapsWithoutTheFlag(torch.nn.Module):  # not a LanguageModel: has_attention is what counts
        def attention_maps(self, idx):
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="no attention to explore"):
        prompt_attention(MapsWithoutTheFlag(), char_tokenizer, PROMPT)
    with pytest.raises(ValueError, match="empty"):
        attention_explorer(make_model("gpt"), char_tokenizer, "")
    with pytest.raises(ValueError, match="head=5"):
        attention_explorer(make_model("gpt"), char_tokenizer, PROMPT, head=5)


def test_dropout_is_off_while_exploring_and_the_mode_is_restored(char_tokenizer):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=65, block_size=32, n_embd=16, n_head=2, n_layer=2, dropout=0.5)
    model = ExtendedGPT(config).train()
    first = prompt_attention(model, char_tokenizer, PROMPT)
    second = prompt_attention(model, char_tokenizer, PROMPT)
    torch.testing.assert_close(first.weights, second.weights)
    assert model.training


@pytest.mark.cuda
def test_a_model_on_the_gpu(char_tokenizer):
    model = make_model("gpt").cuda()
    explorer = attention_explorer(model, char_tokenizer, PROMPT)
    assert explorer.view.weights.device.type == "cpu"


def test_explorer_displays_as_its_widget(char_tokenizer):
    explorer = attention_explorer(make_model("one_head"), char_tokenizer, PROMPT)
    assert isinstance(explorer, AttentionExplorer)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert repr(explorer).startswith("AttentionExplorer(layer=0, head=0, query=27")
    classes = {name for child in (explorer.head, explorer.query) for name in child._dom_classes}
    assert classes == {"ap-explorer-head", "ap-explorer-query"}


def test_knock_out_toggle_reruns_the_model_without_the_head(char_tokenizer):
    from attention_playground.analysis.ablation import knock_out, knocked_out_heads, next_token_probs

    model = make_model("gpt")
    explorer = attention_explorer(model, char_tokenizer, PROMPT, layer=0, head=1, query=10)
    ids = char_tokenizer.encode(PROMPT)
    torch.testing.assert_close(explorer.next_token, next_token_probs(model, ids, 10))
    assert explorer.next_token_knocked_out is None and "knocked out" not in explorer.next_title.value
    intact = explorer.prompt.weights

    explorer.knock_out.value = True
    with knock_out(model, [(0, 1)]):
        expected = next_token_probs(model, ids, 10)
        expected_maps = prompt_attention(model, char_tokenizer, PROMPT).weights
    torch.testing.assert_close(explorer.next_token_knocked_out, expected)
    assert not torch.allclose(explorer.next_token_knocked_out, explorer.next_token)
    assert "layer 0 head 1 knocked out" in explorer.next_title.value
    assert [t.get_text() for t in explorer.next_token_figure.axes[0].get_legend().get_texts()] == [
        "every head",
        "layer 0 head 1 knocked out",
    ]
    # layer 0's maps are what it reads, untouched; later layers read what the head no longer passes on
    torch.testing.assert_close(explorer.prompt.weights, expected_maps)
    torch.testing.assert_close(explorer.prompt.weights[0], intact[0])
    assert not torch.allclose(explorer.prompt.weights[1:], intact[1:])
    assert not any(knocked_out_heads(b.attn) for b in model.blocks), "the model is restored after"

    explorer.head.value = 0  # the toggle follows the chosen head
    assert "layer 0 head 0 knocked out" in explorer.next_title.value
    explorer.knock_out.value = False
    assert explorer.next_token_knocked_out is None
    torch.testing.assert_close(explorer.prompt.weights, intact)


def test_typing_a_prompt_reruns_the_model_on_it(char_tokenizer):
    model = make_model("gpt")
    explorer = attention_explorer(model, char_tokenizer, PROMPT)
    assert explorer.text.value == PROMPT
    explorer.query.value = 3
    explorer.text.value = "JULIET:\nO Romeo"
    assert explorer.view.labels == [visible(ch) for ch in "JULIET:\nO Romeo"]
    assert explorer.query.max == explorer.query.value == 14, "a new prompt is read from its last token"
    maps = models_maps(model, char_tokenizer, "JULIET:\nO Romeo")
    explorer.layer.value, explorer.head.value = 2, 1
    torch.testing.assert_close(explorer.view.weights, maps.weights[2, 0, 1])
    assert "(position 14)" in explorer.next_title.value and explorer.message.value == ""

    explorer.text.value = "naïve"  # no ï in Tiny Shakespeare: said, and the last prompt stays
    assert "Cannot read this prompt" in explorer.message.value and "U+00EF" in explorer.message.value
    assert len(explorer.view.labels) == 15
    explorer.text.value = ""
    assert "empty" in explorer.message.value
    explorer.text.value = "x" * 40  # longer than block_size=32: cropped, with a note
    assert "block_size=32" in explorer.message.value and explorer.query.max == 31


def test_an_explorer_of_maps_alone_has_no_model_controls(char_tokenizer):
    explorer = AttentionExplorer(prompt_attention(make_model("gpt"), char_tokenizer, PROMPT))
    assert explorer.model is None and not hasattr(explorer, "knock_out")
    with pytest.raises(ValueError, match="both model and tokenizer"):
        AttentionExplorer(
            prompt_attention(make_model("gpt"), char_tokenizer, PROMPT), model=make_model("gpt")
        )


def test_heads_forming_slider_shows_each_snapshot(char_tokenizer):
    from attention_playground.analysis.attention_maps import HeadSnapshot, head_patterns
    from attention_playground.training.history import History
    from attention_playground.viz import HeadsFormingExplorer

    prompt = prompt_attention(make_model("gpt"), char_tokenizer, PROMPT)
    snapshots = [
        HeadSnapshot(step, prompt.weights * scale, head_patterns(prompt.weights * scale, prompt.labels), loss)
        for step, scale, loss in ((0, 1.0, float("nan")), (50, 0.5, 3.0), (100, 0.25, 2.5))
    ]
    history = History(
        step_losses=[4.0 - i / 50 for i in range(100)], eval_steps=[49, 99], val_loss=[3.0, 2.5]
    )
    explorer = HeadsFormingExplorer(snapshots, history, prompt.labels)
    assert (
        explorer.snapshot.step == 100
        and "after 100 steps, val loss 2.50" in explorer.figure._suptitle.get_text()
    )
    explorer.step.value = 1
    assert explorer.snapshot.step == 50
    assert "after 50 steps" in explorer.figure._suptitle.get_text()
    line = explorer.figure.axes[-1].lines[-1]  # the step marker on the loss curve
    assert list(line.get_xdata()) == [50, 50]
    assert explorer.figure.axes[0].get_title().startswith("L0 H0: previous")


# --- beyond the decoder: an encoder's attention (no mask) and cross-attention (Tq != Tk) --------------


def make_reverser():
    task = ReversalTask(min_len=3, max_len=8, n_test=5)
    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=task.tokenizer.vocab_size, block_size=10, n_embd=16, n_head=2, n_layer=2
    )
    return EncoderDecoder(config), task.tokenizer


def test_cross_attention_explorer_shows_the_models_own_cross_attention():
    model, tokenizer = make_reverser()
    source, target = "encoder", "<redoc"  # 7 source tokens, 6 target tokens: not a square
    explorer = cross_attention_explorer(model, tokenizer, source, target)
    src, tgt = (torch.tensor([tokenizer.encode(text)]) for text in (source, target))
    maps = model.cross_attention_maps(src, tgt)  # (L, 1, nh, 6, 7)
    assert explorer.prompt.scores.shape == (2, 2, 6, 7) and not explorer.prompt.causal
    assert (explorer.layer.max, explorer.head.max, explorer.query.max) == (1, 1, 5)
    for layer, head, query in {(0, 0, 0), (1, 1, 5), (1, 0, 2)}:
        explorer.layer.value, explorer.head.value, explorer.query.value = layer, head, query
        view = explorer.view
        torch.testing.assert_close(view.weights, maps.weights[layer, 0, head])
        assert view.weights.shape == (6, 7) and torch.all(view.weights > 0), "no mask: all 7 keys read"
        assert torch.equal(view.masked_scores, view.scores)
        assert view.labels == list(target) and view.key_labels == list(source)
        assert {label for _, label, _ in view.top} <= set(source)
        bars = explorer.figure.axes[3]
        assert [t.get_text() for t in bars.get_xticklabels()] == list(source), "the bars are the keys"
        assert bars.get_title() == f"what query '{target[query]}' (position {query}) reads"
        assert "future: masked" not in [t.get_text() for t in bars.texts]
        assert explorer.figure.axes[1].get_title() == "no mask: every key is read"
        assert [t.get_text() for t in explorer.figure.axes[0].get_yticklabels()] == list(target)
    explorer.tabs.selected_index = 1
    assert len(explorer.heads_figure.axes) == 2 * 2
    assert [t.get_text() for t in explorer.heads_figure.axes[0].get_xticklabels()] == list(source)


def test_cross_attention_rows_can_be_named_by_what_they_write():
    model, tokenizer = make_reverser()
    prompt = cross_prompt_attention(model, tokenizer, "abc", "<cba", query_labels=["c", "b", "a", ">"])
    assert prompt.labels == ["c", "b", "a", ">"] and prompt.key_labels == ["a", "b", "c"]
    assert prompt.ids == tokenizer.encode("<cba")
    with pytest.raises(ValueError, match="3 query labels for a target of 4 tokens"):
        cross_prompt_attention(model, tokenizer, "abc", "<cba", query_labels=["c", "b", "a"])
    with pytest.raises(ValueError, match="at most 10"):
        cross_prompt_attention(model, tokenizer, "abcdefghijk", "<a")
    with pytest.raises(ValueError, match="source is empty"):
        cross_prompt_attention(model, tokenizer, "", "<a")
    with pytest.raises(TypeError, match="no cross-attention"):
        cross_prompt_attention(make_model("gpt"), tokenizer, "abc", "<cba")


def test_an_encoders_attention_is_explored_without_the_causal_mask(char_tokenizer):
    torch.manual_seed(0)
    config = EncoderConfig(vocab_size=65, block_size=32, n_embd=16, n_head=2, n_layer=1)
    explorer = attention_explorer(EncoderClassifier(config, n_classes=3), char_tokenizer, PROMPT, query=3)
    assert not explorer.prompt.causal and explorer.prompt.key_labels is None
    view = explorer.view
    assert view.weights.shape == (28, 28) and torch.all(view.weights[3, 4:] > 0), "query 3 reads ahead"
    assert len(view.top) == 3 and any(position > 3 for position, _, _ in view.top)
    assert explorer.figure.axes[1].get_title() == "no mask: every key is read"


# --- inside one prediction: next token, logit lens, attribution, embeddings, forward trace ----------


def shaken_gpt(kind: str = "gpt"):
    """A small model whose weights are off their init, so that predictions differ from token to token."""
    from attention_playground import GPT

    torch.manual_seed(0)
    config = GPTConfig(vocab_size=65, block_size=32, n_embd=16, n_head=2, n_layer=2, bias=True)
    model = GPT(config) if kind == "gpt" else ExtendedGPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


@pytest.mark.parametrize("kind", ["gpt", "extended"])
def test_next_token_sliders_change_what_is_drawn_from(char_tokenizer, kind):
    from attention_playground.nn.sampling import sampling_probs
    from attention_playground.viz import NextTokenExplorer

    model = shaken_gpt(kind)
    explorer = NextTokenExplorer(model, char_tokenizer, PROMPT)
    logits = model(torch.tensor([char_tokenizer.encode(PROMPT)]))[0][0, -1].detach()
    torch.testing.assert_close(explorer.view.probs, logits.softmax(-1))
    assert explorer.view.kept == 65 and "temperature 1" in explorer.title.value
    before = bytes(explorer.image.value)
    largest = []
    for temperature in (2.0, 1.0, 0.5):
        explorer.temperature.value = temperature
        torch.testing.assert_close(explorer.view.probs, sampling_probs(logits, temperature))
        largest.append(explorer.view.probs.max().item())
    assert largest == sorted(largest) and bytes(explorer.image.value) != before
    explorer.top_k.value = 5
    assert explorer.view.kept == 5 and "top-k 5" in explorer.title.value
    explorer.top_k.value, explorer.top_p.value = 0, 0.3
    torch.testing.assert_close(explorer.view.probs, sampling_probs(logits, 0.5, None, 0.3))
    assert explorer.view.kept < 65 and "top-p 0.3" in explorer.title.value
    bars = explorer.figure.axes[0].patches[: len(explorer.view.top)]
    assert [b.get_height() for b in bars] == pytest.approx([p for _, _, p in explorer.view.top])


@pytest.mark.parametrize("knobs", [(1.0, None, None), (0.8, 10, 0.9), (0.0, None, None)])
def test_next_button_writes_what_sample_text_writes(char_tokenizer, knobs):
    from attention_playground import sample_text
    from attention_playground.viz import NextTokenExplorer

    model = shaken_gpt()
    temperature, top_k, top_p = knobs
    explorer = NextTokenExplorer(model, char_tokenizer, "ROMEO:", temperature, top_k, top_p, seed=7)
    before = bytes(explorer.image.value)
    for _ in range(30):  # past block_size=32: both read the last 32 tokens
        explorer.next_button.click()
    expected = sample_text(model, char_tokenizer, "ROMEO:", 30, temperature, top_k, seed=7, use_cache=False,
                           top_p=top_p)  # fmt: skip
    assert explorer.text.value == expected and len(explorer.drawn) == 30
    assert bytes(explorer.image.value) != before and explorer.view.prompt.ids[-1] == explorer.drawn[-1]
    explorer.text.value = "JULIET:"  # typed by hand: a fresh prompt
    assert explorer.drawn == [] and explorer.view.prompt.ids == char_tokenizer.encode("JULIET:")
    explorer.text.value = "naïve"
    assert "Cannot read this prompt" in explorer.message.value
    assert explorer.view.prompt.ids == char_tokenizer.encode("JULIET:"), "the last view stays"


def test_logit_lens_explorer_follows_its_toggle_and_prompt(char_tokenizer):
    from attention_playground.viz import LogitLensExplorer

    model = shaken_gpt()
    explorer = LogitLensExplorer(model, char_tokenizer, PROMPT)
    logits = model(torch.tensor([char_tokenizer.encode(PROMPT)]))[0][0].detach()
    torch.testing.assert_close(explorer.lens.logits[-1], logits)
    image = explorer.figure.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.tensor(image.data[:, -1]), explorer.lens.final_probs[:, -1])
    assert explorer.figure.axes[1].get_ylabel() == "probability of the final guess"
    before = bytes(explorer.image.value)
    explorer.color_by.value = "top"
    assert explorer.figure.axes[1].get_ylabel() == "probability of this guess"
    image = explorer.figure.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.tensor(image.data[:, -1]), explorer.lens.top_probs[:, -1])
    assert bytes(explorer.image.value) != before
    explorer.text.value = "JULIET:\nO Romeo"
    assert len(explorer.lens.prompt.ids) == 15 and "(position 14)" in explorer.title.value
    assert [t.get_text() for t in explorer.figure.axes[0].get_xticklabels()] == explorer.lens.prompt.labels


def test_attribution_explorer_follows_position_and_token(char_tokenizer):
    from attention_playground.viz import AttributionExplorer, direct_logit_attribution

    model = shaken_gpt()
    explorer = AttributionExplorer(model, char_tokenizer, PROMPT)
    a = explorer.attribution
    assert a.position == len(PROMPT) - 1 == explorer.position.value
    assert a.token == explorer.token.options[0][1] and a.total == pytest.approx(a.logit, abs=1e-4)
    explorer.position.value = 6  # after the newline
    expected = direct_logit_attribution(model, char_tokenizer, PROMPT, position=6)
    assert explorer.attribution.position == 6 and explorer.attribution.token == expected.token
    torch.testing.assert_close(explorer.attribution.values, expected.values)
    third = explorer.token.options[2][1]
    explorer.token.value = third
    assert explorer.attribution.token == third and explorer.attribution.position == 6
    assert explorer.attribution.total == pytest.approx(explorer.attribution.logit, abs=1e-4)
    widths = [bar.get_width() for bar in explorer.figure.axes[0].patches]
    assert widths == pytest.approx(explorer.attribution.values.tolist())
    explorer.text.value = "abc"
    assert explorer.position.max == explorer.position.value == 2 and explorer.attribution.position == 2


def test_embedding_explorer_menus_choose_components_and_a_class(char_tokenizer):
    from attention_playground.viz import EmbeddingExplorer

    explorer = EmbeddingExplorer(shaken_gpt(), char_tokenizer)
    assert explorer.positions_figure is not None
    assert explorer.figure.axes[0].get_xlabel().startswith("component 0")
    explorer.x.value, explorer.y.value = 2, 3
    ax = explorer.figure.axes[0]
    assert ax.get_xlabel().startswith("component 2") and ax.get_ylabel().startswith("component 3")
    vowels = [i for i, c in enumerate(explorer.map.classes) if c == "vowel"]
    points = ax.collections[0].get_offsets()  # the first class drawn: vowels
    torch.testing.assert_close(torch.tensor(points.data).float(), explorer.map.coords[vowels][:, [2, 3]])
    assert explorer.highlight.value is not None, "a None choice shows a blank menu in the browser"
    explorer.highlight.value = "capital"
    alphas = {c.get_label().split(" ")[0]: c.get_alpha() for c in explorer.figure.axes[0].collections}
    assert alphas["capital"] > 0.5 and alphas["vowel"] < 0.5
    explorer.highlight.value = explorer.highlight.options[0][1]  # every class again
    assert {c.get_alpha() for c in explorer.figure.axes[0].collections} == {0.85}
    rope = ExtendedGPT(
        GPTConfig(vocab_size=65, block_size=32, n_embd=16, n_head=2, n_layer=1, position="rope")
    )
    assert EmbeddingExplorer(rope, char_tokenizer).positions_figure is None


def test_trace_explorer_menus_filter_the_table_and_choose_the_step(char_tokenizer):
    from attention_playground.viz import TraceExplorer, trace_forward

    model = shaken_gpt()
    explorer = TraceExplorer(model, char_tokenizer, PROMPT)
    torch.testing.assert_close(explorer.trace.logits, trace_forward(model, char_tokenizer, PROMPT).logits)
    every = explorer.table.value.count("<tr>")
    assert every == 1 + len(explorer.trace.steps)
    assert explorer.part.value is not None, "a None choice shows a blank menu in the browser"
    explorer.part.value = "block 1"
    assert explorer.table.value.count("<tr>") == 1 + 8 and "blocks.0" not in explorer.table.value
    explorer.step.value = "lm_head"
    assert explorer.figure.axes[0].get_title().startswith(f"lm_head (1, {len(PROMPT)}, 65)")
    explorer.text.value = "JULIET"
    assert "(1, 6, 65)" in explorer.title.value and explorer.trace.prompt.ids == char_tokenizer.encode(
        "JULIET"
    )
    assert explorer.table.value.count("<tr>") == 1 + 8, "the menu's part stays chosen"
    explorer.part.value = explorer.part.options[0][1]  # every part again
    assert explorer.table.value.count("<tr>") == every
