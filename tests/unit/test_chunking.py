"""Chunkers: invariants under hypothesis, plus concrete examples of each strategy."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedlab import chunking, tokens
from embedlab.chunking import Chunk, TokenIndex, chunk_text

# Pieces that exercise every cut rule: paragraphs, lines, both kinds of sentence ends, headings,
# code fences, long words, CJK, emoji (4 UTF-8 bytes), combining marks and runs of whitespace.
FRAGMENTS = [
    "The policy applies to all staff.", " Travel must be approved!", " Why?", " e.g. 3.14 km",
    "员工出差前应提交申请。", "报销在三十日内完成！", "是否需要审批？", "第一条；第二条",
    "\n", "\n\n", "\n\n\n", "   ", "\t", "# Heading\n", "## Sub heading\n", "```\n# not a heading\n```\n",
    "supercalifragilisticexpialidocious", "Antidisestablishmentarianism", "😀👍🏽", "e\u0301", "ü",
    "한국어 문장입니다.", "- item one\n- item two\n", "12345678901234567890", ",", "“引号”", "—",
]
documents = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=120).map("".join),
    st.text(max_size=400),
)
budgets = st.integers(min_value=chunking.MIN_MAX_TOKENS, max_value=80)


def covered(text: str, chunks: list[Chunk]) -> set[int]:
    return {i for c in chunks for i in range(c.start, c.end)}


def check_invariants(text: str, chunks: list[Chunk], max_tokens: int, overlap: int) -> None:
    for c in chunks:
        assert 0 <= c.start < c.end <= len(text)
        assert c.tokens == tokens.count_tokens(text[c.start : c.end])  # what "tokens" means
        assert c.tokens <= max_tokens
        assert text[c.start : c.end].strip()
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start and prev.end < nxt.end  # in order
        if overlap == 0:
            assert nxt.start >= prev.end
    non_space = {i for i, ch in enumerate(text) if not ch.isspace()}
    assert non_space <= covered(text, chunks)


def shared_tokens(index: TokenIndex, prev: Chunk, nxt: Chunk) -> int:
    return index.count(nxt.start, prev.end) if nxt.start < prev.end else 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents, max_tokens=budgets, strategy=st.sampled_from(chunking.STRATEGIES), data=st.data())
def test_invariants_hold_for_every_strategy(text, max_tokens, strategy, data):
    overlap = data.draw(st.integers(0, max_tokens // 2))
    index = TokenIndex(text)
    chunks = chunk_text(text, strategy, max_tokens, overlap, index=index)
    check_invariants(text, chunks, max_tokens, overlap)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert shared_tokens(index, prev, nxt) <= overlap


@settings(max_examples=80, deadline=None)
@given(
    words=st.lists(st.sampled_from(["policy", "staff", " travel", " 审批", "报销", " approval.", "\n\n", " 12"]), min_size=40, max_size=200),
    max_tokens=st.integers(8, 40),
    data=st.data(),
)
def test_token_windows_share_exactly_the_requested_overlap(words, max_tokens, data):
    text = "".join(words)
    overlap = data.draw(st.integers(0, max_tokens // 2))
    index = TokenIndex(text)
    chunks = chunking.chunk_tokens(text, max_tokens, overlap, index=index)
    check_invariants(text, chunks, max_tokens, overlap)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        # Exactly `overlap` document tokens (these words have no characters split over tokens).
        assert shared_tokens(index, prev, nxt) == overlap


def test_token_windows_are_full_and_contiguous():
    text = "word " * 1000
    chunks = chunk_text(text, "tokens", 100, 0)
    assert [c.tokens for c in chunks[:-1]] == [100] * (len(chunks) - 1)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert chunks[-1].end == len(text) - 1  # the last window, a lone trailing space, is dropped


def test_recursive_keeps_paragraphs_and_sentences_whole():
    paras = [f"Paragraph {i} says one thing. It adds a second sentence!" for i in range(6)]
    text = "\n\n".join(paras)
    assert tokens.count_tokens(paras[0]) == 13
    chunks = chunk_text(text, "recursive", 20, 0)  # one paragraph fits, two do not
    assert [text[c.start : c.end] for c in chunks] == paras
    small = chunk_text(text, "recursive", 10, 0)
    assert [text[c.start : c.end] for c in small][:2] == ["Paragraph 0 says one thing.", "It adds a second sentence!"]


def test_recursive_splits_chinese_sentences_on_chinese_punctuation():
    text = "员工出差前应向部门经理提交申请表。报销需在三十日内完成，逾期不予受理！是否需要总经理审批？按第三条办理；特殊情况另议。"
    chunks = chunk_text(text, "recursive", 16, 0)
    pieces = [text[c.start : c.end] for c in chunks]
    assert pieces[0] == "员工出差前应向部门经理提交申请表。"
    assert all(p[-1] in "。！？；" for p in pieces)
    assert "".join(pieces) == text


def test_recursive_overlap_repeats_the_end_of_the_previous_chunk():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    index = TokenIndex(text)
    chunks = chunk_text(text, "recursive", 40, 12, index=index)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.start < prev.end  # overlapping
        assert 0 < shared_tokens(index, prev, nxt) <= 12
        assert text[nxt.start : prev.end].startswith("Sentence number")  # starts at a sentence


def test_markdown_sections_follow_headings_and_skip_code_fences():
    text = (
        "Intro line.\n\n# Leave\nAnnual leave is 15 days.\n\n## Sick leave\nBring a note.\n\n"
        "```bash\n# not a heading\necho hi\n```\n\n# Travel\nBook through the portal.\n"
    )
    chunks = chunk_text(text, "markdown", 200, 0)
    heads = [text[c.start : c.end].splitlines()[0] for c in chunks]
    assert heads == ["Intro line.", "# Leave", "## Sick leave", "# Travel"]
    assert "# not a heading" in text[chunks[2].start : chunks[2].end]


def test_markdown_falls_back_to_recursive_for_big_sections():
    body = " ".join(f"Rule {i} applies to everyone." for i in range(60))
    text = f"# Small\nShort section.\n\n# Big\n{body}\n"
    chunks = chunk_text(text, "markdown", 50, 0)
    assert text[chunks[0].start : chunks[0].end] == "# Small\nShort section."
    assert len(chunks) > 4 and all(c.tokens <= 50 for c in chunks)
    assert text[chunks[1].start :].startswith("# Big")


def test_spans_index_the_original_text_when_it_is_not_nfc():
    text = unicodedata.normalize("NFD", "Café résumé naïve. " * 50)
    assert not unicodedata.is_normalized("NFC", text)
    for strategy in chunking.STRATEGIES:
        chunks = chunk_text(text, strategy, 20, 5)
        check_invariants(text, chunks, 20, 5)


def test_marks_give_the_character_where_each_limit_falls():
    text = "word" + " word" * 8999  # "word", then 8,999 times " word"
    index = TokenIndex(text)
    assert index.n_tokens == 9000
    assert index.marks() == {2048: 2048 * 5 - 1, 8192: 8192 * 5 - 1}
    assert tokens.count_tokens(text[: index.marks()[2048]]) == 2048


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "sentences"}, "Unknown chunking strategy"),
        ({"max_tokens": 4}, "at least 8"),
        ({"max_tokens": 100, "overlap": 60}, "between 0 and half"),
        ({"overlap": -1}, "between 0 and half"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        chunk_text("some text", **kwargs)


def test_empty_and_blank_texts_give_no_chunks():
    for strategy in chunking.STRATEGIES:
        assert chunk_text("", strategy) == []
        assert chunk_text(" \n\n\t ", strategy) == []


def test_index_for_another_text_is_rejected():
    with pytest.raises(ValueError, match="another text"):
        chunk_text("abc", index=TokenIndex("xyz"))
