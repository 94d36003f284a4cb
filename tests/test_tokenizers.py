import pytest

from attention_playground import CharTokenizer, GPT2Tokenizer, TokenizerError, get_tokenizer, token_labels
from attention_playground.data.tokenizers import tokenizer_from_dict


def test_char_vocabulary_of_tiny_shakespeare(char_tokenizer):
    assert char_tokenizer.vocab_size == 65
    assert (
        "".join(char_tokenizer.chars) == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    )
    assert char_tokenizer.encode("hii there") == [46, 47, 47, 1, 58, 46, 43, 56, 43]


def test_char_round_trip_on_all_of_tiny_shakespeare(shakespeare, char_tokenizer):
    assert char_tokenizer.decode(char_tokenizer.encode(shakespeare)) == shakespeare


def test_unknown_character_names_the_character(char_tokenizer):
    with pytest.raises(TokenizerError, match=r"character 'é' \(U\+00E9\) at position 3 is not in"):
        char_tokenizer.encode("café")


def test_decode_outside_vocabulary(char_tokenizer):
    with pytest.raises(TokenizerError, match="token id 99 is outside the vocabulary"):
        char_tokenizer.decode([1, 99])


def test_char_tokenizer_saves_and_loads(tmp_path, char_tokenizer):
    char_tokenizer.save(tmp_path / "vocab.json")
    loaded = CharTokenizer.load(tmp_path / "vocab.json")
    assert loaded.chars == char_tokenizer.chars
    assert tokenizer_from_dict(char_tokenizer.to_dict()).encode("ROMEO:") == char_tokenizer.encode("ROMEO:")
    (tmp_path / "gpt2.json").write_text('{"kind": "gpt2"}', encoding="utf-8")
    with pytest.raises(TokenizerError, match="holds a 'gpt2' tokenizer, not a char one"):
        CharTokenizer.load(tmp_path / "gpt2.json")


def test_char_labels_are_the_characters(char_tokenizer):
    ids = char_tokenizer.encode("To be,\nor")
    assert char_tokenizer.token_strings(ids) == list("To be,\nor")
    assert token_labels(char_tokenizer, ids) == ["T", "o", "␣", "b", "e", ",", "⏎", "o", "r"]
    with pytest.raises(TokenizerError, match="token id 99 is outside the vocabulary"):
        token_labels(char_tokenizer, [1, 99])


def test_gpt2_vocabulary_and_round_trip():
    tokenizer = GPT2Tokenizer()
    assert tokenizer.vocab_size == 50257
    text = "Hello, world! ROMEO:\n  naïve café — 東京 🙂 <|endoftext|> 12345"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer_from_dict(tokenizer.to_dict()).encode(text) == ids


def test_gpt2_labels_make_spaces_and_newlines_visible():
    tokenizer = GPT2Tokenizer()
    assert token_labels(tokenizer, tokenizer.encode("To be,\nor not")) == [
        "To",
        "␣be",
        ",",
        "⏎",
        "or",
        "␣not",
    ]
    assert tokenizer.token_strings(tokenizer.encode("☃")) == ["\ufffd", "\ufffd"]  # BPE splits its bytes


def test_get_tokenizer():
    assert get_tokenizer("char", "abca").vocab_size == 3
    with pytest.raises(TokenizerError, match="unknown tokenizer 'bpe': choose one of char, gpt2"):
        get_tokenizer("bpe", "x")
