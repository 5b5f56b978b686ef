"""The exact Qwen tokenizer."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from embedlab import tokens


def test_known_vectors():
    assert tokens.encode("Hello world") == [9707, 1879]
    assert tokens.encode("你好世界") == [108386, 99489]
    assert tokens.count_tokens("") == 0
    # Qwen splits numbers into single digits.
    assert len(tokens.encode("12345")) == 5


def test_vocabulary_size():
    assert tokens._encoding().n_vocab == tokens.VOCAB_SIZE == 151_643


def test_nfc_normalisation_matches_composed_form():
    decomposed = unicodedata.normalize("NFD", "café")
    assert tokens.encode(decomposed) == tokens.encode("café")


def test_huge_input_is_split_without_changing_tokens():
    text = ("word " * 30_000).strip()
    assert tokens.count_tokens(text) == 30_000


@given(st.text(max_size=200))
def test_round_trip_and_offsets(text):
    text = unicodedata.normalize("NFC", text)
    ids, starts = tokens.token_offsets(text)
    assert tokens.decode(ids) == text
    assert list(starts) == sorted(starts)
    assert all(0 <= s < max(len(text), 1) for s in starts)


def test_truncate_keeps_whole_tokens():
    assert tokens.truncate("Hello world again", 2) == "Hello world"
    assert tokens.truncate("short", 10) == "short"


def test_the_vocabulary_is_read_without_importing_the_dashscope_sdk():
    import subprocess
    import sys

    code = "import sys; from embedlab import tokens; tokens.count_tokens('x'); print('dashscope' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
