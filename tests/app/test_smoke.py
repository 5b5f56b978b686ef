"""Every page runs without an exception against the stand-in server (new pages are picked up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apptest import HOME, INSTRUCTIONS, open_page
from tests.support.markdown import shown

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["app.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]


@pytest.mark.parametrize("script", SCRIPTS)
def test_page_runs_without_exception(script, app_env):
    at = open_page(script, 120)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.sidebar.button) >= 1  # the connection panel is drawn


def test_home_shows_connected_model_and_cache_stats(app_env):
    at = open_page(HOME, 60)
    assert any("multilingual-e5-small-q4" in shown(s.value) for s in at.sidebar.success)
    assert any("Embedding cache" in c.value for c in at.sidebar.caption)


def test_dead_server_shows_error_and_page_still_renders(app_env, monkeypatch):
    from tests.support.procs import free_port

    monkeypatch.setenv("EMBEDDING_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = open_page(HOME, 60)
    assert not at.exception
    assert any("Cannot reach" in e.value for e in at.sidebar.error)
    assert at.title[0].value == "Qwen3-Embedding Playground"


def test_sidebar_override_switches_backend_for_this_session(app_env):
    at = open_page(HOME, 60)
    at.sidebar.radio(key="conn.backend").set_value("local")
    at.sidebar.number_input(key="conn.dimensions").set_value(256)
    [apply] = [b for b in at.sidebar.button if b.label == "Apply"]
    apply.click().run()
    assert not at.exception
    assert any("loads on first use" in i.value for i in at.sidebar.info)
    assert any("Configured model:** Qwen/Qwen3-Embedding-0.6B · dimensions: 256" in shown(m.value) for m in at.markdown)


def test_hanging_server_gives_bounded_wait_and_page_renders(app_env, monkeypatch):
    import socket
    import time

    with socket.socket() as sock:  # accepts connections, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        monkeypatch.setenv("EMBEDDING_BASE_URL", f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
        start = time.monotonic()
        at = open_page(HOME, 60)
        elapsed = time.monotonic() - start
    assert not at.exception
    assert any("did not answer within" in e.value for e in at.sidebar.error)
    assert at.title[0].value == "Qwen3-Embedding Playground"
    assert elapsed < 45  # probe: 2 s model list + one 5 s timeout; the rest is import time under load


def test_an_instruction_library_nested_too_deeply_is_moved_aside_and_pages_run(app_env):
    data = Path(app_env["PLAYGROUND_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "instructions.json").write_text("[" * 100_000, encoding="utf-8")
    home = open_page(HOME, 60)
    assert not home.exception, [e.value for e in home.exception]
    [warning] = [shown(w.value) for w in home.warning if "instruction library" in shown(w.value)]
    assert "nests lists or objects too deeply" in warning and "instructions.json.broken-" in warning
    assert [p.name for p in data.glob("instructions.json.broken-*")]
    lab = open_page(INSTRUCTIONS, 120)
    assert not lab.exception, [e.value for e in lab.exception]
    assert not [w for w in lab.warning if "instruction library" in w.value]  # reported once, then fine
