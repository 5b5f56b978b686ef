"""Browser tests: the real app in a subprocess, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import procs
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, launch_app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in chroma's log
_SHARED_APP_DIRS: list[Path] = []  # where the shared app logs, for failure reports


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is missing: `make test` installs it when run as root")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()



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
    """URL of one app for every browser test that needs no server of its own (other settings, a
    restart, its logs): each test opens its own browser context, so its own session, and uses names
    no other test uses. One start per test process instead of one per test."""
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


