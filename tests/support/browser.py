"""Helpers for browser tests: waiting for Streamlit, expanders, downloads, payload checks."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support import procs

ROOT = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("SCREENSHOT_DIR")  # a directory: keep every browser test's screenshots there for a look
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]


def launch_app(tmp_path: Path, embedding_server: str, **extra_env: str) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port against the stand-in server: (process, URL)."""
    port = procs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBEDDING_", "CHROMA_", "RERANK_", "MILVUS_"))}
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



def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script for the current view.

    Right after an interaction this can pass before the rerun it asked for has begun: the page
    says "running" only once the server reports the run, and until then still says "notRunning"
    from the run before. After a click, use `wait_drawn` (something only the new run draws).
    """
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


def wait_drawn(page, drawn, timeout_ms: int = 30_000) -> None:
    """After an interaction: wait until `drawn`, a locator for something only the rerun it caused
    draws, is on the page, then until that run has finished (once its output is there, the page
    knows the run has begun, so "notRunning" means it has ended)."""
    drawn.first.wait_for(state="attached", timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def rerun_by(page, action, timeout_ms: int = 60_000) -> None:
    """Do `action` (a callable that changes a widget), then wait until the run it causes has ended.

    For an action after which nothing new is drawn (e.g. the first of two uploads): the page's
    script state is watched from before the action, so a run that has not begun yet is waited for.
    """
    page.evaluate("""() => {
        const app = document.querySelector("[data-testid='stApp']");
        window.__rerunSeen = false;
        window.__rerunWatch?.disconnect();
        window.__rerunWatch = new MutationObserver(() => {
            if (app.dataset.testScriptState !== "notRunning") window.__rerunSeen = true;
        });
        window.__rerunWatch.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
    }""")
    action()
    page.wait_for_function("""() => window.__rerunSeen &&
        document.querySelector("[data-testid='stApp']").dataset.testScriptState === "notRunning" """,
                           timeout=timeout_ms)


def press_slider(page, slider, key: str, value: int, drawn, timeout_ms: int = 30_000) -> None:
    """Press `key` on the st.slider `slider`, see its thumb move to `value`, then `wait_drawn(drawn)`.

    `slider` must be the one the last finished run drew: a run that changes a slider's range
    draws a new slider in its place, and a key pressed on the old one goes with it.
    """
    from playwright.sync_api import expect

    slider.focus()
    slider.press(key)
    expect(slider).to_have_value(str(value), timeout=5_000)  # the browser took the key
    wait_drawn(page, drawn, timeout_ms)


def app_value(box, timeout_ms: int = 30_000) -> str:
    """The value of a text box once the app has filled it: Streamlit applies a value set through
    session state just after the box first appears (read or typed over earlier, it is lost)."""
    from playwright.sync_api import expect

    expect(box).not_to_have_value("", timeout=timeout_ms)
    return box.input_value()


def open_expander(page, label: str, timeout_ms: int = 10_000) -> None:
    """Open the st.expander whose title contains `label`, unless it is open; wait until its opening
    animation ends.

    Whether it is open is read from the panel, not from whether a widget inside it shows: widgets
    can appear a moment after the run has ended (their code loads lazily), and a click then folds
    the panel. A click on a widget inside the expander while its height is still animating can be
    lost (the content is clipped under the pointer): the browser sends no message at all.
    """
    expander = page.get_by_test_id("stExpander").filter(has=page.locator("summary", has_text=label)).first
    expander.wait_for(state="attached", timeout=timeout_ms)
    if expander.locator("details[open]").count() == 0:
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





IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


def assert_inert(page) -> None:
    """No payload ran or became markup, in the page or in any iframe of it."""
    assert page.dialogs == [], page.dialogs
    for frame in page.frames:
        assert frame.locator("img[src='x'], [onerror]").count() == 0, f"injected element in {frame.url}"
        injected = frame.evaluate("() => [...document.scripts].filter(s => s.textContent.includes('alert(')).length")
        assert injected == 0, f"injected <script> in {frame.url}"


def create_collection(page, name: str, description: str = "") -> None:
    """Create a Search collection (the "New collection" panel is folded once any exists)."""
    open_expander(page, "New collection")
    field = page.get_by_role("textbox", name="Name", exact=True)
    field.wait_for(state="visible", timeout=10_000)
    field.fill(name)
    if description:
        desc = page.get_by_role("textbox", name="Description", exact=True)
        desc.fill(description)
        desc.press("Tab")
        wait_idle(page)
    page.get_by_role("button", name="Create collection").click()
    page.get_by_text(f"Created '{name}'").wait_for(timeout=30_000)
    wait_idle(page)


def paste_document(page, name: str, text: str, max_tokens: int = 16) -> None:
    """On the Search page's "Add documents" tab, paste `text` as document `name` and press Add."""
    page.get_by_role("tab", name="Add documents").click()
    page.get_by_text("Paste text").click()
    wait_idle(page)
    doc_name = page.get_by_role("textbox", name="Document name")
    size = page.get_by_role("spinbutton", name="Max tokens per chunk")
    app_value(doc_name), app_value(size)  # the page's own start values first, or they replace ours
    doc_name.fill(name)
    area = page.get_by_role("textbox", name="Text", exact=True)
    area.fill(text)
    area.press("Tab")
    size.fill(str(max_tokens))
    size.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Add to collection").click()


