"""Browser tests: the real app in a subprocess, driven by Playwright in Debian's chromium."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from tests.support import procs
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, launch_app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in chroma's log
_SHARED_APP_DIRS: list[Path] = []  # where the shared app logs, for failure reports
_CALL_FAILED = pytest.StashKey[bool]()  # whether the test itself failed (its tab is not reused then)


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


class TabPool:
    """Browser tabs kept open across the tests of one test process, one per slot.

    A new tab costs chromium a renderer process and a fresh compile of Streamlit's scripts: 3 s of
    CPU per test, against 1.5 s to load the app again in a tab that has loaded it before. Each
    test still gets its own Streamlit session (every `goto` opens one); between tests the tab is
    sent to about:blank, and a tab whose test failed is closed with its context, not handed on.
    """

    def __init__(self, browser) -> None:
        self.browser = browser
        self.tabs: dict[str, object] = {}

    def take(self, slot: str, locale: str | None = None, width: int = 1500, height: int = 1000):
        """The tab of `slot`, in a browser context of its own with `locale`, at width x height, with
        no dialog seen yet."""
        page = self.tabs.get(slot)
        assert page is None or page.locale == locale, f"tab {slot} was opened with locale {page.locale}"
        if page is None or page.is_closed():
            context = self.browser.new_context(locale=locale, viewport={"width": width, "height": height})
            page = context.new_page()
            page.dialogs = []  # tests assert that no script payload opened one
            page.locale = locale
            page.on("dialog", lambda d, page=page: (page.dialogs.append(d.message), d.dismiss()))
            self.tabs[slot] = page
        page.set_viewport_size({"width": width, "height": height})
        page.dialogs.clear()
        return page

    def give_back(self, slot: str, failed: bool) -> None:
        """Leave the app (its session ends) or, after a failure, close the tab and its context."""
        from playwright.sync_api import Error as PlaywrightError

        page = self.tabs[slot]
        if not failed:
            try:
                page.goto("about:blank", timeout=10_000)
                return
            except PlaywrightError:  # hung or gone: not a tab to hand on
                pass
        del self.tabs[slot]
        with contextlib.suppress(PlaywrightError):  # the browser may have lost it already
            page.context.close()


@pytest.fixture(scope="session")
def tabs(browser) -> TabPool:
    return TabPool(browser)


def _failed(request) -> bool:
    return request.node.stash.get(_CALL_FAILED, True)


@pytest.fixture
def page(tabs, request):
    """A browser tab at 1500 x 1000 for this test (reused from earlier tests of this process)."""
    yield tabs.take("main")
    tabs.give_back("main", _failed(request))


@pytest.fixture
def zh_page(tabs, request):
    """A tab of a browser set to Chinese (navigator.language zh-CN), at 1440 x 900."""
    yield tabs.take("zh", locale="zh-CN", width=1440, height=900)
    tabs.give_back("zh", _failed(request))


@pytest.fixture
def two_pages(tabs, request):
    """Two tabs in two browser contexts (separate cookies, and a Streamlit session each)."""
    yield [tabs.take("main"), tabs.take("second")]
    for slot in ("main", "second"):
        tabs.give_back(slot, _failed(request))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test, attach what the page showed and the tails of the server logs.

    A CI failure is otherwise only a timeout; this says whether the app showed an error, hung or died.
    """
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    if report.when != "call" or not report.failed:
        return report
    pages = [item.funcargs.get("page"), item.funcargs.get("zh_page"), *(item.funcargs.get("two_pages") or [])]
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


