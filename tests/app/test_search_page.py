"""The Search page in AppTest against the stand-in server: create, ingest, query, rerank, delete.

The tabs are lazy (only the open one runs): `open_tab` switches as a click in the browser does."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from embedlab import retrieval
from embedlab.ingest import chunk_documents, load_domain_sample
from embedlab.keyword import BM25Index
from embedlab.text import one_line
from tests.support.apptest import ROOT, SEARCH, open_page
from tests.support.markdown import shown
from tests.support.rerank_server import RerankServer

SEARCH_BUTTON = "search.w.submit"


def new_page() -> AppTest:
    return open_page(SEARCH, 120)


def open_tab(at: AppTest, label: str) -> None:
    at.session_state["search.tabs"] = label
    at.run()


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def frame(at: AppTest, column: str, exclude: tuple[str, ...] = ("rank with", "rank without", "rerank score")):
    """The first table with `column` (AppTest does not keep keys of read-only dataframes)."""
    for df in at.dataframe:
        cols = set(df.value.columns)
        if column in cols and (column in exclude or not cols & set(exclude)):
            return df.value
    raise AssertionError(f"no table with column {column!r}")


def create_and_fill(at: AppTest) -> None:
    at.text_input(key="search.w.new_name").input("hr_policy_v1")
    at.selectbox(key="search.w.new_instruction").set_value("HR policy")
    at.button(key="search.w.create").click().run()
    at.radio(key="search.w.ingest_source").set_value("Sample corpus").run()
    at.selectbox(key="search.w.sample").set_value("hr_policy")
    at.number_input(key="search.w.max_tokens").set_value(128)
    at.button(key="search.w.ingest").click().run()


def test_create_ingest_query_and_see_why(app_env):
    at = new_page()
    assert any("No collections yet" in i.value for i in at.info)
    at.text_input(key="search.w.new_name").input("hr policy")
    at.button(key="search.w.create").click().run()
    assert any("cannot be used" in e and "Try 'hr_policy'" in e for e in errors(at))
    assert any("No collections yet" in i.value for i in at.info)  # nothing was created

    create_and_fill(at)
    assert not at.exception and not errors(at)
    assert any("14 added" in s.value for s in at.success)
    table = frame(at, "usable now")
    assert table.loc[0, "collection"] == "hr_policy_v1" and table.loc[0, "chunks"] == 14

    at.text_input(key="search.w.query").input("How do I claim a taxi fare after working late?")
    at.toggle(key="search.w.compare").set_value(True)
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    results = frame(at, "similarity")
    # A new collection's threshold is not calibrated: nothing is marked or greyed, and the page says how to calibrate.
    assert "above threshold" not in results.columns
    assert any("has no calibrated threshold" in m.value for m in at.markdown)
    assert any("Apply to collection" in c.value and "Judge page" in c.value for c in at.caption)
    assert not any("shown in grey" in c.value for c in at.caption)
    assert list(results["rank"]) == [1, 2, 3, 4, 5]
    assert results["similarity"].is_monotonic_decreasing
    assert "expenses.md" in set(results["source"])
    without = frame(at, "rank with")
    assert "rank with" in without.columns and len(without) == 5
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rerank"] == "off" and metrics["Vector search"].endswith("ms")
    assert any("Reranking is off" in c.value for c in at.caption)
    assert any("Instruct: Given an employee" in c.value for c in at.code)
    assert any("Matched chunk" in m.value for m in at.markdown)

    # Threshold 0.95 greys everything out but hides nothing.
    open_tab(at, "Manage")
    assert at.number_input(key="search.w.edit_threshold").value == pytest.approx(0.5)  # the collection's own
    at.number_input(key="search.w.edit_threshold").set_value(0.95)
    at.button(key="search.w.save_settings").click().run()
    assert any("Saved the settings" in s.value for s in at.success)
    open_tab(at, "Search")
    assert at.text_input(key="search.w.query").value.startswith("How do I claim")  # kept while hidden
    at.button(key=SEARCH_BUTTON).click().run()
    results = frame(at, "above threshold")  # a threshold set by hand applies
    assert len(results) == 5 and set(results["above threshold"]) == {"no"}
    assert any("set by hand (not calibrated)" in c.value for c in at.caption)
    assert not any("has no calibrated threshold" in m.value for m in at.markdown)
    assert any("under the threshold 0.95 are shown in grey" in c.value for c in at.caption)

    # Re-ingesting the same corpus changes nothing.
    open_tab(at, "Add documents")
    at.button(key="search.w.ingest").click().run()
    assert any("0 added, 0 updated, 14 unchanged" in shown(s.value) for s in at.success)


def test_collections_survive_a_restart_and_other_models_are_refused(app_env, monkeypatch):
    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("产假和陪产假分别有多少天？")
    at.button(key=SEARCH_BUTTON).click().run()
    first = list(frame(at, "similarity")["text"])

    again = new_page()  # a new session, as after restarting the app
    again.text_input(key="search.w.query").input("产假和陪产假分别有多少天？")
    again.button(key=SEARCH_BUTTON).click().run()
    assert list(frame(again, "similarity")["text"]) == first

    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "128")
    other = new_page()
    assert any("holds 384-dimensional vectors" in e and "gives 128" in e for e in errors(other))
    assert not [b for b in other.button if b.key == "search.w.ingest"]  # nothing can be written


def test_rerank_stage_shows_both_scores_and_moves(app_env, monkeypatch):
    server = RerankServer()
    try:
        monkeypatch.setenv("RERANK_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("RERANK_MODEL", "Qwen/Qwen3-Reranker-0.6B")
        at = new_page()
        create_and_fill(at)
        at.text_input(key="search.w.query").input("annual leave carry over to next year")
        at.toggle(key="search.w.rerank").set_value(True)
        at.number_input(key="search.w.fetch_n").set_value(10)
        at.button(key=SEARCH_BUTTON).click().run()
        assert not at.exception and not errors(at)
        reranked = frame(at, "rerank score")
        assert list(reranked["rank"]) == [1, 2, 3, 4, 5]
        assert reranked["rerank score"].is_monotonic_decreasing
        assert {"embedding rank", "move", "similarity"} <= set(reranked.columns)
        [req] = server.requests
        assert len(req["documents"]) == 10 and req["top_n"] == 5
        assert req["query"] == "annual leave carry over to next year"  # no embedding instruction
        assert {m.label: m.value for m in at.metric}["Rerank"].endswith("ms")
    finally:
        server.close()


def test_delete_needs_the_name_typed(app_env):
    at = new_page()
    at.text_input(key="search.w.new_name").input("tmp_collection")
    at.button(key="search.w.create").click().run()
    open_tab(at, "Manage")
    assert at.button(key="search.w.delete").disabled
    at.text_input(key="search.w.delete_confirm").input("tmp_collection").run()
    at.button(key="search.w.delete").click().run()
    assert any("Deleted" in s.value for s in at.success)
    assert any("No collections yet" in i.value for i in at.info)


@pytest.mark.parametrize("payload", [b"\x89PNG\r\n\x1a\n\x00\x00binary"])
def test_bad_upload_is_explained_and_nothing_written(app_env, payload):
    from embedlab.ingest import documents_from_file
    from embedlab.textio import UploadError

    with pytest.raises(UploadError, match="PNG"):
        documents_from_file(payload, "scan.txt")


def test_only_the_open_tab_runs_and_hidden_inputs_are_kept(app_env):
    at = new_page()
    create_and_fill(at)  # an empty collection opens on "Add documents"; once filled, on "Search"
    keys = {w.key for w in at.main if getattr(w, "key", None)}
    assert "search.w.query" in keys and not keys & {"search.w.ingest", "search.w.delete", "search.w.edit_threshold"}
    at.text_input(key="search.w.query").input("annual leave")
    at.toggle(key="search.w.compare").set_value(True)
    at.button(key=SEARCH_BUTTON).click().run()  # a form's inputs count once submitted
    open_tab(at, "Add documents")
    assert not [w for w in at.text_input if w.key == "search.w.query"]
    assert at.radio(key="search.w.ingest_source").value == "Sample corpus"  # kept from create_and_fill
    assert at.number_input(key="search.w.max_tokens").value == 128
    open_tab(at, "Search")
    assert at.text_input(key="search.w.query").value == "annual leave" and at.toggle(key="search.w.compare").value
    assert frame(at, "rank with") is not None  # the last outcome is shown again


def test_the_hit_picker_shows_another_chunk_in_its_context(app_env):
    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("How many days of annual leave do I get?")
    at.button(key=SEARCH_BUTTON).click().run()
    first = [c.value for c in at.caption if c.value.startswith("Similarity ")]
    at.selectbox(key="search.w.detail").set_value(2).run()
    third = [c.value for c in at.caption if c.value.startswith("Similarity ")]
    assert first != third and len(third) == 1
    sims = list(frame(at, "similarity")["similarity"])
    assert third[0].startswith(f"Similarity {sims[2]:.3f}")


def test_a_store_failure_during_a_search_is_shown_and_the_page_goes_on(app_env, monkeypatch):
    from embedlab.stores.base import StoreError
    from embedlab.stores.chroma import ChromaStore

    at = new_page()
    create_and_fill(at)

    def down(*args, **kwargs):
        raise StoreError("The vector store did not answer while it was asked to search (ConnectError).")

    monkeypatch.setattr(ChromaStore, "search", down)
    at.text_input(key="search.w.query").input("annual leave")
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception
    assert errors(at) == ["The vector store did not answer while it was asked to search (ConnectError)."]
    assert not [m for m in at.metric if m.label == "Vector search"]  # no outcome kept from a failed query
    assert at.button(key=SEARCH_BUTTON)  # the form is still there to try again


def mode_frames(at: AppTest) -> list:
    """The dense, BM25 and hybrid tables, in that order (the only tables with a "from" column)."""
    return [df.value for df in at.dataframe if "from" in df.value.columns]


def test_dense_bm25_and_hybrid_lists_side_by_side_with_origins(app_env, monkeypatch):
    from collections import OrderedDict

    from embedlab.keyword import DEFAULT_CACHE

    # The process-wide index cache may hold this content from another test (same corpus, same model).
    monkeypatch.setattr(DEFAULT_CACHE, "_items", OrderedDict())
    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("How do I claim a taxi fare after working late?")
    at.radio(key="search.w.mode").set_value("hybrid")
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    dense, bm25, hybrid = mode_frames(at)
    # The dense list is the exact cosine over the stored vectors: the vector store's own top 5.
    assert list(dense["text"]) == list(frame(at, "similarity")["text"])
    assert list(dense["rank"]) == [1, 2, 3, 4, 5] and list(dense["dense rank"]) == [1, 2, 3, 4, 5]
    # BM25 over the same chunks, computed here: only 4 English chunks share a word; the expense policy
    # is in Chinese (打车费用), so only the multilingual dense side finds it.
    chunks = chunk_documents(load_domain_sample("hr_policy").documents, "recursive", max_tokens=128)
    expected = BM25Index([c.text for c in chunks]).search("How do I claim a taxi fare after working late?", 5)
    assert list(bm25["text"]) == [one_line(chunks[i].text, retrieval.TEXT_CHARS) for i in expected.indices]
    assert list(bm25["bm25 rank"]) == list(range(1, len(expected) + 1)) and len(bm25) == 4
    assert len(hybrid) == 5 and set(hybrid["from"]) <= {"both", "dense", "bm25"} and "both" in set(hybrid["from"])
    for _, row in hybrid.iterrows():  # the origin agrees with the ranks it shows
        in_dense, in_bm25 = pd.notna(row["dense rank"]), pd.notna(row["bm25 rank"])
        assert row["from"] == ("both" if in_dense and in_bm25 else "dense" if in_dense else "bm25")
    lists = at.session_state["search.modes"][1]
    assert lists.method == "rrf" and lists.index_built and lists.chunks == 14
    assert any("BM25 index built" in c.value for c in at.caption)
    assert any("search.w.dl_modes" in b.proto.id for b in at.get("download_button"))  # the export
    # Weighted fusion with α = 1 keeps only the dense side's order; the index is reused.
    at.radio(key="search.w.fusion").set_value("weighted")
    at.slider(key="search.w.alpha").set_value(1.0)
    at.button(key=SEARCH_BUTTON).click().run()
    dense, bm25, hybrid = mode_frames(at)
    assert list(hybrid["text"]) == list(dense["text"])
    lists = at.session_state["search.modes"][1]
    assert lists.method == "weighted" and not lists.index_built
    assert any("index reused" in c.value for c in at.caption)
    # Dense only again: the three lists go, today's results stay.
    at.radio(key="search.w.mode").set_value("dense")
    at.button(key=SEARCH_BUTTON).click().run()
    assert mode_frames(at) == [] and at.session_state["search.modes"] is None
    assert len(frame(at, "similarity")) == 5


def test_a_question_sharing_no_word_gives_an_empty_bm25_list(app_env):
    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("zzzqx")
    at.radio(key="search.w.mode").set_value("hybrid")
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    dense, hybrid = mode_frames(at)  # BM25 shows a note instead of an empty table
    assert any("No chunk shares a word with the question" in i.value for i in at.info)
    assert list(hybrid["text"]) == list(dense["text"]) and set(hybrid["from"]) == {"dense"}


# -- what uploads hold ------------------------------------------------------------------------------
def literal(markdown: str) -> str:
    """The text a Markdown body escaped with embedlab.text.escape_markdown shows."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("  \n", "\n"))


