"""The Instruction Lab in chromium against the stand-in server."""

from __future__ import annotations

import os

from tests.support.browser import wait_idle

PAYLOAD = "<img src=x onerror=alert(1)>"
SHOTS = os.environ.get("INSTR_SCREENSHOT_DIR")  # set to keep screenshots for a human look


def _shot(page, tmp_path, name: str) -> None:
    path = os.path.join(SHOTS, name) if SHOTS else str(tmp_path / name)
    # Streamlit scrolls inside its own container: a tall viewport captures the whole page.
    page.set_viewport_size({"width": 1500, "height": 3400})
    page.wait_for_timeout(800)
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 20_000  # a rendered page, not a blank one


def test_heatmaps_render_and_script_payload_stays_text(start_app, page, tmp_path):
    url = start_app()
    page.goto(f"{url}/Instructions")
    wait_idle(page)
    page.get_by_role("heading", name="Instruction Lab").wait_for(timeout=30_000)

    # Add a hostile document, apply, compare.
    docs = page.get_by_role("textbox", name="Documents", exact=True)
    docs.fill(docs.input_value() + "\n" + PAYLOAD)
    docs.press("Tab")  # commit the edit before submitting the form
    page.get_by_role("button", name="Apply texts").click()
    wait_idle(page)
    page.get_by_role("button", name="Compare").click()
    wait_idle(page)
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(2).wait_for(timeout=60_000)
    page.locator(".xtick text", has_text="D11 · ").first.wait_for(timeout=30_000)  # the added document
    assert charts.count() == 4  # without, with, difference, instruction comparison
    # Plotly drew heatmap cells and our shortened axis labels (Q1 ... / D1 ...).
    page.locator(".hm, .heatmaplayer image, .heatmaplayer").first.wait_for(timeout=30_000)
    ticks = page.locator("[data-testid='stPlotlyChart'] .ytick text").all_text_contents()
    assert any(t.startswith("Q1 · ") for t in ticks)
    # The payload is visible as text (in the preview table's source and the heatmap's x labels)...
    xticks = page.locator("[data-testid='stPlotlyChart'] .xtick text").all_text_contents()
    assert any("<img src=x" in t for t in xticks), xticks[-3:]
    # ...and never became markup: no injected <img src=x>, no dialog.
    assert page.locator("img[src='x']").count() == 0
    page.locator("[data-testid='stPlotlyChart']").first.hover()
    page.wait_for_timeout(500)
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    _shot(page, tmp_path, "instructions.png")
