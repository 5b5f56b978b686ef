"""The Evaluate page under AppTest: a two-configuration grid on a reduced bundled set, refusals,
the declared start values and kept choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score
from streamlit.testing.v1 import AppTest

from components import state
from components.instruction_picker import NO_INSTRUCTION
from embedlab.cache import EmbeddingCache
from embedlab.evaluation.datasets import load_bundled, relevance_labels
from embedlab.evaluation.form import DOCUMENT_MODES, MAX_CONFIGS, TRUNCATIONS, dimension_options
from embedlab.evaluation.grid import DEFAULT_CHUNK_TOKENS, RESCORE_TOP
from embedlab.evaluation.metrics import MAIN_METRIC, evaluate_scores, mean_metrics
from embedlab.instructions import PRESETS, format_query
from embedlab.keyword import BM25Index
from embedlab.stores.base import StoreError
from tests.support.apptest import EVALUATE, HOME, SEARCH, open_page
from tests.support.markdown import shown

SET = "Engineering handbook (English / mixed)"
WEB = "Web search (Qwen default)"


def results_frame(at: AppTest):
    [frame] = [d.value for d in at.dataframe if "configuration" in d.value.columns]
    return frame


LEVER_CHARTS = {"eval.rank_fig", "eval.calib_dist", "eval.calib_curve"}  # A vs B, calibration


def eval_charts(at: AppTest) -> list:
    """The metric charts (bars, dimension line): every chart but the A/B and calibration ones."""
    return [c for c in at.get("plotly_chart") if c.key not in LEVER_CHARTS]


def submit(at: AppTest) -> AppTest:
    [run] = [b for b in at.button if b.label == "Run evaluation"]
    run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_two_configuration_grid_gives_table_charts_and_cached_rerun(app_env):
    at = open_page(EVALUATE, 180)
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="eval.w.bundled").set_value(SET)
    at.number_input(key="eval.w.max_queries").set_value(4)
    at.multiselect(key="eval.w.instructions").set_value(["(no instruction)", WEB])
    submit(at)

    results = at.session_state["eval.results"]
    assert [r.config.instruction_name for r in results] == ["none", WEB]
    table = results_frame(at)
    # Sorted by nDCG@10, best first; the baseline (the first configuration run) keeps its row.
    assert list(table["ndcg@10"]) == sorted(table["ndcg@10"], reverse=True) and len(table) == 2
    assert set(table["instruction"]) == {"none", WEB}
    [other] = table.index[~table["baseline"].astype(bool)]
    assert table["instruction"][other] == WEB
    assert int(table["wins"][other]) + int(table["losses"][other]) + int(table["ties"][other]) == 4
    assert [table[c][1 - other] for c in ("wins", "losses", "ties", "p-value")] == ["—"] * 4  # the baseline's own
    # Grouped bars; the dimension line needs two sizes. (The A/B and calibration charts below them
    # are counted apart: they are drawn for every run of two or more configurations.)
    assert len(eval_charts(at)) == 1
    assert {c.key for c in at.get("plotly_chart")} - {"eval.bars"} == LEVER_CHARTS
    assert any("two or more dimensions" in i.value for i in at.info)
    assert any("embedded now" in c.value for c in at.caption)

    # The page's numbers equal an independent computation (plain numpy and sklearn) on the vectors
    # the page stored in the on-disk cache: every input went through it.
    data = load_bundled(SET).subset(4)
    cache = EmbeddingCache(Path(app_env["PLAYGROUND_DATA_DIR"]) / "embeddings.sqlite")
    model_id = f"{app_env['EMBEDDING_MODEL']}@{app_env['EMBEDDING_BASE_URL']}"

    def cached(texts: list[str]) -> np.ndarray:
        found = cache.get_many(model_id, None, texts)
        assert len(found) == len(set(texts))
        return np.stack([found[t] for t in texts])

    docs = cached([d.text for d in data.documents])
    task = next(i.task for i in PRESETS if i.name == WEB)
    for result, instr in zip(results, ["", task], strict=True):
        queries = cached([format_query(instr, q.text) for q in data.queries])
        scores = queries @ docs.T
        truth = np.array([[q.relevant.get(d, 0) for d in data.doc_ids] for q in data.queries])
        assert result.metrics["ndcg@10"] == pytest.approx(ndcg_score(truth, scores, k=10), abs=1e-5)
        first = np.argmax(scores, axis=1)
        hits = [truth[i, first[i]] >= 1 for i in range(len(data.queries))]
        assert result.metrics["mrr@10"] >= np.mean(hits)  # MRR counts every top-1 hit fully

    # Add a second size: the dimension line appears and nothing new is embedded.
    at.multiselect(key="eval.w.dimensions").set_value(["full", "64"])
    submit(at)
    assert len(at.session_state["eval.results"]) == 4
    assert at.session_state["eval.run_info"].new == 0
    assert len(eval_charts(at)) == 2
    assert any("0 embedded now" in c.value for c in at.caption)
    # Picking another baseline recounts wins and losses against it.
    at.selectbox(key="eval.w.baseline").set_value(3).run()
    table = results_frame(at)
    [base] = table.index[table["baseline"].astype(bool)]
    assert table["configuration"][base] == at.session_state["eval.results"][3].config.label


def test_empty_axis_is_refused_and_nothing_runs(app_env):
    at = open_page(EVALUATE, 120)
    at.multiselect(key="eval.w.truncation").set_value([])
    submit(at)
    assert any("at least one value on every axis" in e.value for e in at.error)
    assert at.session_state["eval.results"] == []


def test_too_large_a_grid_is_refused_and_nothing_runs(app_env):
    at = open_page(EVALUATE, 120)
    at.multiselect(key="eval.w.instructions").set_value([NO_INSTRUCTION, WEB, "HR policy", "Code search"])
    at.multiselect(key="eval.w.truncation").set_value(list(TRUNCATIONS))
    at.multiselect(key="eval.w.dimensions").set_value(["full", "256", "128", "64", "32"])
    submit(at)
    assert any(f"60 configurations is too many for one run; choose at most {MAX_CONFIGS}" in shown(e.value)
               for e in at.error)
    assert at.session_state["eval.results"] == []


def test_declared_start_values_are_the_library_defaults(app_env):
    widgets = state.WIDGETS
    assert widgets[state.EVAL_METRIC] == MAIN_METRIC
    assert widgets[state.EVAL_CHUNK_TOKENS] == DEFAULT_CHUNK_TOKENS
    assert set(widgets[state.EVAL_TRUNCATION]) <= set(TRUNCATIONS)
    assert set(widgets[state.EVAL_DOCUMENTS]) <= set(DOCUMENT_MODES)
    assert set(widgets[state.EVAL_DIMENSIONS]) <= set(dimension_options(None))
    assert set(widgets[state.EVAL_INSTRUCTIONS]) <= {NO_INSTRUCTION, *(p.name for p in PRESETS)}
    at = open_page(EVALUATE, 120)
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="eval.w.instructions").value == [NO_INSTRUCTION, "IT security policy"]
    assert at.multiselect(key="eval.w.truncation").value == ["full"]
    assert at.number_input(key="eval.w.chunk_tokens").value == DEFAULT_CHUNK_TOKENS


def test_choices_and_results_survive_a_page_switch(app_env):
    at = open_page(HOME, 180)
    at.switch_page("pages/5_Evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="eval.w.bundled").set_value(SET).run()
    at.number_input(key="eval.w.max_queries").set_value(3).run()
    at.multiselect(key="eval.w.instructions").set_value([WEB])
    at.multiselect(key="eval.w.dimensions").set_value(["full", "128"])
    at.text_input(key="eval.w.custom").set_value("Retrieve the handbook passage that answers the question")
    submit(at)
    at.selectbox(key="eval.w.metric").set_value("mrr@10").run()
    at.switch_page("app.py").run()
    at.switch_page("pages/5_Evaluate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="eval.w.bundled").value == SET
    assert at.number_input(key="eval.w.max_queries").value == 3
    assert at.multiselect(key="eval.w.instructions").value == [WEB]
    assert at.multiselect(key="eval.w.dimensions").value == ["full", "128"]
    assert at.text_input(key="eval.w.custom").value.startswith("Retrieve the handbook passage")
    assert at.selectbox(key="eval.w.metric").value == "mrr@10"
    assert [r.config.instruction_name for r in at.session_state["eval.results"]] == [WEB, WEB, "custom", "custom"]
    assert any(e.label == "Per query: mrr@10" for e in at.expander)


def run_modes_and_precisions_grid(at: AppTest) -> AppTest:
    """Dense float32, dense binary + rescore and BM25 on the first 6 queries, no instruction."""
    at.selectbox(key="eval.w.bundled").set_value(SET)
    at.number_input(key="eval.w.max_queries").set_value(6)
    at.multiselect(key="eval.w.instructions").set_value([NO_INSTRUCTION])
    at.multiselect(key="eval.w.modes").set_value(["dense", "BM25"])
    at.multiselect(key="eval.w.precisions").set_value(["float32", f"binary + float rescore top {RESCORE_TOP}"])
    return submit(at)


def test_modes_and_precisions_grid_with_sizes_beside_ndcg(app_env):
    at = run_modes_and_precisions_grid(open_page(EVALUATE, 180))
    results = at.session_state["eval.results"]
    assert [(r.config.mode, r.config.precision, r.config.rescore) for r in results] == [
        ("dense", "float32", False), ("dense", "binary", True), ("bm25", "float32", False)]
    table = results_frame(at)
    # nDCG@10, the test against the baseline and wins / losses / ties first (no scrolling to them).
    assert list(table.columns[:9]) == ["configuration", "ndcg@10", "wins", "losses", "ties",
                                       "Δ ndcg@10 vs baseline", "95% CI low", "95% CI high", "p-value"]
    assert {"mode", "precision", "dimensions", "bytes per vector", "1M vectors (GB)"} <= set(table.columns)
    table = table.sort_index()  # shown best first; here in run order
    assert list(table["mode"]) == ["dense", "dense", "bm25"]
    assert list(table["precision"]) == ["float32", f"binary + rescore {RESCORE_TOP}", "n/a"]
    # 384-d stand-in: float32 4 bytes a dimension, binary one bit; BM25 stores no vector.
    assert list(table["bytes per vector"][:2]) == [384 * 4, 384 // 8] and pd.isna(table["bytes per vector"][2])
    assert list(table["1M vectors (GB)"][:2]) == pytest.approx([1.536, 0.048]) and pd.isna(table["1M vectors (GB)"][2])
    # BM25 embeds nothing: its scores equal an index built here over the documents.
    data = load_bundled(SET).subset(6)
    index = BM25Index([d.text for d in data.documents])
    scores = np.stack([np.where((s := index.scores(q.text)) > 0, s, -np.inf) for q in data.queries])
    expected = mean_metrics(evaluate_scores(scores, data.doc_ids, data.queries))
    assert results[2].metrics == pytest.approx(expected)


def test_per_query_comparison_of_two_configurations(app_env):
    at = run_modes_and_precisions_grid(open_page(EVALUATE, 180))
    results = at.session_state["eval.results"]
    assert at.selectbox(key="eval.w.compare_a").value == 0 and at.selectbox(key="eval.w.compare_b").value == 2
    metrics = {m.label: m.value for m in at.metric}
    [changes] = [d.value for d in at.dataframe if "rank A" in d.value.columns]
    assert len(changes) == 6 and list(changes["change"]) == sorted(changes["change"], reverse=True)
    for _, row in changes.iterrows():  # the ranks shown are each configuration's own first relevant rank
        for side, res in (("rank A", results[0]), ("rank B", results[2])):
            rank = res.first_relevant[row["query id"]]
            assert row[side] == (str(rank) if rank is not None and rank <= 100 else ">100")
    labels = list(changes["result"])
    assert int(metrics["Fixed by B"]) == labels.count("fixed") and int(metrics["Broken by B"]) == labels.count("broke")
    assert int(metrics["Same"]) == labels.count("same")
    assert any("eval.dl_rank_changes" in b.proto.id for b in at.get("download_button"))
    # Another A: the comparison follows (only the results fragment reruns).
    at.selectbox(key="eval.w.compare_a").set_value(1).run()
    [again] = [d.value for d in at.dataframe if "rank A" in d.value.columns]
    assert [r for r in again["rank A"]] == [
        str(results[1].first_relevant[q]) if results[1].first_relevant[q] is not None else ">100"
        for q in again["query id"]]
    at.selectbox(key="eval.w.compare_b").set_value(1).run()
    assert any("two different configurations" in i.value for i in at.info)


def _best_f1_by_hand(sim: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over every similarity value, by brute force."""
    best = (0.0, -1.0)
    for t in np.unique(sim):
        kept = sim >= t
        tp = (kept & labels).sum()
        if tp == 0:
            continue
        p, r = tp / kept.sum(), tp / labels.sum()
        f1 = 2 * p * r / (p + r)
        if f1 > best[1] + 1e-12 or (abs(f1 - best[1]) <= 1e-12 and t > best[0]):
            best = (float(t), float(f1))
    return best