def create_empty(at: AppTest, name: str) -> None:
    at.text_input(key="search.w.new_name").input(name)
    at.button(key="search.w.create").click().run()  # an empty collection opens on "Add documents"
    at.radio(key="search.w.ingest_source").set_value("Upload files").run()


def test_a_table_with_a_row_wider_than_its_header_is_refused_and_nothing_stored(app_env):
    at = new_page()
    create_empty(at, "rows_v1")
    rows = b"id,text\n1,hello world\n2,second row,extra,more\n3,third row\n"
    at.file_uploader(key="search.w.upload").set_value(("rows.csv", rows, "text/csv"))
    at.button(key="search.w.ingest").click().run()
    assert not at.exception
    [message] = errors(at)
    assert literal(message).startswith("rows.csv: Line 3 has 4 fields but the header has 2 (id, text)")
    assert frame(at, "usable now").loc[0, "chunks"] == 0
    assert not any("added" in s.value for s in at.success)


def test_a_gbk_file_is_stored_as_chinese_and_every_file_says_how_it_was_read(app_env):
    at = new_page()
    create_empty(at, "zh_notes_v1")
    at.file_uploader(key="search.w.upload").set_value([
        ("hello.txt", "你好世界".encode("gbk"), "text/plain"),
        ("leave.csv", "id,text\n1,员工每年享有十五天带薪年假\n2,病假需提供医院证明\n".encode("utf-16"), "text/csv"),
    ])
    at.button(key="search.w.ingest").click().run()
    assert not at.exception and not errors(at)
    assert frame(at, "read as").to_dict("records") == [
        {"file": "hello.txt", "read as": "gb18030", "documents": 1},
        {"file": "leave.csv", "read as": "utf-16", "documents": 2},
    ]
    at.text_input(key="search.w.query").input("你好世界")
    at.button(key=SEARCH_BUTTON).click().run()
    texts = set(frame(at, "similarity")["text"])
    assert "你好世界" in texts and "员工每年享有十五天带薪年假" in texts


