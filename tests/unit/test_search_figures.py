"""The Search page's figures: threshold colouring, rank moves, escaped user text."""

from __future__ import annotations

import pytest

from embedlab.figures import search_rank_moves, search_similarity_bars


def test_similarity_bars_grey_below_threshold_and_escape_text():
    fig = search_similarity_bars(["#1 <b>a.md</b>", "#2 b.md"], [0.72, 0.41], 0.5, ["<img src=x>", "ok"])
    bar = fig.data[0]
    assert list(bar.marker.color) == ["#4c78a8", "#c7c7c7"]
    assert bar.y[0] == "#1 &lt;b&gt;a.md&lt;/b&gt;" and "<img" not in bar.customdata[0]
    assert fig.layout.shapes[0].x0 == 0.5  # the threshold line


def test_rank_moves_mark_moved_items_and_missing_sides():
    fig = search_rank_moves([("up <i>", 3, 1), ("same", 2, 2), ("new", None, 3)], "embedding", "rerank")
    moved, same, new = fig.data
    assert list(moved.y) == [3, 1] and moved.line.color == "#d62728"
    assert same.line.color == "#9aa0a6"
    assert list(new.y) == [4, 3] and list(new.marker.symbol) == ["circle-open", "circle"]
    assert "<i>" not in moved.hovertemplate


def test_similarity_bars_without_a_calibrated_threshold_grey_nothing_and_draw_no_line():
    fig = search_similarity_bars(["#1 a.md", "#2 b.md"], [0.88, 0.41], None, ["x", "y"])
    assert list(fig.data[0].marker.color) == ["#4c78a8", "#4c78a8"]
    assert not fig.layout.shapes and not fig.layout.annotations
    assert fig.layout.xaxis.range[0] == pytest.approx(0.36)  # zoomed to the data alone


def test_figure_labels_come_through_the_given_gettext():
    catalog = {"Similarity of each result": "各结果的相似度", "threshold {value:.2f}": "阈值 {value:.2f}",
               "Rank moves: {left} → {right}": "排名变化：{left} → {right}"}
    fig = search_similarity_bars(["#1 a.md"], [0.7], 0.5, ["x"], gettext=lambda s: catalog.get(s, s))
    assert fig.layout.title.text == "各结果的相似度" and fig.layout.annotations[0].text == "阈值 0.50"
    moves = search_rank_moves([("a", 1, 2)], "左", "右", gettext=lambda s: catalog.get(s, s))
    assert moves.layout.title.text == "排名变化：左 → 右" and list(moves.data[0].x) == ["左", "右"]