def table_cells(page, scope=None) -> list[str]:
    """Text of every drawn cell of the st.dataframe grids in the page or in `scope` (a grid or a
    container); glide keeps an accessible <table> copy of the cells it draws."""
    if scope is not None:
        return scope.locator("td").all_text_contents()
    return page.locator("[data-testid='stDataFrame'] td").all_text_contents()


def wait_cell(scope, text: str | re.Pattern, timeout_ms: int = 30_000) -> None:
    """Wait until a grid under `scope` has drawn a cell containing `text` (a pattern: matching it),
    since glide fills its cells after the script has finished, so reading them straight away can
    miss some. A cell of another grid can contain the text too: a pattern such as ^text$ waits for
    the cell itself."""
    scope.locator("td").filter(has_text=text).first.wait_for(state="attached", timeout=timeout_ms)


def hover(page, chart, fx: float = 0.5, fy: float = 0.5) -> str:
    """Move the mouse over the plot area of a plotly chart at (fx, fy); return the tooltip's text."""
    chart.scroll_into_view_if_needed()
    box = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    label = chart.locator(".hoverlayer .hovertext")
    label.first.wait_for(state="attached", timeout=10_000)
    return " ".join(label.all_text_contents())


def hover_mark(page, chart, index: int = 0, selector: str = ".point path") -> str:
    """Hover the index-th mark (bar, marker) of a plotly chart; return the tooltip's text."""
    chart.scroll_into_view_if_needed()
    mark = chart.locator(selector).nth(index)
    box, area = mark.bounding_box(), chart.locator(".nsewdrag").first.bounding_box()
    # Zoomed axes clip bars: aim at the middle of the part inside the plot area.
    x0, x1 = max(box["x"], area["x"]), min(box["x"] + box["width"], area["x"] + area["width"])
    y0, y1 = max(box["y"], area["y"]), min(box["y"] + box["height"], area["y"] + area["height"])
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2)
    label = chart.locator(".hoverlayer .hovertext")
    label.first.wait_for(state="attached", timeout=10_000)
    return " ".join(label.all_text_contents())


def shot(page, tmp_path: Path, name: str, height: int = 3000, shown: Sequence = ()) -> Path:
    """The one screenshot helper: a full page for a look by hand, kept in $SCREENSHOT_DIR (else in the
    test's tmp_path). Streamlit scrolls inside its own container, so the viewport is made `height`
    tall meanwhile. Taken once the script is idle, every locator in `shown` is drawn with a size
    inside that height, and the page shows no uncaught exception."""
    path = Path(SHOTS) / name if SHOTS else tmp_path / name
    size = page.viewport_size
    page.set_viewport_size({"width": 1500, "height": height})
    wait_idle(page)
    for locator in shown:
        locator.first.wait_for(state="visible", timeout=10_000)
        box = locator.first.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0 and box["y"] < height, (name, locator)
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def open_select(box, tries: int = 3) -> None:
    """Open a Streamlit selectbox (`box`: its combobox input) and wait until its list is shown.

    In this Streamlit version the first click on a select after the page loads only focuses it
    (its aria-expanded stays "false"); the next one opens it. Click until the box says it is open.
    """
    for _ in range(tries):
        box.click()
        try:
            box.page.wait_for_function("e => e.getAttribute('aria-expanded') === 'true'", arg=box.element_handle(),
                                       timeout=3_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: not open yet, click again
            continue
    raise AssertionError(f"the select {box} did not open after {tries} clicks")