# -- thresholds, instructions, verdicts -------------------------------------------------------------
def test_a_calibrated_threshold_greys_the_results_under_it(app_env):
    from components import resources
    from embedlab.config import load_settings
    from embedlab.stores.base import CALIBRATED

    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("How do I claim a taxi fare after working late?")
    at.button(key=SEARCH_BUTTON).click().run()
    sims = list(frame(at, "similarity")["similarity"])
    # What Evaluate's "Apply to collection" writes, into the store the page uses (same process).
    cut = (sims[1] + sims[2]) / 2
    resources.get_store(load_settings()).update("hr_policy_v1", threshold=cut, threshold_source=CALIBRATED,
                                                threshold_note="best F1")
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    results = frame(at, "above threshold")
    assert list(results["above threshold"]) == ["yes", "yes", "no", "no", "no"]
    assert any(f"3 result(s) under the threshold {cut:.2f} are shown in grey" in c.value for c in at.caption)
    assert any("calibrated on labelled pairs in Evaluate (best F1)" in c.value for c in at.caption)
    assert not any("has no calibrated threshold" in m.value for m in at.markdown)
    open_tab(at, "Manage")
    assert any("calibrated in Evaluate" in c.value for c in at.caption)
    at.button(key="search.w.forget_threshold").click().run()  # back to uncalibrated: nothing greyed
    open_tab(at, "Search")
    at.button(key=SEARCH_BUTTON).click().run()
    assert "above threshold" not in frame(at, "similarity").columns
    assert any("has no calibrated threshold" in m.value for m in at.markdown)


