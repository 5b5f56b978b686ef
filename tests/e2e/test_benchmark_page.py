"""Benchmark page in chromium: a small sweep draws both charts and exports its table; Stop keeps
what was measured."""

from __future__ import annotations

import csv
import io
import re

from tests.support.browser import download, run_benchmark, shot, wait_idle


def test_small_sweep_in_browser(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Benchmark")
    wait_idle(page)
    # Narrow the sweep: remove medium inputs and batch 32 / concurrency 4 from the defaults.
    run_benchmark(page, [("Inputs", "medium (256 tokens)"), ("Batch sizes", "32"), ("Requests in flight", "4")])
    # Plotly charts are drawn by a lazily loaded frontend component, after the script has ended.
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for(timeout=60_000)
    assert page.locator("[data-testid='stPlotlyChart']").count() == 2
    # The latency chart carries the target line's label (default target: P95 50 ms).
    latency = page.locator("[data-testid='stPlotlyChart']").first
    assert "target 50 ms" in latency.inner_text()
    rows = _download_csv(page)
    assert len(rows) == 4 and {"length", "batch_size", "concurrency", "p50_ms", "p95_ms", "p99_ms",
                               "texts_per_s", "tokens_per_s"} <= set(rows[0])
    assert {(r["batch_size"], r["concurrency"]) for r in rows} == {("1", "1"), ("1", "2"), ("8", "1"), ("8", "2")}
    assert all(float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["p99_ms"]) for r in rows)
    shot(page, tmp_path, "benchmark.png", 2000)


def _download_csv(page) -> list[dict[str, str]]:
    _, data = download(page, page.get_by_role("button", name="Download CSV"))
    return list(csv.DictReader(io.StringIO(data)))


def test_stop_keeps_the_points_measured_so_far(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Benchmark")
    wait_idle(page)
    # The default sweep: short and medium inputs x batch 1, 8, 32 x 1, 2, 4 in flight = 18 points.
    page.get_by_role("button", name="Run benchmark").click()
    progress = page.get_by_test_id("stProgress")
    # Two or more points done (a fast point can replace the bar's text before it is seen).
    progress.filter(has_text=re.compile(r"^([2-9]|1[0-6]) / 18 points")).wait_for(timeout=90_000)
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=30_000)  # the points so far, drawn live
    page.get_by_role("button", name="Stop", exact=True).click()
    warning = page.get_by_text(re.compile(r"^Stopped after [\d.]+ s: \d+ of 18 points were not measured"))
    warning.wait_for(timeout=90_000)
    wait_idle(page, 90_000)
    measured = 18 - int(re.search(r"(\d+) of 18 points", warning.inner_text()).group(1))
    assert 2 <= measured < 18
    assert progress.count() == 0 and page.get_by_role("button", name="Stop", exact=True).count() == 0
    rows = _download_csv(page)
    assert len(rows) == measured and all(r["errors"] == "0" for r in rows)
    # Points run in sweep order: the first ones measured are short inputs, batch 1.
    assert rows[0]["length"] == "short" and rows[0]["batch_size"] == "1"
