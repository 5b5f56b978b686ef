"""Benchmark page in chromium: a small sweep draws both charts."""

from __future__ import annotations

import os

from tests.e2e.conftest import wait_idle


def test_small_sweep_in_browser(start_app, page, tmp_path):
    url = start_app()
    page.goto(f"{url}/Benchmark")
    wait_idle(page)
    # Narrow the sweep: remove medium inputs and batch 32 / concurrency 4 from the defaults.
    for widget, value in (("Inputs", "medium (256 tokens)"), ("Batch sizes", "32"), ("Requests in flight", "4")):
        box = page.locator("[data-testid='stMultiSelect']").filter(has_text=widget)
        box.get_by_role("button", name=f"Remove {value}").click()
    page.get_by_role("button", name="Run benchmark").click()
    page.get_by_text("Best P95").wait_for(timeout=90_000)
    wait_idle(page, 90_000)
    # Plotly charts are drawn by a lazily loaded frontend component, after the script has ended.
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for(timeout=60_000)
    assert page.locator("[data-testid='stPlotlyChart']").count() == 2
    assert page.get_by_role("button", name="Download CSV").is_visible()
    shot = tmp_path / "benchmark.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "benchmark.png"), full_page=True)
    assert shot.stat().st_size > 20_000
