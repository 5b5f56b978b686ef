"""Helpers shared by the browser hardening tests (test_hardening_*.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.conftest import open_expander, wait_idle

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
SHOTS = os.environ.get("HARDENING_SCREENSHOT_DIR")  # set to keep screenshots for a human look


def assert_inert(page) -> None:
    """No payload ran or became markup, in the page or in any iframe of it."""
    assert page.dialogs == [], page.dialogs
    for frame in page.frames:
        assert frame.locator("img[src='x'], [onerror]").count() == 0, f"injected element in {frame.url}"
        injected = frame.evaluate("() => [...document.scripts].filter(s => s.textContent.includes('alert(')).length")
        assert injected == 0, f"injected <script> in {frame.url}"


def create_collection(page, name: str, description: str = "") -> None:
    """Create a Search collection (the "New collection" panel is folded once any exists)."""
    field = page.get_by_role("textbox", name="Name", exact=True)
    if not field.is_visible():
        open_expander(page, "New collection")
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
    page.get_by_role("textbox", name="Document name").fill(name)
    area = page.get_by_role("textbox", name="Text", exact=True)
    area.fill(text)
    area.press("Tab")
    size = page.get_by_role("spinbutton", name="Max tokens per chunk")
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


def wait_cell(scope, text: str, timeout_ms: int = 30_000) -> None:
    """Wait until a grid under `scope` has drawn a cell containing `text` (glide fills its cells
    after the script has finished, so reading them straight away can miss some)."""
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


def shot(page, tmp_path: Path, name: str, height: int = 3000) -> Path:
    """A full screenshot (Streamlit scrolls inside its own container, so a tall viewport)."""
    path = Path(SHOTS) / name if SHOTS else tmp_path / name
    size = page.viewport_size
    page.set_viewport_size({"width": 1500, "height": height})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    assert path.stat().st_size > 20_000  # a rendered page, not a blank one
    return path
