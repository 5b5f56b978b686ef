"""Server check page in chromium: a full run against the stand-in, its verdict, charts and report."""

from __future__ import annotations

import json

from tests.support.browser import download, shot, table_cells, wait_cell, wait_idle


def test_full_check_in_browser_names_a_different_model(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Server_check")
    wait_idle(page)
    page.get_by_role("button", name="Run the server check").click()
    page.get_by_text("This is not Qwen3-Embedding-0.6B as published").first.wait_for(timeout=150_000)
    wait_idle(page, 60_000)
    grid = page.get_by_test_id("stDataFrame").first
    wait_cell(grid, "Token count agreement")  # glide fills its cells after the script ends
    cells = table_cells(page, grid)
    for title in ("Identity against the published reference", "Batch invariance (padding / pooling)",
                  "Truncation probe (effective context)", "Token count agreement"):
        assert title in cells
    assert "FAIL" in cells and "PASS" in cells
    # Failing and warning checks open with their evidence: the identity heatmaps and the probe chart.
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(1).wait_for(timeout=60_000)
    assert "Published (model card)" in charts.first.inner_text()
    assert page.get_by_text("What to do:").count() >= 2
    _, markdown = download(page, page.get_by_role("button", name="Download report (Markdown)"))
    assert markdown.startswith("# Server check: Qwen3-Embedding") and "**FAIL**" in markdown
    _, raw = download(page, page.get_by_role("button", name="Download report (JSON)"))
    report = json.loads(raw)
    assert {r["id"]: r["status"] for r in report["results"]}["identity"] == "fail"
    assert page.get_by_test_id("stException").count() == 0
    shot(page, tmp_path, "server_check.png", 3600)
