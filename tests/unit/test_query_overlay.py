"""A question's dense, BM25 and hybrid hits related to a map's rows and to relevance (a labelled set
the collection holds, or judgments), the sentence counting them, and the figure drawing them."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from embedlab import figures, retrieval
from embedlab.instructions import format_query
from embedlab.judgments import chunk_key
from embedlab.keyword import IndexCache
from embedlab.projection.mapdata import records_corpus
from embedlab.projection.overlay import (
    FROM_JUDGMENTS,
    FROM_SET,
    MODES,
    NO_RELEVANCE,
    hit_rows,
    judged_relevance,
    query_overlay,
    set_query,
    set_relevance,
)
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support.labelled import small_set
from tests.support.word_embedder import HR_CHUNKS, HR_TASK, WordEmbedder


@pytest.fixture
def store(tmp_path) -> ChromaStore:
    """An embedded Chroma store with hr_policy_v1 (HR_CHUNKS) and small_set_v1 (the small labelled
    set's documents, each in two chunks whose source is the document's id)."""
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    emb = WordEmbedder()
    store.create(CollectionSpec("hr_policy_v1", emb.model_id, emb.dim, "HR policy", HR_TASK))
    texts = [t for _, t in HR_CHUNKS]
    store.upsert("hr_policy_v1", emb.model_id, [f"c{i}" for i in range(len(texts))], texts,
                 [{"source": s, "chunk": i} for i, (s, _) in enumerate(HR_CHUNKS)], emb.embed(texts))
    data = small_set()
    store.create(CollectionSpec("small_set_v1", emb.model_id, emb.dim))
    ids, chunks, metas = [], [], []
    for d in data.documents:
        words = d.text.split()
        for n, part in enumerate((" ".join(words[:3]), " ".join(words[3:]))):
            ids.append(f"{d.id}#{n}")
            chunks.append(part)
            metas.append({"source": d.id, "chunk": n})
    store.upsert("small_set_v1", emb.model_id, ids, chunks, metas, emb.embed(chunks))
    return store


def lists_for(store: ChromaStore, name: str, question: str, k: int) -> retrieval.ModeLists:
    emb = WordEmbedder()
    spec = store.spec(name)
    vector = emb.embed([format_query(spec.instruction, question)])[0]
    return retrieval.hybrid_search(store, spec, emb.model_id, vector, question, k, cache=IndexCache())


def test_hits_find_their_map_rows_and_hits_off_the_map_are_marked(store):
    lists = lists_for(store, "hr_policy_v1", "how many annual leave days", 4)
    map_ids = [f"c{i}" for i in reversed(range(len(HR_CHUNKS)))]  # the map's rows in another order
    del map_ids[map_ids.index(lists.dense[1].id)]  # one hit is not on the map
    rows = hit_rows(map_ids, lists.dense)
    assert rows.shape == (4,) and rows.dtype == np.int64
    assert rows[1] == -1
    for hit, row in zip(lists.dense, rows.tolist(), strict=True):
        if row >= 0:
            assert map_ids[row] == hit.id
    over = query_overlay(lists, map_ids, NO_RELEVANCE, 4)
    assert over.table("dense")["on map"].tolist() == [True, False, True, True]
    assert list(over.table("dense").columns) == ["rank", "text", "score", "relevant", "source", "on map"]
    assert over.table("bm25")["relevant"].unique().tolist() == ["unknown"]


def test_without_relevance_the_sentence_tells_how_far_the_lists_agree(store):
    lists = lists_for(store, "hr_policy_v1", "annual leave days", 3)
    over = query_overlay(lists, [f"c{i}" for i in range(len(HR_CHUNKS))], NO_RELEVANCE, 3)
    dense, bm25 = {h.id for h in lists.dense}, {h.id for h in lists.bm25}
    message = over.summary()
    assert message.params["shared"] == len(dense & bm25)
    assert message.params["from_dense"] == sum(h.id in dense for h in lists.hybrid)
    assert message.params["from_bm25"] == sum(h.id in bm25 for h in lists.hybrid)
    assert str(message).startswith("No labelled set or judgment says which chunks answer this question")
    assert f"share {len(dense & bm25)} of their top 3" in str(message)


def test_a_labelled_set_grades_every_chunk_of_its_documents(store):
    data = small_set()
    question = "  who approves a penetration test "
    index = set_query(data, question)
    assert index == 1 and set_query(data, "who approves a test") is None
    chunks = store.get_records("small_set_v1")
    relevance = set_relevance(data, index, [c["metadata"]["source"] for c in chunks])
    assert relevance.kind == FROM_SET
    assert relevance.total == 4  # d2 and d3, two chunks each
    lists = lists_for(store, "small_set_v1", question.strip(), 5)
    over = query_overlay(lists, [c["id"] for c in chunks], relevance, 5)
    for mode in MODES:
        m = over.modes[mode]
        assert m.relevant == [h.source in ("d2", "d3") for h in m.hits]
        assert over.table(mode)["relevant"].tolist() == ["yes" if r else "no" for r in m.relevant]
    found = {mode: sum(h.source in ("d2", "d3") for h in getattr(lists, mode)) for mode in MODES}
    assert str(over.summary()) == (
        f"Of the 4 relevant chunks (those of the documents the labelled set marks relevant), dense retrieval "
        f"finds {found['dense']} in its top 5, BM25 {found['bm25']} and hybrid {found['hybrid']}.")
    export = over.export()
    assert export["mode"].tolist() == [m for m in MODES for _ in range(len(getattr(lists, m)))]


def test_judgments_grade_the_judged_chunks_and_leave_the_others_unknown(store):
    lists = lists_for(store, "hr_policy_v1", "annual leave", 3)
    first, second = lists.dense[0], lists.dense[1]
    grades = {("annual leave", chunk_key(first.text)): 2, ("annual leave", chunk_key(second.text)): 0,
              ("another question", chunk_key(first.text)): 0, ("annual leave", chunk_key("not a stored chunk")): 1}
    relevance = judged_relevance(grades, " annual leave")
    assert relevance.kind == FROM_JUDGMENTS and relevance.total == 2 and len(relevance.by_chunk) == 3
    over = query_overlay(lists, [h.id for h in lists.dense], relevance, 3)
    assert over.modes["dense"].relevant == [True, False, None]
    assert over.table("dense")["relevant"].tolist() == ["yes", "no", "unknown"]
    assert over.table("hybrid")["on map"].tolist() == [h.id in {x.id for x in lists.dense} for h in lists.hybrid]
    message = over.summary()
    unknown = sum(r is None for m in over.modes.values() for r in m.relevant)
    assert message.params["unknown"] == unknown > 0
    assert "these counts are lower bounds" in str(message)
    assert judged_relevance(grades, "nobody asked this") is NO_RELEVANCE


def layer(mode: str, points: np.ndarray, relevant: list) -> figures.HitLayer:
    return figures.HitLayer(mode, f"{mode} top 2", points, list(range(1, len(points) + 1)), relevant,
                            [f"<b>hit {i}</b>" for i in range(len(points))])


def test_the_figure_draws_the_question_lines_and_rings_per_mode():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 3.0]])
    fig = figures.umap_map(coords, ["a", "b", "c", "d"], ["x", "x", "y", "y"], "map")
    before = len(fig.data)
    names = {True: "relevant", False: "not relevant", None: "not known"}
    figures.add_query_hits(fig, np.array([1.5, 1.5]), "<i>leave</i>?",
                           [layer("dense", coords[[1, 3]], [True, None]), layer("bm25", coords[[2]], [False]),
                            layer("hybrid", np.zeros((0, 2)), [])],
                           query_name="your question", relevance_names=names, rank_name="rank", k=2)
    spec = json.loads(fig.to_json())["data"][before:]
    lines = [t for t in spec if t["mode"] == "lines"]
    assert [t["legendgroup"] for t in lines] == ["dense", "bm25"]  # no trace for a mode without hits
    # One segment per hit from the question, separated by gaps.
    assert lines[0]["x"] == [1.5, 1.0, None, 1.5, 3.0, None] and lines[0]["line"]["dash"] == "solid"
    rings = [t for t in spec if t["mode"] == "markers" and t.get("legendgroup")]
    assert [t["marker"]["symbol"] for t in rings] == ["circle-open", "square-open"]
    assert rings[0]["marker"]["color"] == [figures.HIT_COLOURS[True], figures.HIT_COLOURS[None]]
    assert rings[0]["hovertext"] == ["&lt;b&gt;hit 0&lt;/b&gt;", "&lt;b&gt;hit 1&lt;/b&gt;"]
    assert "customdata" not in rings[0]  # a selection lists texts, not hits
    keys = [t["name"] for t in spec if t["mode"] == "markers" and not t.get("legendgroup")]
    assert keys == ["relevant", "not relevant", "not known"]
    [query] = [t for t in spec if t["mode"] == "markers+text"]
    assert query["text"] == ["&lt;i&gt;leave&lt;/i&gt;?"] and query["name"] == "your question"
    assert query["marker"]["symbol"] == "star" and list(fig.data[-1].x) == [1.5]


def test_without_relevance_rings_are_coloured_by_rank_and_large_maps_use_webgl():
    coords = np.random.default_rng(0).normal(size=(figures.SVG_POINT_LIMIT + 1, 2))
    fig = figures.umap_map(coords, ["t"] * len(coords), ["g"] * len(coords), "map")
    figures.add_query_hits(fig, coords[0], "q", [layer("dense", coords[[1, 2]], [None, None]),
                                                 layer("hybrid", coords[[3, 4]], [None, None])],
                           query_name="your question", relevance_names=None, rank_name="rank", k=10, webgl=True)
    added = fig.data[1:]
    assert all(isinstance(t, go.Scattergl) for t in added)
    rings = [t for t in added if t.mode == "markers"]
    assert list(rings[0].marker.color) == [1, 2] and rings[0].marker.cmax == 10
    assert rings[0].marker.showscale and not rings[1].marker.showscale  # one colour bar
    assert rings[0].marker.colorbar.title.text == "rank"


def test_a_three_d_map_gets_three_d_traces():
    coords = np.random.default_rng(1).normal(size=(6, 3))
    fig = figures.umap_map(coords, ["t"] * 6, ["g"] * 6, "map")
    figures.add_query_hits(fig, coords[0], "q", [layer("dense", coords[[1]], [True])], query_name="q",
                           relevance_names={True: "relevant"}, rank_name="rank", k=1)
    assert all(isinstance(t, go.Scatter3d) for t in fig.data)


def test_a_collections_corpus_keeps_each_texts_chunk_id():
    records = [{"id": "a", "text": "Leave is ten days.", "metadata": {"source": "l.md"}},
               {"id": "b", "text": "  ", "metadata": {"source": "l.md"}},  # left out: no text
               {"id": "c", "text": "Taxis are refunded.", "metadata": {"source": "e.md"}}]
    corpus = records_corpus("collection hr", records, "source", collection="hr")
    assert corpus.collection == "hr" and corpus.ids == ("a", "c")
    assert corpus.texts == ("Leave is ten days.", "Taxis are refunded.")
    assert records_corpus("collection hr", records).ids == ()  # without a collection: no ids kept
