"""Server check page in AppTest against the stand-in server (a different model: identity must fail)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from tests.support.apptest import SERVER_CHECK, open_page


def _run(at: AppTest, only: list[str]) -> AppTest:
    at.multiselect(key="check.w.only").set_value(only)
    [run] = [b for b in at.button if b.label == "Run the server check"]
    return run.click().run()


def test_stand_in_is_not_the_published_model_and_batching_is_fine(app_env):
    at = open_page(SERVER_CHECK, 120)
    assert not at.exception
    at = _run(at, ["identity", "batch"])
    assert not at.exception, [e.value for e in at.exception]
    report = at.session_state["check.report"]
    assert [r.id for r in report.results] == ["server", "identity", "batch"]
    assert {r.id: r.status for r in report.results} == {"server": "pass", "identity": "fail", "batch": "pass"}
    assert any("This is not Qwen3-Embedding-0.6B as published" in e.value.replace("\\", "") for e in at.error)
    table = at.dataframe[0].value
    assert list(table["check"]) == [r.title for r in report.results]
    assert table["status"].tolist() == ["PASS", "FAIL", "PASS"]
    # The model card's reference matrix is drawn beside this server's scores, with the numbers.
    [rows] = [d.value for d in at.dataframe if "published" in d.value.columns]
    assert rows["published"].round(4).tolist() == [0.7646, 0.1414, 0.1355, 0.6000]
    assert (rows["difference"].abs() > 0.01).any()
    # The check measures the server, so nothing went through the embedding cache.
    assert len(EmbeddingCache(Path(app_env["PLAYGROUND_DATA_DIR"]) / "embeddings.sqlite")) == 0


def test_the_report_survives_a_rerun_and_the_selection_is_kept(app_env):
    at = open_page(SERVER_CHECK, 120)
    at = _run(at, ["tokens"])
    at.run()  # a plain rerun (e.g. any click elsewhere) redraws from the kept report
    assert [r.id for r in at.session_state["check.report"].results] == ["server", "tokens"]
    assert at.multiselect(key="check.w.only").value == ["tokens"]
    assert any("Token count agreement" in e.label for e in at.expander)


def test_unreachable_server_is_one_clear_failure(app_env, monkeypatch):
    from tests.support.procs import free_port

    monkeypatch.setenv("EMBEDDING_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = open_page(SERVER_CHECK, 60)
    at = _run(at, ["identity", "batch"])
    assert not at.exception
    statuses = {r.id: r.status for r in at.session_state["check.report"].results}
    assert statuses == {"server": "fail", "identity": "skip", "batch": "skip"}
    assert any("Cannot reach" in e.value for e in at.main.error)


def test_local_backend_explains_what_to_do(app_env, monkeypatch):
    monkeypatch.delenv("EMBEDDING_BASE_URL")
    at = open_page(SERVER_CHECK, 60)
    assert not at.exception
    assert any("tests an embedding **server**" in i.value for i in at.info)
