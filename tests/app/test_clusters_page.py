"""The Clusters page in AppTest against the stand-in server (small data: UMAP costs time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import state

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "3_Clusters.py")


def charts(at: AppTest, prefix: str = "umap.w.map_") -> list:
    """The plotly charts of the page whose key starts with prefix (the two maps by default)."""
    return [c for c in at.get("plotly_chart") if prefix in c.proto.id]


def build(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Build maps"]
    return button.click().run()


@pytest.fixture
def at(app_env) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sample_corpus_gives_two_maps_measures_and_verdict(at):
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert len(charts(at)) == 2
    table = at.dataframe[0].value
    assert list(table.columns) == ["measure", "without instruction", "with instruction", "change"]
    measures = dict(zip(table["measure"], table["without instruction"], strict=True))
    assert -1.0 <= measures["Silhouette of labels (cosine)"] <= 1.0
    assert 0.0 <= measures["kNN label agreement"] <= 1.0
    assert any(m.value.startswith("**") and "separate" in m.value or "difference" in m.value for m in at.markdown)
    # k chosen by silhouette: the k search is shown for both settings.
    assert len(charts(at, "umap.w.kscores_")) == 2
    request = at.session_state[state.UMAP_REQUEST]
    assert request.instruction_name == "Clustering" and request.params.n_components == 2
    held = at.session_state[state.UMAP_VECTORS]
    assert held["plain"].shape[0] == 36 and held["instructed"].shape == held["plain"].shape


def test_queries_are_placed_escaped_and_colouring_switches(at):
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    build(at)
    before = [json.loads(c.proto.spec) for c in charts(at)]
    at.text_area(key="umap.w.queries").set_value("How many days of annual leave?\n<b>怎么退款</b>").run()
    at.radio(key="umap.w.colour_by").set_value("found cluster").run()
    assert not at.exception, [e.value for e in at.exception]
    specs = [json.loads(c.proto.spec) for c in charts(at)]
    assert specs != before
    for spec in specs:
        [queries] = [t for t in spec["data"] if t["name"] == "your queries"]
        assert queries["marker"]["symbol"] == "star" and len(queries["x"]) == 2
        assert queries["text"][1] == "&lt;b&gt;怎么退款&lt;/b&gt;"  # user text escaped, not rendered
        assert "cluster 1" in [t["name"] for t in spec["data"]]


def test_fixed_k_hdbscan_and_3d(at):
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    at.radio(key="umap.w.dims").set_value("3-D")
    at.radio(key="umap.w.k_mode").set_value("fixed")
    at.number_input(key="umap.w.k").set_value(4)
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert all(t["type"] == "scatter3d" for c in charts(at) for t in json.loads(c.proto.spec)["data"])
    assert any("k-means: 4 clusters" in c.value for c in at.caption)
    at.radio(key="umap.w.method").set_value("HDBSCAN")
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.UMAP_REQUEST].method == "HDBSCAN"


def test_upload_with_column_picker_and_no_labels(at):
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    rows = "\n".join(f'{{"body": "note {i} about {"leave" if i % 2 else "firewalls"}", "kind": "{i % 2}"}}'
                     for i in range(12))
    at.file_uploader(key="umap.w.upload").upload("notes.jsonl", (rows + '\n{"body": "  "}').encode(), "application/json").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="umap.w.text_col").value == "body"
    assert any("1 rows with an empty text" in w.value for w in at.warning)
    at.selectbox(key="umap.w.label_col").set_value("(none)").run()
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert len(charts(at)) == 2
    assert at.radio(key="umap.w.colour_by").options == ["found cluster"]
    assert any("Without labels" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("broken.jsonl", b'{"text": "a"}\n{"text": ', "Line 2"),
        ("tiny.csv", b"text\nonly one\nand two\n", "at least 5"),
        ("image.csv", bytes(range(256)) * 4, "looks binary"),
    ],
)
def test_bad_uploads_get_a_clear_message(at, name, payload, message):
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    at.file_uploader(key="umap.w.upload").upload(name, payload, "text/plain").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and message in at.error[0].value
    assert not [b for b in at.button if b.label == "Build maps"]


def test_documents_of_a_search_collection_can_be_mapped(app_env):
    search = AppTest.from_file(str(ROOT / "pages" / "4_Search.py"), default_timeout=180).run()
    search.button(key="search.w.build_samples").click().run()
    assert not search.exception, [e.value for e in search.exception]

    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.radio(key="umap.w.source").set_value("Chroma collection").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="umap.w.collection").set_value("hr_policy_v1").run()
    assert at.selectbox(key="umap.w.collection_label").value == "source"
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert len(charts(at)) == 2
    held = at.session_state[state.UMAP_VECTORS]
    assert held["plain"].shape[0] == 14  # every chunk of the collection
    names = {t["name"] for spec in (json.loads(c.proto.spec) for c in charts(at)) for t in spec["data"]}
    assert any(name.endswith(".md") for name in names)  # coloured by source document
