"""The Clusters page's exploration in AppTest: a picked text's nearest neighbours in both settings
(the picker drives it here; a click or a one-point selection sets the same state, see
tests/e2e/test_clusters_page.py), and a selection kept in state ringed on both maps."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from components import state
from embedlab.projection.mapdata import sample_corpus
from embedlab.projection.neighbours import compare_neighbours, point_neighbours
from tests.app.test_clusters_page import LABEL_POSITIONS, build, charts
from tests.support.apptest import CLUSTERS, ROOT, open_page
from tests.support.markdown import shown
from tests.support.untranslated import untranslated

# Settings in a map's spec, never shown as text: label positions and marker symbols.
MARKS = LABEL_POSITIONS | {"circle-open"}


@pytest.fixture
def at(app_env) -> AppTest:
    at = open_page(CLUSTERS, 180)
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    return at


def values(field: list | dict | None) -> list:
    """A spec's array as a list: plotly sends numpy arrays as {"dtype", "bdata": base64}."""
    if isinstance(field, dict):
        return np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"]).tolist()
    return list(field or [])


def positions(spec: dict) -> dict[int, tuple[float, float]]:
    """Row index -> (x, y) of every text on a drawn map (the text traces carry rows as customdata)."""
    found = {}
    for trace in spec["data"]:
        for row, x, y in zip(values(trace.get("customdata")), values(trace["x"]), values(trace["y"]), strict=False):
            if row >= 0:
                found[row] = (x, y)
    return found


def coords(trace: dict) -> list[tuple[float, float]]:
    return list(zip(values(trace["x"]), values(trace["y"]), strict=True))


def neighbour_tables(at: AppTest) -> list:
    return [d.value for d in at.dataframe if "rank" in d.value.columns]


def selected_tables(at: AppTest) -> list:
    return [d.value for d in at.dataframe if "map" in d.value.columns]


def trace(spec: dict, name: str) -> dict:
    [found] = [t for t in spec["data"] if t["name"] == name]
    return found


def test_a_picked_text_gets_its_neighbours_in_both_settings(at):
    assert at.selectbox(key="umap.w.pick").value == -1
    assert any("Pick a text to list its nearest neighbours" in c.value for c in at.caption)
    corpus = sample_corpus(6)
    pick = 7
    at.selectbox(key="umap.w.pick").set_value(pick).run()
    assert not at.exception, [e.value for e in at.exception]
    held = at.session_state[state.UMAP_VECTORS]
    expected = compare_neighbours(held["plain"], held["instructed"], pick)
    tables = neighbour_tables(at)
    assert len(tables) == 2  # without, then with the instruction
    for table, neighbours in zip(tables, (expected.plain, expected.instructed), strict=True):
        assert list(table.columns) == ["rank", "text", "cosine similarity", "label", "cluster"]
        assert table["rank"].tolist() == list(range(1, 11))
        assert table["text"].tolist() == [corpus.texts[r] for r in neighbours.rows]
        assert np.allclose(table["cosine similarity"], neighbours.similarities, atol=1e-6)
        assert table["cosine similarity"].is_monotonic_decreasing and corpus.texts[pick] not in table["text"].tolist()
    shared = len(set(expected.plain.rows.tolist()) & set(expected.instructed.rows.tolist()))
    sentence = f"{shared} of 10 neighbours are the same with the instruction."
    assert any(shown(m.value) == f"**{sentence}**" for m in at.markdown), [m.value for m in at.markdown]
    # Both maps mark the picked text and ring its neighbours in that map's own setting.
    for spec, neighbours in zip((json.loads(c.proto.spec) for c in charts(at)), (expected.plain, expected.instructed),
                                strict=True):
        where = positions(spec)
        picked = trace(spec, "picked text")
        assert coords(picked) == [where[pick]] and picked["marker"]["symbol"] == "diamond"
        rings = trace(spec, "its 10 nearest neighbours")
        assert coords(rings) == [where[r] for r in neighbours.rows.tolist()]
        assert "customdata" not in rings and rings["hoverinfo"] == "skip"  # never counted as a selected text
    # Clearing the pick takes the tables and the marks away.
    at.button(key="umap.clear_pick").click().run()
    assert at.selectbox(key="umap.w.pick").value == -1
    assert not neighbour_tables(at)
    assert not [t for c in charts(at) for t in json.loads(c.proto.spec)["data"] if t["name"] == "picked text"]


def test_the_picker_lists_the_texts_a_search_finds_and_keeps_the_pick(at):
    corpus = sample_corpus(6)
    at.text_input(key="umap.w.search").set_value("leave").run()
    found = [i for i, t in enumerate(corpus.texts) if "leave" in t.lower()]
    assert at.selectbox(key="umap.w.pick").options[1:] == [f"{r + 1}. {corpus.texts[r][:100]}" + (
        "…" if len(corpus.texts[r]) > 100 else "") for r in found]
    outside = next(i for i in range(len(corpus.texts)) if i not in found)
    at.text_input(key="umap.w.search").set_value("").run()
    at.selectbox(key="umap.w.pick").set_value(outside).run()
    at.text_input(key="umap.w.search").set_value("leave").run()
    assert not at.exception, [e.value for e in at.exception]
    # The picked text stays listed (second, after "none") while the search shows others.
    assert at.selectbox(key="umap.w.pick").value == outside
    assert at.selectbox(key="umap.w.pick").options[1].startswith(f"{outside + 1}. ")
    # Other texts: the pick and the selection are forgotten.
    at.session_state[state.UMAP_LINKED] = (0, (1, 2))
    at.number_input(key="umap.w.per_topic").set_value(4).run()
    build(at)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="umap.w.pick").value == -1 and at.session_state[state.UMAP_LINKED] is None


