"""The Clusters page in AppTest against the stand-in server (small data: UMAP costs time).

By feature: the sample corpus and its maps, queries and colouring, settings, uploads (bad files,
the column pickers), Search collections (and a store that cannot be read), kept settings.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components import state
from embedlab.projection.clustering import cluster_agreement, cluster_kmeans
from embedlab.projection.language import detect_languages
from embedlab.projection.mapdata import sample_corpus, sample_topic_size
from embedlab.stores.base import StoreError
from embedlab.stores.chroma import ChromaStore
from embedlab.textio import text_columns
from tests.support.apptest import CLUSTERS, HOME, ROOT, SEARCH, open_page
from tests.support.markdown import shown
from tests.support.untranslated import untranslated


def charts(at: AppTest, prefix: str = "umap.map_") -> list:
    """The plotly charts of the page whose key starts with prefix (the two maps by default)."""
    return [c for c in at.get("plotly_chart") if prefix in c.proto.id]


def build(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Build maps"]
    return button.click().run()


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    at.file_uploader(key="umap.upload").upload(name, content, mime).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def at(app_env) -> AppTest:
    at = open_page(CLUSTERS, 180)
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
    table_change = dict(zip(table["measure"], table["change"], strict=True))
    label_measures = ["Silhouette of labels (cosine)", "Adjusted Rand index (clusters vs labels)",
                      "NMI (clusters vs labels)", "kNN label agreement"]
    up = sum(table_change[m] >= 0.01 for m in label_measures)
    down = sum(table_change[m] <= -0.01 for m in label_measures)
    [headline] = [shown(m.value) for m in at.markdown if m.value.startswith("**") and "measures" in m.value]
    # The sentence counts what the table shows.
    if up:
        assert f"{up} of 4 measures improve" in headline, headline
    if down:
        worse = f"{down} get worse" if up else f"{down} of 4 measures"
        assert worse in headline and "worse" in headline, headline
    if up and down:
        assert headline.startswith("**Mixed result"), headline
    if not up and not down:
        assert "all 4 measures change by less than 0.01" in headline, headline
    # k chosen by silhouette: the k search is shown for both settings.
    assert len(charts(at, "umap.kscores_")) == 2
    request = at.session_state[state.UMAP_REQUEST]
    assert request.instruction_name == "Clustering" and request.params.n_components == 2
    held = at.session_state[state.UMAP_VECTORS]
    assert held["plain"].shape[0] == 36 and held["instructed"].shape == held["plain"].shape


def test_queries_are_placed_escaped_and_colouring_switches(at):
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    build(at)
    before = [json.loads(c.proto.spec) for c in charts(at)]
    at.text_area(key="umap.w.queries").set_value("How many days of annual leave?\n<b>怎么退款</b>").run()
    at.selectbox(key="umap.w.colour_by").set_value("found cluster").run()
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
    assert any("k-means, clusters found: 4" in c.value for c in at.caption)
    at.radio(key="umap.w.method").set_value("HDBSCAN")
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.UMAP_REQUEST].method == "HDBSCAN"


def test_upload_with_column_picker_and_no_labels(at):
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    rows = "\n".join(f'{{"body": "note {i} about {"leave" if i % 2 else "firewalls"}", "kind": "{i % 2}"}}'
                     for i in range(12))
    at.file_uploader(key="umap.upload").upload("notes.jsonl", (rows + '\n{"body": "  "}').encode(), "application/json").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="umap.w.text_col").value == "body"
    assert any("Rows left out because their text is empty: 1." in w.value for w in at.warning)
    at.selectbox(key="umap.w.label_col").set_value("(none)").run()
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert len(charts(at)) == 2
    assert at.selectbox(key="umap.w.colour_by").options == ["Found cluster", "Language (detected)", "Field “kind”"]
    assert any("Without labels" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("broken.jsonl", b'{"text": "a"}\n{"text": ', "Line 2"),
        ("tiny.csv", b"text\nonly one\nand two\n", "at least 5"),
        ("image.csv", bytes(range(256)) * 4, "looks binary"),
        ("rows.csv", b"id,text\n1,hello world\n2,second row,extra,more\n3,third row\n",
         "Line 3 has 4 fields but the header has 2"),
        ("deep.jsonl", b"[" * 100_000, "Line 1 nests lists or objects more than 64 levels deep"),
    ],
)
def test_bad_uploads_get_a_clear_message(at, name, payload, message):
    at.radio(key="umap.w.source").set_value("Upload CSV / JSONL").run()
    at.file_uploader(key="umap.upload").upload(name, payload, "text/plain").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and message in at.error[0].value
    assert not [b for b in at.button if b.label == "Build maps"]


def test_documents_of_a_search_collection_can_be_mapped(app_env):
    search = open_page(SEARCH, 180)
    search.button(key="search.w.build_samples").click().run()
    assert not search.exception, [e.value for e in search.exception]

    at = open_page(CLUSTERS, 180)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
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


def test_csv_without_a_text_column_is_refused_with_a_clear_message(at):
    rows = "\n".join(f"{i},{i * 0.1:.1f},2024-01-{i:02d}" for i in range(1, 9))
    upload(at, "scores.csv", ("id,score,day\n" + rows + "\n").encode())
    errors = [shown(e.value) for e in at.error]
    assert any("scores.csv has no column of text" in e and "id, score, day" in e for e in errors), errors
    assert not [b for b in at.button if b.label == "Build maps"]  # nothing to map, no form
    assert not at.get("selectbox") or "umap.w.text_col" not in [s.key for s in at.selectbox]


def test_the_encoding_an_upload_was_read_with_is_shown(at):
    rows = "\n".join(f"{i},员工守则第{i}条：报销单请在月底前提交" for i in range(1, 9))
    upload(at, "rules.csv", ("id,text\n" + rows + "\n").encode("gbk"))
    assert not at.error, [e.value for e in at.error]
    [caption] = [c.value for c in at.caption if c.value.startswith("8 texts")]
    assert caption.endswith("read as gb18030")


def test_text_column_defaults_to_text_not_to_the_first_column(at):
    rows = "\n".join(f"{i},Badge rule number {i} for visitors,security" for i in range(1, 9))
    upload(at, "rules.csv", ("id,title,topic\n" + rows + "\n").encode())
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="umap.w.text_col").value == "title"
    assert at.selectbox(key="umap.w.label_col").value == "topic"  # a conventional label name
    assert any(c.value.startswith("8 texts") for c in at.caption)
    # Picking the id column by hand is allowed but flagged, and kept on the next rerun.
    at.selectbox(key="umap.w.text_col").set_value("id").run()
    assert any("“id” holds numbers or dates" in w.value for w in at.warning)
    at.run()
    assert at.selectbox(key="umap.w.text_col").value == "id"
    # Another file: its own columns are guessed afresh.
    notes = "\n".join(f'{{"ref": "{i}", "body": "note {i} on leave", "kind": "hr"}}' for i in range(6))
    at.file_uploader(key="umap.upload").upload("notes.jsonl", notes.encode(), "application/json").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="umap.w.text_col").value == "body"
    assert at.selectbox(key="umap.w.label_col").value == "(none)"


def test_text_columns_tell_text_from_numbers_dates_and_blanks():
    frame = pd.DataFrame({
        "id": ["1", "2", "3"], "when": ["2024-01-01", "2024-02-01", ""], "blank": ["", "", ""],
        "code": ["d1", "d2", "d3"], "zh": ["年假", "报销", "42"], "text": ["a b", "c", "d e f"],
    })
    assert text_columns(frame) == ["code", "zh", "text"]


def test_a_store_that_cannot_be_read_is_named_and_the_page_keeps_working(app_env, monkeypatch):
    from tests.support.procs import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(port))
    at = open_page(CLUSTERS, 120)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    assert not at.exception, [e.value for e in at.exception]
    [message] = [shown(e.value) for e in at.error]
    assert message.startswith("The collections cannot be listed: Cannot reach the Chroma server at 127.0.0.1:")
    assert not [b for b in at.button if b.label == "Build maps"]
    # The other sources still work.
    at.radio(key="umap.w.source").set_value("Sample corpus").run()
    assert not at.exception and not at.error
    assert [b for b in at.button if b.label == "Build maps"]


def test_a_collection_whose_chunks_cannot_be_read_is_named(app_env, monkeypatch):
    search = open_page(SEARCH, 180)
    search.button(key="search.w.build_samples").click().run()
    assert not search.exception, [e.value for e in search.exception]

    def refuse(self, name, *args, **kwargs):
        raise StoreError(f"The vector store failed to read the records of {name!r} (OSError: disk I/O error).")

    monkeypatch.setattr(ChromaStore, "get_records", refuse)
    at = open_page(CLUSTERS, 120)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("hr_policy_v1").run()
    assert not at.exception, [e.value for e in at.exception]
    [message] = [shown(e.value) for e in at.error]
    assert message.startswith("The chunks of hr_policy_v1 cannot be read: The vector store failed to read")


def test_defaults_and_settings_survive_a_page_switch(app_env):
    # The declared start values: every sample text, and the Clustering instruction in the picker.
    assert state.WIDGETS[state.UMAP_PER_TOPIC] == sample_topic_size()
    at = open_page(HOME, 120)
    at.switch_page("pages/3_Clusters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="umap.w.per_topic").value == sample_topic_size()
    assert at.selectbox(key="umap.w.instruction").value == "Clustering"
    at.number_input(key="umap.w.per_topic").set_value(8).run()
    at.selectbox(key="umap.w.instruction").set_value("Classification")
    at.radio(key="umap.w.k_mode").set_value("fixed")
    at.number_input(key="umap.w.k").set_value(3)
    at.slider(key="umap.w.min_dist").set_value(0.5)
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="umap.w.colour_by").set_value("found cluster").run()
    at.switch_page("app.py").run()
    at.switch_page("pages/3_Clusters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="umap.w.per_topic").value == 8
    assert at.selectbox(key="umap.w.instruction").value == "Classification"
    assert at.radio(key="umap.w.k_mode").value == "fixed" and at.number_input(key="umap.w.k").value == 3
    assert at.slider(key="umap.w.min_dist").value == 0.5
    assert at.selectbox(key="umap.w.colour_by").value == "found cluster"
    request = at.session_state[state.UMAP_REQUEST]
    assert request.k == 3 and request.instruction_name == "Classification" and request.params.min_dist == 0.5
    assert len(charts(at)) == 2  # the maps are back, from the caches


def test_colour_by_detected_language_and_clusters_that_follow_it(at):
    """The stand-in model groups by language: the page colours by the detected language and says so."""
    at.number_input(key="umap.w.per_topic").set_value(8).run()
    build(at)
    at.selectbox(key="umap.w.colour_by").set_value("language").run()
    assert not at.exception, [e.value for e in at.exception]
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        names = {t["name"] for t in spec["data"]}
        assert names == {"Chinese", "Latin script (English, …)"}, names
    # Measured here, not assumed: the sentence appears exactly when the clusters follow language.
    corpus = sample_corpus(8)
    languages = detect_languages(corpus.texts)
    plain = cluster_kmeans(at.session_state[state.UMAP_VECTORS]["plain"])
    by_language, by_topic = cluster_agreement(plain.labels, languages), cluster_agreement(plain.labels, corpus.labels)
    notes = [n for n in (shown(w.value) for w in at.warning) if "follow the texts' language" in n]
    follows = by_language >= 0.5 and by_language - by_topic >= 0.2
    assert any(n.startswith("Without instruction:") for n in notes) == follows, (notes, by_language, by_topic)
    if follows:
        assert f"ARI {by_language:.2f} against the detected language, {by_topic:.2f} against the topic labels" in notes[0]


def test_search_rings_texts_on_both_maps_and_clusters_are_named(at):
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    build(at)
    at.text_input(key="umap.w.search").set_value("leave").run()
    assert not at.exception, [e.value for e in at.exception]
    corpus = sample_corpus(6)
    expected = [i for i, t in enumerate(corpus.texts) if "leave" in t.lower()]
    assert expected
    assert any(c.value.startswith(f"{len(expected)} of 36 texts contain") for c in at.caption)
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        [ring] = [t for t in spec["data"] if t["name"] == "contains “leave”"]
        assert ring["marker"]["symbol"] == "circle-open"
        # Named clusters: one annotation per found cluster, the terms of the table beside the map.
        names = [a["text"] for a in spec["layout"]["annotations"]]
        assert names and all(names)
    tables = [d.value for d in at.dataframe if "terms" in d.value.columns]
    assert len(tables) == 2 and all(t["texts"].sum() == 36 for t in tables)
    assert set(tables[1]["terms"]) >= {n for n in names if n}  # the second map's names are in its table
    at.checkbox(key="umap.w.name_clusters").uncheck().run()
    at.text_input(key="umap.w.search").set_value("").run()
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        assert not spec["layout"].get("annotations") and not [t for t in spec["data"] if "contains" in t["name"]]


# plotly's textposition values in a chart's spec: settings, never shown as text.
LABEL_POSITIONS = frozenset(f"{v} {h}" for v in ("top", "middle", "bottom") for h in ("left", "center", "right"))


def test_the_page_in_chinese_shows_no_english(app_env):
    at = AppTest.from_file(str(ROOT / CLUSTERS), default_timeout=180)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at, LABEL_POSITIONS) == {}
    assert at.radio(key="umap.w.source").options == ["示例语料", "上传 CSV / JSONL", "已存储的集合"]
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    [button] = [b for b in at.button if b.label == "生成图"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(charts(at)) == 2
    assert untranslated(at, LABEL_POSITIONS) == {}
    assert any(m.value.startswith("**") and "项指标" in m.value for m in at.markdown)
    at.selectbox(key="umap.w.colour_by").set_value("language").run()
    at.text_area(key="umap.w.queries").set_value("年假有几天").run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at, LABEL_POSITIONS) == {}
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        names = {t["name"] for t in spec["data"]}
        assert names == {"中文", "拉丁字母（英文等）", "你的查询"}, names
        assert spec["layout"]["title"]["text"] in ("不加指令", "加指令：聚类")
    assert at.dataframe[0].value.columns[0] == "指标"
