"""Browser tests: the real app in a subprocess, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests import procs

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in chroma's log
_SHARED_APP_DIRS: list[Path] = []  # where the shared app logs, for failure reports
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is missing: `make test` installs it when run as root")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def launch_app(tmp_path: Path, embedding_server: str, **extra_env: str) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port against the stand-in server: (process, URL)."""
    port = procs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBEDDING_", "CHROMA_", "RERANK_"))}
    env.update(
        EMBEDDING_BASE_URL=embedding_server,
        EMBEDDING_MODEL="multilingual-e5-small-q4",
        PLAYGROUND_DATA_DIR=str(tmp_path / "data"),
    )
    env.update(extra_env)
    proc = procs.start(
        [str(procs.VENV_BIN / "streamlit"), "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        f"http://127.0.0.1:{port}/_stcore/health",
        tmp_path / f"streamlit-{port}.log",
        env=env,
        cwd=ROOT,
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture
def start_app(tmp_path, embedding_server):
    """Factory: start `streamlit run app.py` on a free port with extra env; returns its URL."""
    started = []

    def start(**extra_env: str) -> str:
        proc, url = launch_app(tmp_path, embedding_server, **extra_env)
        started.append(proc)
        return url

    yield start
    for proc in started:
        procs.stop(proc)


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory, embedding_server) -> str:
    """URL of one app shared by tests that use distinct names (saves a start per test)."""
    app_dir = tmp_path_factory.mktemp("shared-app")
    proc, url = launch_app(app_dir, embedding_server)
    _SHARED_APP_DIRS.append(app_dir)
    yield url
    procs.stop(proc)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs  # tests assert that no script payload opened one
    yield page
    context.close()


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script for the current view."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test, attach what the page showed and the tails of the server logs.

    A CI failure is otherwise only a timeout; this says whether the app showed an error, hung or died.
    """
    report = yield
    if report.when != "call" or not report.failed:
        return report
    pages = [item.funcargs.get("page"), *(item.funcargs.get("two_pages") or [])]
    for n, page in enumerate(p for p in pages if p is not None):
        from playwright.sync_api import Error as PlaywrightError

        try:
            report.sections.append((f"page {n} text", page.inner_text("body", timeout=5_000)[-4_000:]))
            if "tmp_path" in item.funcargs:  # for a look by hand after a local run
                page.screenshot(path=str(item.funcargs["tmp_path"] / f"failure-{n}.png"), timeout=10_000)
        except PlaywrightError as exc:  # the page may be gone or hung; the logs below still help
            report.sections.append((f"page {n} text", f"unavailable: {exc}"))
    log_dirs = [item.funcargs["tmp_path"]] if "tmp_path" in item.funcargs else []
    if "shared_app" in item.funcargs:
        log_dirs += _SHARED_APP_DIRS
    for log_dir in log_dirs:
        for log in sorted(Path(log_dir).glob("*.log")):
            text = _ANSI.sub("", log.read_text(errors="replace"))
            report.sections.append((f"log {log.name}", text[-4_000:]))
    return report


def open_expander(page, label: str, timeout_ms: int = 10_000) -> None:
    """Open the st.expander whose title contains `label`; wait until its opening animation ends.

    A click on a widget inside the expander while its height is still animating can be lost
    (the content is clipped under the pointer): the browser sends no message at all.
    """
    expander = page.get_by_test_id("stExpander").filter(has=page.locator("summary", has_text=label)).first
    expander.locator("summary").click()
    expander.locator("details[open]").wait_for(state="attached", timeout=timeout_ms)
    page.wait_for_function("e => e.getAnimations({subtree: true}).length === 0", arg=expander.element_handle(),
                           timeout=timeout_ms)


def download(page, button) -> tuple[str, str]:
    """Click a download `button` (a locator); returns (suggested file name, text of the file)."""
    with page.expect_download() as info:
        button.click()
    return info.value.suggested_filename, Path(info.value.path()).read_text(encoding="utf-8-sig", errors="replace")


def run_benchmark(page, removed: list[tuple[str, str]]) -> None:
    """On the Benchmark page, take (multiselect label, option) choices out of the default sweep,
    run it and wait for the results."""
    for widget, value in removed:
        box = page.locator("[data-testid='stMultiSelect']").filter(has_text=widget)
        box.get_by_role("button", name=f"Remove {value}").click()
    page.get_by_role("button", name="Run benchmark").click()
    page.get_by_text("Best P95").wait_for(timeout=90_000)
    wait_idle(page, 90_000)