def test_a_selection_is_ringed_on_both_maps_listed_and_cleared(at):
    corpus = sample_corpus(6)
    rows = (2, 5, 11, 30)
    at.session_state[state.UMAP_LINKED] = (1, rows)  # what a box on the second map leaves (see explore.on_select)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    title = "With instruction: Clustering"
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        rings = trace(spec, f"selected on “{title}”")
        where = positions(spec)
        assert coords(rings) == [where[r] for r in rows]
        assert rings["marker"]["symbol"] == "circle-open" and "customdata" not in rings
        texts = [t for t in spec["data"] if values(t.get("customdata")) and min(values(t["customdata"])) >= 0]
        assert texts and all(t["marker"]["opacity"] == 0.25 for t in texts)  # the rest dimmed
    [table] = selected_tables(at)
    assert table["text"].tolist() == [corpus.texts[r] for r in rows] and set(table["map"]) == {title}
    assert any(c.value.startswith("4 texts selected on") for c in at.caption)
    at.button(key="umap.clear_selection").click().run()
    assert at.session_state[state.UMAP_LINKED] is None
    assert not selected_tables(at)
    for spec in (json.loads(c.proto.spec) for c in charts(at)):
        assert not [t for t in spec["data"] if t["name"].startswith("selected on")]
        assert all(t["marker"]["opacity"] == 0.8 for t in spec["data"] if t.get("customdata"))


def test_exploring_in_chinese_shows_no_english(app_env):
    at = AppTest.from_file(str(ROOT / CLUSTERS), default_timeout=180)
    at.query_params["lang"] = "zh"
    at.run()
    at.number_input(key="umap.w.per_topic").set_value(6).run()
    [button] = [b for b in at.button if b.label == "生成图"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at, MARKS) == {}
    at.session_state[state.UMAP_LINKED] = (0, (1, 2, 3))
    at.selectbox(key="umap.w.pick").set_value(4).run()
    assert not at.exception, [e.value for e in at.exception]
    assert untranslated(at, MARKS) == {}
    assert any("个最近邻中有" in m.value for m in at.markdown)
    tables = [d.value for d in at.dataframe if "排名" in d.value.columns]
    assert len(tables) == 2 and list(tables[0].columns) == ["排名", "文本", "余弦相似度", "标签", "簇"]
    names = {t["name"] for c in charts(at) for t in json.loads(c.proto.spec)["data"]}
    assert {"选取的文本", "它的 10 个最近邻", "在“不加指令”上选中"} <= names, names


def test_a_chunk_picked_on_a_large_stored_map_gets_its_neighbours(app_env, monkeypatch):
    from components.views.clusters import large as large_map
    from tests.app.test_large_map_page import stored_collection

    monkeypatch.setattr(large_map, "LARGE_COLLECTION", 40)
    stored_collection(app_env["PLAYGROUND_DATA_DIR"])
    at = open_page(CLUSTERS, 180)
    at.radio(key="umap.w.source").set_value("Stored collection").run()
    at.selectbox(key="umap.w.collection").set_value("big_docs_v1").run()
    at.button(key="umap.large_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="umap.w.large_find").set_value("chunk 7 ").run()
    picker = at.selectbox(key="umap.w.large_pick")
    # The chunks holding both words, shown as written (not as HTML).
    assert picker.options == ["(none)"] + [f"{i + 1}. <b>chunk {i}</b> of document {i % 3}" for i in range(7, 60, 10)]
    picker.set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = neighbour_tables(at)
    result = list(large_map._kept()[1].values())[-1]  # the map just drawn (the last one used)
    expected = point_neighbours(result.vectors, 7)
    assert table["text"].tolist() == [result.texts[r] for r in expected.rows]
    assert list(table.columns) == ["rank", "text", "cosine similarity", "source document", "cluster"]
    # The stored vectors lie around three directions, one per document: chunk 7's ten nearest are of its document.
    assert len(table) == 10 and set(table["source document"]) == {"doc1.md"}
    assert all(t.endswith("of document 1") for t in table["text"]) and "<b>chunk 7</b> of document 1" not in set(table["text"])
    assert table["cosine similarity"].is_monotonic_decreasing
    [chart] = [c for c in at.get("plotly_chart") if "umap.large_map" in c.proto.id]
    spec = json.loads(chart.proto.spec)
    where = positions(spec)
    assert coords(trace(spec, "picked text")) == [where[7]]
    assert len(coords(trace(spec, "its 10 nearest neighbours"))) == 10
