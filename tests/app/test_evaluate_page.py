"""The Evaluate page under AppTest: a two-configuration grid on a reduced bundled set, refusals,
the declared start values and kept choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import ndcg_score
from streamlit.testing.v1 import AppTest

from components import state
from components.instruction_picker import NO_INSTRUCTION
from embedlab import evaluation as ev
from embedlab.cache import EmbeddingCache
from embedlab.instructions import PRESETS, format_query

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "5_Evaluate.py")
SET = "Engineering handbook (English / mixed)"
WEB = "Web search (Qwen default)"


def results_frame(at: AppTest):
    [frame] = [d.value for d in at.dataframe if "configuration" in d.value.columns]
    return frame


def submit(at: AppTest) -> AppTest:
    [run] = [b for b in at.button if b.label == "Run evaluation"]
    run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_two_configuration_grid_gives_table_charts_and_cached_rerun(app_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="eval.w.bundled").set_value(SET)
    at.number_input(key="eval.w.max_queries").set_value(4)
    at.multiselect(key="eval.w.instructions").set_value(["(no instruction)", WEB])
    submit(at)

    results = at.session_state["eval.results"]
    assert [r.config.instruction_name for r in results] == ["none", WEB]
    table = results_frame(at)
    assert list(table["instruction"]) == ["none", WEB] and len(table) == 2
    assert bool(table["baseline"][0]) and table["wins"][1] + table["losses"][1] + table["ties"][1] == 4
    assert len(at.get("plotly_chart")) == 1  # grouped bars; the dimension line needs two sizes
    assert any("two or more dimensions" in i.value for i in at.info)
    assert any("embedded now" in c.value for c in at.caption)

    # The page's numbers equal an independent computation (plain numpy and sklearn) on the vectors
    # the page stored in the on-disk cache: every input went through it.
    data = ev.load_bundled(SET).subset(4)
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
    assert len(at.get("plotly_chart")) == 2
    assert any("0 embedded now" in c.value for c in at.caption)
    # Picking another baseline recounts wins and losses against it.
    at.selectbox(key="eval.w.baseline").set_value(3).run()
    table = results_frame(at)
    assert bool(table["baseline"][3]) and not bool(table["baseline"][0])


def test_empty_axis_is_refused_and_nothing_runs(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.multiselect(key="eval.w.truncation").set_value([])
    submit(at)
    assert any("at least one value on every axis" in e.value for e in at.error)
    assert at.session_state["eval.results"] == []


def test_too_large_a_grid_is_refused_and_nothing_runs(app_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.multiselect(key="eval.w.instructions").set_value([NO_INSTRUCTION, WEB, "HR policy", "Code search"])
    at.multiselect(key="eval.w.truncation").set_value(list(ev.TRUNCATIONS))
    at.multiselect(key="eval.w.dimensions").set_value(["full", "256", "128", "64", "32"])
    submit(at)
    assert any(f"60 configurations is too many for one run; choose at most {ev.MAX_CONFIGS}" in e.value
               for e in at.error)
    assert at.session_state["eval.results"] == []


def test_declared_start_values_are_the_library_defaults(app_env):
    widgets = state.WIDGETS
    assert widgets[state.EVAL_METRIC] == ev.MAIN_METRIC
    assert widgets[state.EVAL_CHUNK_TOKENS] == ev.DEFAULT_CHUNK_TOKENS
    assert set(widgets[state.EVAL_TRUNCATION]) <= set(ev.TRUNCATIONS)
    assert set(widgets[state.EVAL_DOCUMENTS]) <= set(ev.DOCUMENT_MODES)
    assert set(widgets[state.EVAL_DIMENSIONS]) <= set(ev.dimension_options(None))
    assert set(widgets[state.EVAL_INSTRUCTIONS]) <= {NO_INSTRUCTION, *(p.name for p in PRESETS)}
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="eval.w.instructions").value == [NO_INSTRUCTION, "IT security policy"]
    assert at.multiselect(key="eval.w.truncation").value == ["full"]
    assert at.number_input(key="eval.w.chunk_tokens").value == ev.DEFAULT_CHUNK_TOKENS


def test_choices_and_results_survive_a_page_switch(app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
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
