"""Server check page in AppTest against the stand-in server (a different model: identity must fail)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

from embedlab.cache import EmbeddingCache
from embedlab.servercheck.reference import REFERENCE_DOCUMENTS, REFERENCE_QUERIES
from tests.support.apptest import ROOT, SERVER_CHECK, open_page

# The model card's example texts are sent to the model as they are, and shown so.
MODEL_CARD_TEXTS = frozenset(REFERENCE_QUERIES + REFERENCE_DOCUMENTS)


def page(at: AppTest) -> SimpleNamespace:
    """The page's own area (the sidebar is the shared sidebar's, tested with it)."""
    return SimpleNamespace(_tree=at.main)


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
    assert list(table["Check"]) == [r.title for r in report.results]
    assert table["Status"].tolist() == ["PASS", "FAIL", "PASS"]
    # The model card's reference matrix is drawn beside this server's scores, with the numbers.
    [rows] = [d.value for d in at.dataframe if "Published" in d.value.columns]
    assert rows["Published"].round(4).tolist() == [0.7646, 0.1414, 0.1355, 0.6000]
    assert (rows["Difference"].abs() > 0.01).any()
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


def test_in_chinese_the_report_and_its_tables_and_charts_are_translated(app_env, monkeypatch):
    # A scripted Qwen look-alike that cuts inputs at 512 tokens: every check but truncation passes,
    # truncation fails fast, so the page shows both charts, the probe table and a what-to-do text.
    from tests.support.scripted_model import MODEL, ScriptedQwenServer
    from tests.support.untranslated import code_phrases, untranslated

    server = ScriptedQwenServer(fault="truncates_512")
    monkeypatch.setenv("EMBEDDING_BASE_URL", server.url)
    monkeypatch.setenv("EMBEDDING_MODEL", MODEL)
    try:
        at = AppTest.from_file(str(ROOT / SERVER_CHECK), default_timeout=120)
        at.query_params["lang"] = "zh"
        at.run()
        assert not at.exception and at.title[0].value == "服务器检查"
        assert untranslated(page(at)) == {}
        [run] = [b for b in at.button if b.label == "运行服务器检查"]
        at = run.click().run()
    finally:
        server.close()
    assert not at.exception, [e.value for e in at.exception]
    assert {r.id: r.status for r in at.session_state["check.report"].results} == {
        "server": "pass", "identity": "pass", "batch": "pass", "truncation": "fail", "matryoshka": "pass",
        "instruction": "pass", "tokens": "pass", "rerank": "skip"}
    # The evidence is shown as the English report has it (data: set names, instructions, texts sent).
    evidence = frozenset(p for j in at.json for p in code_phrases() if p in j.proto.body)
    assert untranslated(page(at), allowed=MODEL_CARD_TEXTS | evidence) == {}
    table = at.dataframe[0].value
    assert list(table.columns) == ["状态", "检查项", "结论", "用时（秒）"]
    assert table["状态"].tolist() == ["通过", "通过", "通过", "失败", "通过", "通过", "通过", "跳过"]
    assert table["结论"][1].startswith("这是官方发布的 Qwen3-Embedding-0.6B")
    assert any("服务器会把输入悄悄截断到约" in e.value for e in at.error)
    assert any(m.value.startswith("**怎么办：**") for m in at.markdown)
    [probes] = [d.value for d in at.dataframe if "发送的词元数" in d.value.columns]
    changes = probes["与上一长度的 1 − cos"].tolist()
    assert "0" in changes and not any("e-" in c for c in changes)  # no float noise such as 1.1e-16
    assert set(probes["应答"]) <= {"已嵌入", "已嵌入（重复一次：噪声）", "已嵌入（前半部分已替换）", ""}