def test_manage_shows_the_collection_own_instruction_and_strategy_names_match_chunking(app_env):
    from components.state import DEFAULT_INSTRUCTION, NO_INSTRUCTION

    at = new_page()
    assert DEFAULT_INSTRUCTION != "HR policy"
    create_and_fill(at)  # made with "HR policy", not the library's default
    open_tab(at, "Add documents")
    assert "Recursive (paragraph → sentence → tokens)" in at.selectbox(key="search.w.strategy").options
    open_tab(at, "Manage")
    assert at.selectbox(key="search.w.edit_instruction").value == "HR policy"
    assert any("Query instruction of this collection:** *HR policy*" in m.value for m in at.markdown)
    assert any(t.value.startswith("Given an employee") for t in at.text)
    at.text_input(key="search.w.new_name").input("plain_v1")
    at.selectbox(key="search.w.new_instruction").set_value(NO_INSTRUCTION)
    at.button(key="search.w.create").click().run()  # the new collection becomes the open one
    open_tab(at, "Manage")
    assert at.selectbox(key="search.w.edit_instruction").value == NO_INSTRUCTION
    assert any("none (queries are embedded as they are)" in m.value for m in at.markdown)


def test_the_with_without_verdict_follows_the_tables(app_env):
    at = new_page()
    create_and_fill(at)
    at.text_input(key="search.w.query").input("How do I claim a taxi fare after working late?")
    at.toggle(key="search.w.compare").set_value(True)
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    with_table, without_table = frame(at, "rank without"), frame(at, "rank with")
    new = int(with_table["rank without"].isna().sum())
    moved = int(sum(pd.notna(w) and w != r for r, w in zip(with_table["rank"], with_table["rank without"], strict=True)))
    shift = with_table["similarity"].mean() - without_table["similarity"].mean()
    [verdict] = [i.value for i in at.info if "mean similarity" in i.value]
    if new == moved == 0:
        assert verdict.startswith("The instruction leaves the top 5 as it is")
    else:
        assert verdict.startswith(f"With the instruction, {new} of the top 5 results are new and {moved} of the others")
    assert f"{shift:+.3f}" in verdict and "better" not in verdict.replace("not which one is better", "").replace(
        "cannot say which ranking is better", "")


