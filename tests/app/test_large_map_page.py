"""The Clusters page on a stored collection too large to embed again: one map of its stored
vectors, read from the store (the threshold is lowered so that a small collection takes that path)."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from components import state
from components.views.clusters import large as large_map
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support.apptest import CLUSTERS, open_page


def stored_collection(data_dir: str, n: int = 60, dim: int = 16) -> ChromaStore:
    """The app's store with a collection big_docs_v1 of n chunks from 3 documents, around 3 directions."""
    rng = np.random.default_rng(0)
    blob = np.arange(n) % 3
    vectors = rng.standard_normal((3, dim))[blob] + 0.1 * rng.standard_normal((n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    store = ChromaStore(open_client(path=f"{data_dir}/chroma"))
    store.create(CollectionSpec("big_docs_v1", "multilingual-e5-small-q4", dim))
    store.upsert("big_docs_v1", "multilingual-e5-small-q4", [f"c{i}" for i in range(n)],
                 [f"<b>chunk {i}</b> of document {b}" for i, b in enumerate(blob)],
                 [{"source": f"doc{b}.md", "chunk": i} for i, b in enumerate(blob)], vectors)
    return store


def points(at: AppTest) -> tuple[int, set[str]]:
    """(points, trace names) of the large map."""
    [chart] = [c for c in at.get("plotly_chart") if "umap.large_map" in c.proto.id]
    traces = json.loads(chart.proto.spec)["data"]
    return sum(len(t["hovertext"]) for t in traces), {t["name"] for t in traces}


def test_a_large_stored_collection_is_mapped_from_its_stored_vectors(app_env, monkeypatch):
    monkeypatch.setattr(large_map, "LARGE_COLLECTION", 40)
    store = stored_collection(app_env["PLAYGROUND_DATA_DIR"])
    at = open_page(CLUSTERS, 180)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("big_docs_v1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("60 chunks" in i.value and "stored vectors" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Build maps"]  # nothing to embed
    at.button(key="umap.large_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.UMAP_LARGE] == "big_docs_v1"
    n, names = points(at)
    assert n == 60 and names == {"doc0.md", "doc1.md", "doc2.md"}
    [table] = at.dataframe  # the measures
    measures = table.value
    assert measures.iloc[3, 1] == 1.0  # kNN label agreement: the documents are apart
    at.radio(key=state.UMAP_LARGE_COLOUR_BY).set_value("found cluster").run()
    n, names = points(at)
    assert n == 60 and names and all(name.startswith("cluster ") for name in names)
    # A write gives the collection a new content version: the next run maps the new content.
    extra = np.zeros((1, 16), np.float32)
    extra[0, 0] = 1.0
    store.upsert("big_docs_v1", "multilingual-e5-small-q4", ["c60"], ["a new chunk"], [{"source": "doc9.md"}], extra)
    at.run()
    n, names = points(at)
    assert n == 61 and "cluster 1" in names
    # A collection at or under the threshold keeps the two maps of embedded texts.
    monkeypatch.setattr(large_map, "LARGE_COLLECTION", 61)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b for b in at.button if b.label == "Build maps"], ([b.label for b in at.button], [e.value for e in at.error],
                                                              [i.value for i in at.info])
    assert not [c for c in at.get("plotly_chart") if "umap.large_map" in c.proto.id]
