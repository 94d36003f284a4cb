"""viz.export_explorer and `attention-playground export`: one HTML page that holds the model's own
attention weights and loads nothing from another host. The page's sliders are tested in a browser
by tests/test_site.py."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import attention_playground as ap
from attention_playground import viz
from attention_playground.analysis.attention_maps import PromptAttention
from attention_playground.tools.cli import main as cli_main
from attention_playground.viz.export import LOG_STEP, decode_weights, encode_weights

LINE = "ROMEO:\nBut, soft! what light"
DATA = re.compile(r'<script type="application/json" id="ap-data">(.*?)</script>', re.S)
# a fetch from another host: any http(s) URL, or a protocol-relative src/href ("//host/x.js")
ELSEWHERE = re.compile(r"https?://|\b(?:src|href)\s*=\s*[\"']?\s*//", re.I)


def page_data(path: Path) -> dict:
    match = DATA.search(path.read_text(encoding="utf-8"))
    assert match, "the page holds no explorer data"
    return json.loads(match.group(1))


def stored_rows(data: dict) -> np.ndarray:
    """The page's weights, decoded here from its documented format (not with the library's decoder):
    uint16 little-endian -ln(w) * log_step, each query's keys 0..q, layer by head by query."""
    raw = np.frombuffer(base64.b64decode(data["weights"]), dtype="<u2").astype(np.float64)
    return np.exp(-raw / data["log_step"])


def row_of(data: dict, layer: int, head: int, query: int) -> np.ndarray:
    _, nh, T, _ = data["shape"]
    per_head = T * (T + 1) // 2
    start = (layer * nh + head) * per_head + query * (query + 1) // 2
    return stored_rows(data)[start : start + query + 1]


@pytest.fixture(scope="module")
def model(char_tokenizer) -> ap.GPT:
    ap.set_seed(3)
    config = ap.GPTConfig(vocab_size=char_tokenizer.vocab_size, block_size=32, n_embd=32, n_head=4, n_layer=2)
    return ap.GPT(config).eval()


def test_the_page_holds_the_models_own_weights(model, char_tokenizer, tmp_path):
    path = viz.export_explorer(model, char_tokenizer, LINE, tmp_path / "explorer.html", 1, 2, query=9)
    assert path == tmp_path / "explorer.html" and path.exists()
    data = page_data(path)
    prompt = viz.prompt_attention(model, char_tokenizer, LINE)
    T = len(prompt.ids)
    assert data["shape"] == [2, 4, T, T] and data["labels"] == prompt.labels and data["causal"] is True
    assert data["start"] == {"layer": 1, "head": 2, "query": 9}
    # the causal lower triangle only: T(T+1)/2 weights a head, 2 bytes each
    assert len(base64.b64decode(data["weights"])) == 2 * 4 * T * (T + 1) // 2 * 2
    for layer, head, query in [(1, 2, 9), (0, 0, 0), (0, 3, T - 1), (1, 1, 5)]:
        model_row = prompt.weights[layer, head, query, : query + 1].double().numpy()
        stored = row_of(data, layer, head, query)
        # the stored precision: -ln(w) to 1/(2 * 1024), so each weight to 0.05% of itself
        np.testing.assert_allclose(stored, model_row, rtol=0.5 / LOG_STEP * 1.01, atol=1e-12)


def test_peaked_weights_round_trip_to_the_stored_precision():
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 7, 7) * 8  # sharp rows: weights from ~1 down to ~1e-20
    mask = torch.ones(7, 7).tril().bool()
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    prompt = PromptAttention(list(range(7)), list("abcdefg"), scores, weights, "")
    decoded = decode_weights(encode_weights(prompt), (2, 3, 7, 7), causal=True)
    assert torch.equal(decoded == 0, ~mask.expand(2, 3, 7, 7))  # nothing stored above the diagonal
    relative = ((decoded - weights.double()).abs() / weights.double())[mask.expand(2, 3, 7, 7)]
    assert relative.max() < 0.5 / LOG_STEP * 1.01


def test_cross_attention_stores_every_key(char_tokenizer):
    weights = torch.rand(1, 2, 3, 5).softmax(-1)
    prompt = PromptAttention([0, 1, 2], list("abc"), weights.log(), weights, "", list("vwxyz"), causal=False)
    data = viz.export.explorer_data(prompt)
    assert data["key_labels"] == list("vwxyz") and data["causal"] is False
    assert len(base64.b64decode(data["weights"])) == 2 * 3 * 5 * 2


def test_the_page_loads_nothing_from_another_host(model, char_tokenizer, tmp_path):
    text = viz.export_explorer(model, char_tokenizer, LINE, tmp_path / "e.html").read_text(encoding="utf-8")
    assert not ELSEWHERE.search(text), ELSEWHERE.search(text)
    assert "default-src 'none'" in text  # and the browser is told to refuse any fetch
    for element, attribute in (("<script", "src"), ("<link", "href"), ("<img", "src"), ("<iframe", "src")):
        for tag in re.findall(rf"{element}\b[^>]*>", text):
            assert f"{attribute}=" not in tag, tag  # nothing loaded from a file beside it either
    # the check itself catches a planted remote script and a protocol-relative one
    remote, protocol_relative = "https://cdn.example.org/a.js", "//cdn.example.org/b.js"
    for planted in (f'<script src="{remote}"></script>', f"<script src='{protocol_relative}'></script>"):
        assert ELSEWHERE.search(text.replace("</head>", planted + "</head>"))


def test_bad_requests_say_what_to_fix_and_write_nothing(model, char_tokenizer, tmp_path):
    with pytest.raises(ValueError, match=r"does not end in \.html"):
        viz.export_explorer(model, char_tokenizer, LINE, tmp_path / "explorer.png")
    with pytest.raises(ValueError, match="head=4 is out of range"):
        viz.export_explorer(model, char_tokenizer, LINE, tmp_path / "explorer.html", head=4)
    with pytest.raises(ValueError, match="empty"):
        viz.export_explorer(model, char_tokenizer, "", tmp_path / "explorer.html")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_exports_a_checkpoint(model, char_tokenizer, tmp_path, capsys):
    checkpoint = ap.save_checkpoint(tmp_path / "ckpt.pt", model, char_tokenizer, step=7)
    out = tmp_path / "page.html"
    args = ["export", "--checkpoint", str(checkpoint), "--prompt", LINE, "--out", str(out), "--head", "3"]
    assert cli_main(args) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    data = page_data(out)
    assert data["start"]["head"] == 3 and "step 7" in data["title"]
    prompt = viz.prompt_attention(model, char_tokenizer, LINE)
    np.testing.assert_allclose(row_of(data, 1, 3, 4), prompt.weights[1, 3, 4, :5].double().numpy(), rtol=1e-3)
    assert cli_main(args) == 1  # an existing page is kept without --force
    assert "exists: pass --force" in capsys.readouterr().err
    assert cli_main([*args, "--force", "--prompt", "unknown ~ character"]) == 1
    assert "error:" in capsys.readouterr().err and page_data(out)["start"]["head"] == 3  # the old page stays
