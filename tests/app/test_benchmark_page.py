"""Benchmark page in AppTest against the stand-in server."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from tests.support.apptest import BENCHMARK, open_page


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
