"""Nearest neighbours of a picked point in the full vectors, without and with an instruction, and
their table."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab import figures
from embedlab.projection.mapdata import Corpus, neighbour_table
from embedlab.projection.neighbours import compare_neighbours, point_neighbours
from tests.support.word_embedder import WordEmbedder


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def angles(degrees: list[float]) -> np.ndarray:
    """Points on the unit circle at these angles: cosine similarity = cos(difference)."""
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def test_exact_neighbours_on_a_known_set():
    vectors = angles([0, 10, 25, 45, 90, 180, -30])
    found = point_neighbours(vectors, 0, k=4)
    assert found.rows.tolist() == [1, 2, 6, 3]  # 10, 25, 30 (the -30), 45 degrees away
    assert np.allclose(found.similarities, np.cos(np.radians([10, 25, 30, 45])), atol=1e-6)
    assert found.rows.dtype == np.int64 and found.similarities.dtype == np.float32
    # The farthest point's list runs the other way round, and it never lists itself.
    far = point_neighbours(vectors, 5, k=6)
    assert far.rows.tolist() == [4, 3, 6, 2, 1, 0] and 5 not in far.rows
    assert np.all(np.diff(far.similarities) <= 0)


def test_matches_brute_force_on_random_vectors():
    rng = np.random.default_rng(3)
    vectors = unit(rng.normal(size=(300, 48)))
    for row in (0, 17, 299):
        sims = vectors @ vectors[row]
        sims[row] = -np.inf
        expected = np.argsort(-sims, kind="stable")[:10]
        found = point_neighbours(vectors, row)
        assert found.rows.tolist() == expected.tolist()
        assert np.allclose(found.similarities, sims[expected], atol=1e-6)


def test_fewer_than_eleven_texts_give_every_other_text():
    vectors = angles([0, 20, 40, 60, 80])
    found = point_neighbours(vectors, 2)
    assert sorted(found.rows.tolist()) == [0, 1, 3, 4] and len(found.similarities) == 4
    alone = point_neighbours(angles([0]), 0)
    assert alone.rows.size == 0 and alone.similarities.size == 0
    with pytest.raises(ValueError, match="row must be between 0 and 4"):
        point_neighbours(vectors, 5)


def test_duplicates_are_neighbours_but_the_point_is_not_its_own():
    texts = ["annual leave days", "annual leave days", "annual leave days", "taxi fares receipt", "badge visitors"]
    vectors = WordEmbedder().embed(texts)
    for row in (0, 1, 2):
        found = point_neighbours(vectors, row, k=3)
        twins = sorted({0, 1, 2} - {row})
        assert found.rows[:2].tolist() == twins  # equal similarity: by row number
        assert np.allclose(found.similarities[:2], 1.0, atol=1e-6)
        assert row not in found.rows.tolist()
    # More copies than neighbours asked for: still k rows, none of them the point itself.
    copies = np.repeat(vectors[:1], 14, axis=0)
    found = point_neighbours(copies, 7, k=10)
    assert len(found.rows) == 10 and 7 not in found.rows.tolist()


def test_overlap_of_the_two_settings_is_counted():
    plain = angles([0, 10, 20, 30, 40, 50, 60, 70])
    # The instruction moves rows 1 and 2 away from row 0: two of its four nearest change.
    instructed = angles([0, 100, 110, 30, 40, 50, 60, 70])
    comparison = compare_neighbours(plain, instructed, 0, k=4)
    assert comparison.plain.rows.tolist() == [1, 2, 3, 4]
    assert comparison.instructed.rows.tolist() == [3, 4, 5, 6]
    assert (comparison.shared, comparison.k) == (2, 4)
    same = compare_neighbours(plain, plain, 3, k=5)
    assert (same.shared, same.k) == (5, 5)
    with pytest.raises(ValueError, match="hold 8 and 3 vectors"):
        compare_neighbours(plain, plain[:3], 0)


def test_neighbour_table_rows_follow_the_neighbours():
    corpus = Corpus("t", ("a", "b", "c", "d"), ("x", "y", "x", "z"))
    vectors = angles([0, 5, 50, 200])
    found = point_neighbours(vectors, 0, k=2)
    table = neighbour_table(corpus, found, np.array([0, 1, -1, 2]), "cluster {n}", "noise")
    assert list(table.columns) == ["rank", "text", "similarity", "label", "cluster"]
    assert table["rank"].tolist() == [1, 2] and table["text"].tolist() == ["b", "c"]
    assert table["label"].tolist() == ["y", "x"] and table["cluster"].tolist() == ["cluster 2", "noise"]
    assert np.allclose(table["similarity"], np.cos(np.radians([5, 50])), atol=1e-6)
    unlabelled = Corpus("t", corpus.texts, None)
    assert neighbour_table(unlabelled, found, np.zeros(4, dtype=int))["label"].tolist() == ["", ""]
    empty = neighbour_table(corpus, point_neighbours(angles([0]), 0), np.zeros(1, dtype=int))
    assert empty.empty and list(empty.columns) == ["rank", "text", "similarity", "label", "cluster"]


def test_marks_dim_the_texts_and_never_carry_row_ids():
    coords = angles([0, 40, 80, 120, 160])
    fig = figures.umap_map(coords, list("abcde"), ["x", "x", "y", "y", "y"], "map")
    figures.add_selection(fig, coords[[1, 3]], "selected on “map”")
    figures.add_pick(fig, coords[0], coords[[1, 2]], "picked text", "its 2 nearest neighbours")
    texts = figures.text_traces(fig)
    assert [t.name for t in texts] == ["x", "y"] and all(t.marker.opacity == 0.25 for t in texts)
    marks = fig.data[len(texts):]
    assert [m.name for m in marks] == ["selected on “map”", "its 2 nearest neighbours", "picked text"]
    # A selection over the marks counts each text once: they carry no row ids and no hover.
    assert all(m.customdata is None and m.hoverinfo == "skip" for m in marks)
    assert list(marks[0].x) == [coords[1, 0], coords[3, 0]] and list(marks[2].y) == [coords[0, 1]]
    # 3-D maps get 3-D marks; user text in a legend name is escaped.
    cube = np.hstack([coords, np.zeros((5, 1), np.float32)])
    fig3 = figures.umap_map(cube, list("abcde"), ["x"] * 5, "map")
    figures.add_pick(fig3, cube[0], cube[[1]], "<b>picked</b>", "ring")
    assert fig3.data[-1].type == "scatter3d" and fig3.data[-1].name == "&lt;b&gt;picked&lt;/b&gt;"
