"""Benchmark page in AppTest against the stand-in server."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from tests.support.apptest import BENCHMARK, ROOT, open_page
from tests.support.untranslated import untranslated


def _small_run(at: AppTest) -> AppTest:
    at.multiselect(key="bench.lengths").set_value(["short"])
    at.multiselect(key="bench.batches").set_value([1, 8])
    at.multiselect(key="bench.concurrency").set_value([1, 2])
    at.number_input(key="bench.requests").set_value(2)
    [run] = [b for b in at.button if b.label == "Run benchmark"]
    return run.click().run()


def test_small_sweep_shows_charts_and_table_and_leaves_cache_alone(app_env):
    at = open_page(BENCHMARK, 120)
    assert not at.exception
    at = _small_run(at)
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["bench.results"]
    assert len(results) == 4 and all(r["requests"] == 2 and r["errors"] == 0 for r in results)
    assert len(at.get("plotly_chart")) == 2
    assert at.dataframe[0].value.shape[0] == 4
    assert any("Best P95" in m.value for m in at.markdown)
    # The benchmark never writes to (or reads from) the embedding cache.
    cache = EmbeddingCache(Path(app_env["PLAYGROUND_DATA_DIR"]) / "embeddings.sqlite")
    assert len(cache) == 0


def test_refuses_to_start_when_connection_test_fails(app_env, monkeypatch):
    from tests.support.procs import free_port

    monkeypatch.setenv("EMBEDDING_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = open_page(BENCHMARK, 60)
    at = _small_run(at)
    assert not at.exception
    assert any("Not starting" in e.value for e in at.error)
    assert at.session_state["bench.results"] == []


def test_local_backend_explains_what_to_do(app_env, monkeypatch):
    monkeypatch.delenv("EMBEDDING_BASE_URL")
    at = open_page(BENCHMARK, 60)
    assert not at.exception
    assert any("measures an embedding **server**" in i.value for i in at.info)


def page(at: AppTest) -> SimpleNamespace:
    """The page's own area (the sidebar is the shared sidebar's, tested with it)."""
    return SimpleNamespace(_tree=at.main)


def test_in_chinese_the_form_results_table_and_summary_are_translated(app_env):
    at = AppTest.from_file(str(ROOT / BENCHMARK), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and untranslated(page(at)) == {}
    assert at.multiselect(key="bench.lengths").options[0] == "短（16 词元）"
    at.multiselect(key="bench.lengths").set_value(["short"])
    at.multiselect(key="bench.batches").set_value([1, 8])
    at.multiselect(key="bench.concurrency").set_value([1])
    at.number_input(key="bench.requests").set_value(2)
    [run] = [b for b in at.button if b.label == "运行性能测试"]
    at = run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.session_state["bench.results"]) == 2
    assert untranslated(page(at)) == {}
    table = at.dataframe[0].value
    assert list(table.columns)[:4] == ["输入", "每段文本的词元数", "批大小（每个请求的文本数）", "并发请求数"]
    assert "P95 延迟（ms）" in table.columns and set(table["输入"]) == {"短"}
    assert any(m.value.startswith("最佳 P95：") for m in at.markdown)
    assert not at.warning  # nothing was cut


def test_a_run_cut_by_the_budget_says_what_did_not_run(app_env):
    # The state a budget-bound run leaves (the cut itself is measured in tests/unit/test_benchmark.py).
    sweep = [{"length": "short", "batch_size": b, "concurrency": c} for b in (1, 32) for c in (1, 4)]
    measured = {"length": "short", "tokens_per_text": 16, "batch_size": 1, "concurrency": 1, "requests": 2, "errors": 0,
                "p50_ms": 3.0, "p95_ms": 4.0, "p99_ms": 4.0, "texts_per_s": 300.0, "tokens_per_s": 5100.0,
                "wall_s": 0.01, "first_error": "", "planned": 4}
    at = AppTest.from_file(str(ROOT / BENCHMARK), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.session_state["bench.results"] = [measured]
    at.session_state["bench.run_info"] = {"points": 4, "model": "m", "budget_s": 30, "stopped": False,
                                          "timeout_s": 30.0, "requests": 4, "sweep": sweep, "elapsed_s": 41.2}
    at.run()
    assert not at.exception
    [warning] = at.warning
    assert "30 秒的时间预算已用完" in warning.value and "41.2" in warning.value and "4 个测点中有 3 个未测量" in warning.value
    [cut] = [d.value for d in at.dataframe if "运行情况" in d.value.columns]
    assert cut.to_dict("records") == [
        {"输入": "短（16 词元）", "批大小（每个请求的文本数）": 1, "并发请求数": "1", "运行情况": "提前截止：4 个请求中完成 2 个"},
        {"输入": "短（16 词元）", "批大小（每个请求的文本数）": 1, "并发请求数": "4", "运行情况": "未运行"},
        {"输入": "短（16 词元）", "批大小（每个请求的文本数）": 32, "并发请求数": "1, 4", "运行情况": "未运行"},
    ]
    assert untranslated(page(at)) == {}