def fill_with_set(app_env: dict[str, str], name: str, data) -> None:
    """A collection in the app's embedded Chroma holding each document of `data` as one record whose
    source is the document's id (the vectors are random: only the documents matter here)."""
    from embedlab.stores.base import CollectionSpec
    from embedlab.stores.chroma import ChromaStore, open_client

    store = ChromaStore(open_client(path=str(Path(app_env["PLAYGROUND_DATA_DIR"]) / "chroma")))
    store.create(CollectionSpec(name, app_env["EMBEDDING_MODEL"], 384))
    vectors = np.random.default_rng(0).normal(size=(len(data.documents), 384))
    store.upsert(name, app_env["EMBEDDING_MODEL"], [f"{d.id}#0" for d in data.documents],
                 [d.text for d in data.documents], [{"source": d.id, "chunk": 0} for d in data.documents],
                 vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def test_calibration_suggests_the_best_f1_threshold_and_applies_it(app_env):
    at = run_modes_and_precisions_grid(open_page(EVALUATE, 180))
    assert at.selectbox(key="eval.w.calib_config").options == [results_frame(at)["configuration"][0],
                                                                results_frame(at)["configuration"][1]]
    [numbers] = [d.value for d in at.dataframe if "suggestion" in d.value.columns]
    # Independently: the cosine similarities of the cached vectors, F1 tried at every value.
    data = load_bundled(SET).subset(6)
    cache = EmbeddingCache(Path(app_env["PLAYGROUND_DATA_DIR"]) / "embeddings.sqlite")
    model_id = f"{app_env['EMBEDDING_MODEL']}@{app_env['EMBEDDING_BASE_URL']}"
    found = cache.get_many(model_id, None, [q.text for q in data.queries] + [d.text for d in data.documents])
    q = np.stack([found[x.text] for x in data.queries]).astype(np.float64)
    d = np.stack([found[x.text] for x in data.documents]).astype(np.float64)
    threshold, f1 = _best_f1_by_hand(q @ d.T, relevance_labels(data))
    best = numbers.iloc[0]
    assert best["suggestion"] == "best F1"
    assert best["threshold"] == pytest.approx(threshold, abs=1e-4) and best["F1"] == pytest.approx(f1, abs=1e-4)
    assert numbers.iloc[1]["suggestion"] == "precision ≥ 0.90"
    assert {c.key for c in at.get("plotly_chart")} == {"eval.bars", *LEVER_CHARTS}
    assert any("No Search collection exists yet" in i.value for i in at.info)

    # A collection made on the Search page (same data directory, same process): apply, then read it back.
    search = open_page(SEARCH, 120)
    search.text_input(key="search.w.new_name").input("eng_handbook_v1")
    search.button(key="search.w.create").click().run()
    assert not search.exception and any("Created" in s.value for s in search.success)
    # A second one holding the labelled set's documents (named by their ids, as Search names the
    # lines of an uploaded JSONL corpus), written straight into the app's store.
    fill_with_set(app_env, "handbook_labelled", data)
    at.run()
    assert at.selectbox(key="eval.w.apply_collection").value == "handbook_labelled"  # preselected: it matches
    at.selectbox(key="eval.w.apply_collection").set_value("eng_handbook_v1").run()
    assert any("now: 0.5000" in c.value for c in at.caption)  # the default threshold
    at.button(key="eval.apply_threshold").click().run()
    assert not at.exception
    [done] = [s.value for s in at.success if "similarity threshold" in s.value]
    assert f"now {best['threshold']:.4f} (best F1)" in done
    search.session_state["search.tabs"] = "Manage"
    search.run()
    assert search.number_input(key="search.w.edit_threshold").value == pytest.approx(best["threshold"], abs=1e-4)


def test_a_store_failure_when_applying_is_shown(app_env, monkeypatch):
    from embedlab.stores.chroma import ChromaStore

    at = run_modes_and_precisions_grid(open_page(EVALUATE, 180))
    search = open_page(SEARCH, 120)
    search.text_input(key="search.w.new_name").input("eng_handbook_v1")
    search.button(key="search.w.create").click().run()

    def refuse(self, name, **changes):
        raise StoreError("The vector store did not answer while it was asked to update (ConnectError).")

    monkeypatch.setattr(ChromaStore, "update", refuse)
    at.run()
    # An empty collection does not hold this labelled set: nothing is preselected, nothing applies.
    assert at.selectbox(key="eval.w.apply_collection").value is None
    assert any("No collection holds this labelled set" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "eval.apply_threshold"]
    at.selectbox(key="eval.w.apply_collection").set_value("eng_handbook_v1").run()
    at.button(key="eval.apply_threshold").click().run()
    assert not at.exception
    assert "The vector store did not answer while it was asked to update (ConnectError)." in [
        shown(e.value) for e in at.error]
    assert not [s for s in at.success if "similarity threshold" in s.value]


def upload_set(at: AppTest, corpus: tuple[str, bytes], queries: tuple[str, bytes]) -> AppTest:
    at.radio(key="eval.w.source").set_value("Upload my own").run()
    at.file_uploader(key="eval.corpus_file").set_value((*corpus, "application/json"))
    at.file_uploader(key="eval.queries_file").set_value((*queries, "application/json"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


CORPUS_ZH = '{"id": "d1", "text": "员工每年享有十五天带薪年假"}\n{"id": "d2", "text": "病假需提供医院证明"}\n'
QUERIES_ZH = '{"id": "q1", "text": "年假有几天", "relevant": ["d1"]}\n'


def test_uploaded_files_say_how_they_were_read(app_env):
    at = upload_set(at=open_page(EVALUATE, 120),
                    corpus=("corpus.jsonl", CORPUS_ZH.encode("gb18030")),
                    queries=("queries.jsonl", QUERIES_ZH.encode("utf-16")))
    assert not at.error, [e.value for e in at.error]
    assert "corpus\\.jsonl read as gb18030, queries\\.jsonl read as utf-16." in [c.value for c in at.caption]
    assert [m.value for m in at.metric][:2] == ["2", "1"]  # documents, queries


def test_deeply_nested_json_in_an_upload_is_refused_with_its_line(app_env):
    at = upload_set(at=open_page(EVALUATE, 120),
                    corpus=("corpus.jsonl", CORPUS_ZH.encode() + b"[" * 100_000 + b"\n"),
                    queries=("queries.jsonl", QUERIES_ZH.encode()))
    [message] = [e.value.replace("\\", "") for e in at.error]  # shown with Markdown escapes
    assert message.startswith("Corpus file: Line 3 nests lists or objects more than 64 levels deep")


def test_the_page_in_chinese_after_a_run_shows_the_verdict_and_no_english(app_env):
    """Drawn in Chinese, a run's results (verdict, tables, charts, calibration) show no English UI text.
    The sidebar is checked by its owner's test; here the page's own body."""
    from components.i18n import translations
    from embedlab.evaluation.verdict import verdict
    from tests.support.untranslated import untranslated

    zh = translations("zh").gettext
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / EVALUATE), default_timeout=180)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="eval.w.bundled").set_value(SET)
    at.number_input(key="eval.w.max_queries").set_value(4)
    at.multiselect(key="eval.w.instructions").set_value([NO_INSTRUCTION, WEB])
    [run] = [b for b in at.button if b.label == zh("Run evaluation")]
    run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["eval.results"]
    expected = verdict(results, 0)
    [box] = [m.value for m in at.markdown if m.value.startswith("最佳：")]
    assert f"ndcg@10 {expected.score:.3f}" in box and f"p = {expected.test.p_value:.4f}" in box
    assert f"{expected.test.ci_low:+.3f} 至 {expected.test.ci_high:+.3f}" in box
    assert "置信区间" in box and "配对置换检验" in box and "水平上" in box
    # "circle-open" is a plotly marker symbol in a chart's spec, not text anyone sees.
    assert untranslated(_Body(at.main), allowed=frozenset({"circle-open"})) == {}


class _Body:
    """An AppTest block (the page's main area) as untranslated() walks it."""

    def __init__(self, block) -> None:
        self._tree = block
