"""Shortening user text for display."""

from __future__ import annotations

from embedlab.text import clip, one_line, short_labels, shorten


def test_short_labels_are_unique_and_short():
    texts = ["The same long sentence about annual leave rules"] * 2 + ["年假申请需要提前多少天提交给直属经理审批", ""]
    labels = short_labels(texts, "Q", width=20)
    assert len(set(labels)) == 4
    assert labels[0].startswith("Q1 · ") and labels[0].endswith("…") and labels[1].startswith("Q2 · ")
    assert labels[3] == "Q4 · (empty)"
    assert shorten("年假申请需要提前多少天", 10) == "年假申请需…"  # CJK counts double
    assert shorten("a\nb   c") == "a b c"


def test_clip_and_one_line_cut_with_an_ellipsis():
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdefg", 6) == "abcde…" and len(clip("abcdefg", 6)) == 6
    assert one_line("a\n\n b\tc", 10) == "a b c"
    assert one_line("word " * 10, 8) == "word wo…"
