"""The Instruction Lab in chromium against the stand-in server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components import state
from embedlab.instruction_sets import sample_sets
from tests.support.browser import SHOTS, app_value, hover, press_slider, shot, wait_drawn, wait_idle

PAYLOAD = "<img src=x onerror=alert(1)>"


def test_heatmaps_render_and_script_payload_stays_text(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Instructions")
    wait_idle(page)
    page.get_by_role("heading", name="Instruction Lab").wait_for(timeout=30_000)

    # Add a hostile document, apply, compare.
    docs = page.get_by_role("textbox", name="Documents", exact=True)
    docs.fill(app_value(docs) + "\n" + PAYLOAD)
    docs.press("Tab")  # commit the edit before submitting the form
    page.get_by_role("button", name="Apply texts").click()
    wait_idle(page)
    page.get_by_role("button", name="Compare").click()
    charts = page.locator("[data-testid='stPlotlyChart']")
    # Each chart mounts a moment after the run that draws it: wait for the fourth, then the run's end.
    wait_drawn(page, charts.nth(3), 60_000)
    added = len(next(iter(sample_sets().values())).documents) + 1  # after the opening set's documents
    # Past 16 documents the columns are labelled by number; the texts are in the hover.
    page.locator(".xtick text").filter(has_text=re.compile(rf"^D{added}$")).first.wait_for(timeout=30_000)
    assert charts.count() == 4  # without, with, difference, instruction comparison
    # Plotly drew heatmap cells and our shortened axis labels (Q1 ... / D1 ...).
    page.locator(".hm, .heatmaplayer image, .heatmaplayer").first.wait_for(timeout=30_000)
    ticks = page.locator("[data-testid='stPlotlyChart'] .ytick text").all_text_contents()
    assert any(t.startswith("Q1 · ") for t in ticks)
    # The payload is visible as text (in the hover of its column, the last one)...
    assert PAYLOAD in hover(page, charts.first, 0.995, 0.5)
    # ...and never became markup: no injected <img src=x>, no dialog.
    assert page.locator("img[src='x']").count() == 0
    page.locator("[data-testid='stPlotlyChart']").first.hover()
    page.wait_for_timeout(500)
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0

    # Moving k (a fragment: only the ranking table is redrawn) keeps every chart. At k = 3 each
    # query has three or more rows, at k = 1 one or two (its top document without and with the
    # instruction): the row count shows that the fragment's run has drawn.
    k = page.get_by_role("slider", name=re.compile(r"^k( k)?$"))  # its thumb is labelled twice
    assert k.input_value() == "3"
    n_queries = len(sample_sets()[state.WIDGETS[state.INSTR_SAMPLE]].queries)
    ranking = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="Rank change"))
    at_k1 = ", ".join(f"table[aria-rowcount='{1 + rows}']" for rows in range(n_queries, 2 * n_queries + 1))
    press_slider(page, k, "Home", 1, ranking.locator(at_k1))
    assert charts.count() == 4
    # The page as a user sees it: results drawn, no error box, no exception.
    for heading in ("1 · Queries and documents", "2 · Instruction", "3 · What is sent to the model", "4 · Results"):
        assert page.get_by_role("heading", name=heading).is_visible(), heading
    assert page.get_by_test_id("stException").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert [page.get_by_test_id("stMetricLabel").nth(i).inner_text() for i in range(4)] == [
        "Queries whose top-1 changed", "Mean top-1 margin", "Separation (labels)", "MRR (labels)"]
    shot(page, tmp_path, "instructions.png", 3400)


SIGNED = re.compile(r"[+-]\d\.\d{4}")
P_VALUE = re.compile(r"p ([=<]) (\d\.\d+)")
VERDICT_WORDS = {  # (significantly better with, significantly better without, no significant difference)
    "en": ("With the instruction MRR is significantly higher", "Without the instruction MRR is significantly higher",
           "No significant difference in MRR"),
    "zh": ("加指令时 MRR 显著更高", "不加指令时 MRR 显著更高", "MRR 没有显著差异"),
}


def fits_inside(inner: dict, outer: dict, slack: float = 4.0) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_verdict_follows_the_numbers_and_hovers_fit_at_1440(shared_app, page, tmp_path, lang):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{shared_app}/Instructions?lang={lang}")
    wait_idle(page)
    compare = page.get_by_role("button", name={"en": "Compare", "zh": "对比"}[lang], exact=True)
    compare.wait_for(timeout=30_000)
    page.get_by_role("textbox", name={"en": "Queries", "zh": "查询"}[lang], exact=True).wait_for(timeout=30_000)
    page.screenshot(path=str((Path(SHOTS) if SHOTS else tmp_path) / f"instructions-top-1440-{lang}.png"))
    compare.click()
    wait_idle(page)
    verdict_box = page.locator(".st-key-instr_verdict")
    verdict_box.wait_for(timeout=60_000)
    verdict = verdict_box.inner_text()
    # The MRR metric shows "with" and its change against no instruction; the verdict says the same
    # numbers, and which side is better only as far as its p-value allows.
    mrr = page.get_by_test_id("stMetric").nth(3)
    shown_with = mrr.get_by_test_id("stMetricValue").inner_text().strip()
    shown_change = SIGNED.search(mrr.get_by_test_id("stMetricDelta").inner_text()).group(0)
    diff, low, high = SIGNED.findall(verdict)[:3]
    assert shown_with in verdict and diff == shown_change, (verdict, shown_with, shown_change)
    assert float(low) <= float(high)
    relation, p = P_VALUE.search(verdict).groups()
    better_with, better_without, no_difference = VERDICT_WORDS[lang]
    significant = relation == "<" or float(p) < 0.05
    assert (better_with in verdict) == (significant and float(diff) > 0), verdict
    assert (better_without in verdict) == (significant and float(diff) < 0), verdict
    assert (no_difference in verdict) == (not significant), verdict

    # The narrowest heatmap's hover label stays inside its chart, even at a corner cell.
    chart = page.locator("[data-testid='stPlotlyChart']").nth(1)
    chart.scroll_into_view_if_needed()
    for fx, fy in ((0.97, 0.97), (0.03, 0.03)):
        text = hover(page, chart, fx, fy)
        assert ("Document" if lang == "en" else "文档") in text
        label = chart.locator(".hoverlayer .hovertext").first.bounding_box()
        assert fits_inside(label, chart.bounding_box()), (fx, fy, label, chart.bounding_box())
    verdict_box.scroll_into_view_if_needed()
    page.screenshot(path=str((Path(SHOTS) if SHOTS else tmp_path) / f"instructions-results-1440-{lang}.png"))
    chart.scroll_into_view_if_needed()
    hover(page, chart, 0.97, 0.97)
    page.screenshot(path=str((Path(SHOTS) if SHOTS else tmp_path) / f"instructions-hover-1440-{lang}.png"))
