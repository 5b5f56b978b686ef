"""Security properties seen from outside: secrets never reach the page or logs; the configured key
goes only to the configured server; a locked connection cannot be changed; safe config."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

from tests.support.browser import ROOT, download, open_expander, run_benchmark, shot, wait_idle
from tests.support.untrusted_server import UntrustedServer

SECRET = "sk-test-SECRET-7f3a9c"
PASSWORD = "pw-SECRET-91b0d4"


def _pages() -> list[str]:
    return [""] + [p.stem.split("_", 1)[1] for p in sorted((ROOT / "pages").glob("*.py"))]


def test_api_key_never_reaches_pages_or_logs(start_app, page, tmp_path):
    url = start_app(EMBEDDING_API_KEY=SECRET)
    for path in _pages():
        page.goto(f"{url}/{path}")
        wait_idle(page, 120_000)
        page.get_by_text("Settings").first.click()  # open the sidebar settings with the key field
        assert SECRET not in page.content(), f"API key rendered on /{path}"
        assert page.locator("input[type='password']").first.input_value() == ""
    # Exports: every download of the Instruction Lab's results and of a benchmark run.
    page.goto(f"{url}/Instructions")
    wait_idle(page, 120_000)
    page.get_by_role("button", name="Compare").click()
    page.locator("[data-testid='stPlotlyChart']").nth(2).wait_for(timeout=90_000)
    wait_idle(page, 120_000)
    exported = _every_download(page)
    page.goto(f"{url}/Benchmark")
    wait_idle(page, 120_000)
    run_benchmark(page, [("Inputs", "medium (256 tokens)"), ("Batch sizes", "32"), ("Batch sizes", "8"),
                         ("Requests in flight", "4"), ("Requests in flight", "2")])
    exported.update(_every_download(page))
    assert {"ranking.csv", "heatmap_with.html", "benchmark.csv", "latency_vs_batch.html"} <= set(exported), exported
    assert all(SECRET not in text for text in exported.values())
    logs = "".join(p.read_text(errors="replace") for p in Path(tmp_path).glob("streamlit-*.log"))
    assert SECRET not in logs


def _every_download(page) -> dict[str, str]:
    """{file name: text} of every download button shown on the page (folded panels left shut)."""
    files = {}
    buttons = page.get_by_test_id("stDownloadButton").locator("button")
    for i in range(buttons.count()):
        if not buttons.nth(i).is_visible() or buttons.nth(i).is_disabled():
            continue
        name, text = download(page, buttons.nth(i))
        files[name] = text
        wait_idle(page, 60_000)
    return files


def _sidebar_settings(page):
    """The sidebar's Settings form, opened (it stays open across reruns)."""
    open_expander(page, "Settings")
    return page.get_by_test_id("stSidebar").get_by_test_id("stForm")


def _wait_until(condition, timeout_s: float = 30.0) -> None:
    """Poll `condition` (what a loopback server has seen) until it holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the server never saw the expected requests"
        time.sleep(0.1)


def _test_connection(page) -> None:
    page.get_by_role("button", name="Test connection").click()
    wait_idle(page)


def test_the_configured_key_and_url_credentials_stay_with_the_configured_server(start_app, page, tmp_path):
    configured, other = UntrustedServer("served-model"), UntrustedServer("served-model")
    try:
        host = configured.url.split("://", 1)[1]
        url = start_app(EMBEDDING_BASE_URL=f"http://user:{PASSWORD}@{host}/v1", EMBEDDING_MODEL="served-model",
                        EMBEDDING_API_KEY=SECRET)
        page.goto(url)
        wait_idle(page, 120_000)
        page.get_by_test_id("stSidebar").get_by_text("served-model").first.wait_for(timeout=30_000)
        form = _sidebar_settings(page)
        base_url = form.get_by_role("textbox", name="Base URL")
        assert base_url.input_value() == f"http://{host}/v1"  # shown without the user and password
        assert PASSWORD not in page.content() and SECRET not in page.content()
        assert configured.paths("/v1/embeddings")  # (httpx sends the URL's user and password as Basic auth)

        # A visitor points the session at another server and tests the connection.
        base_url.fill(other.url + "/v1")
        form.get_by_role("button", name="Apply").click()
        # The new settings' connection probe reaches the other server (a click sent before the
        # Apply run has started would replace that run and lose the form's submission).
        _wait_until(lambda: {"/v1/models", "/v1/embeddings"} <= set(other.paths()))
        wait_idle(page)
        _test_connection(page)
        page.get_by_test_id("stSidebar").get_by_text("Connected").first.wait_for(timeout=30_000)
        assert other.keys_seen() == {"Bearer not-needed"}, other.requests  # neither the key nor the password
        # A key of the visitor's own goes with it, and the box does not keep it for the next URL.
        form = _sidebar_settings(page)
        form.get_by_role("textbox", name="API key").fill("sk-visitor-own")
        form.get_by_role("button", name="Apply").click()
        _wait_until(lambda: "Bearer sk-visitor-own" in other.keys_seen())
        wait_idle(page)
        _test_connection(page)
        assert _sidebar_settings(page).get_by_role("textbox", name="API key").input_value() == ""
        logs = "".join(p.read_text(errors="replace") for p in Path(tmp_path).glob("streamlit-*.log"))
        assert PASSWORD not in logs and SECRET not in logs
    finally:
        configured.close()
        other.close()


def test_a_locked_connection_is_read_only(start_app, page, tmp_path):
    configured = UntrustedServer("served-model")
    try:
        url = start_app(EMBEDDING_BASE_URL=configured.url + "/v1", EMBEDDING_MODEL="served-model",
                        EMBEDDING_API_KEY=SECRET, PLAYGROUND_LOCK_CONNECTION="1")
        page.goto(url)
        wait_idle(page, 120_000)
        form = _sidebar_settings(page)
        assert form.get_by_text("PLAYGROUND_LOCK_CONNECTION").is_visible()
        for name in ("Base URL", "API key"):
            assert form.get_by_role("textbox", name=name).is_disabled()
        assert all(radio.is_disabled() for radio in form.get_by_role("radio").all())
        assert form.get_by_role("textbox", name="Model").is_enabled()
        shot(page, tmp_path, "locked-connection.png", 1200)
    finally:
        configured.close()


def test_config_hides_tracebacks_and_keeps_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 200