# Shared pieces drawn on every page, translated by their own owners and tests: the sidebar, the
# instruction picker (whose preset task texts stay English on purpose: English instructions work best),
# the store's location.
SHARED = ("components/sidebar.py", "components/instruction_picker.py", "components/resources.py",
          "embedlab/config.py", "embedlab/instructions.py")


def untranslated_here(at: AppTest) -> dict[str, str]:
    from tests.support.untranslated import untranslated

    shared = "".join((ROOT / path).read_text(encoding="utf-8") for path in SHARED)
    not_text = {"circle-open"}  # a plotly marker symbol in a chart's spec, never shown as text
    return {phrase: seen for phrase, seen in untranslated(at).items() if phrase not in shared and phrase not in not_text}


def test_the_search_page_in_chinese_shows_no_english(app_env):
    at = AppTest.from_file(str(ROOT / SEARCH), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and untranslated_here(at) == {}
    assert any("尚无集合" in i.value for i in at.info)
    create_and_fill(new_page())  # in another (English) session: the collection is shared through the store
    at.session_state["search.w.mode"] = "hybrid"
    at.session_state["search.w.compare"] = True
    at.run()
    assert not at.exception and untranslated_here(at) == {}
    assert any("没有经过校准的阈值" in m.value for m in at.markdown)  # the uncalibrated state, in Chinese
    at.text_input(key="search.w.query").input("How do I claim a taxi fare after working late?")
    at.button(key=SEARCH_BUTTON).click().run()
    assert not at.exception and not errors(at)
    assert untranslated_here(at) == {}
    assert any("平均相似度" in i.value for i in at.info)  # the with/without verdict
    results = frame(at, "相似度")  # headers translated (the results table comes first)
    assert {"排名", "相似度", "文本"} <= set(results.columns) and "高于阈值" not in results.columns
    assert len([df for df in at.dataframe if "来源" in df.value.columns]) == 3  # dense, BM25, hybrid
