"""The Search page in chromium: build the sample collections on a real Chroma server, ask, look."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import procs
from tests.support.browser import (
    create_collection,
    open_expander,
    paste_document,
    shot,
    table_cells,
    wait_cell,
    wait_idle,
)
from tests.support.chroma_server import start_chroma_server


def test_build_samples_and_search_on_a_chroma_server(start_app, page, tmp_path):
    chroma, host, port = start_chroma_server(tmp_path / "chroma", tmp_path / "chroma.log")
    try:
        url = start_app(CHROMA_HOST=host, CHROMA_PORT=str(port))
        page.goto(f"{url}/Search")
        wait_idle(page)
        assert f"Chroma server {host}:{port}" in page.inner_text("body")
        open_expander(page, "Sample collections")
        page.get_by_role("button", name="Build the three sample collections").click()
        page.get_by_text("Sample collections ready").wait_for(timeout=180_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "hr_policy_v1" in body and "tech_doc_v2" in body and "customer_chat_v1" in body
        assert "hr_policy_v1 has no calibrated threshold." in body  # the samples' thresholds are not calibrated

        question = page.get_by_label("Question")
        question.fill("<b>Can I carry unused annual leave</b> into next year?")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_text("Top 5 by embedding").wait_for(timeout=60_000)
        # The query is shown as text, not rendered as markup (wait: it may come in the next rerun).
        page.get_by_text("<b>Can I carry").first.wait_for(timeout=60_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Vector search" in body and "Why it matched" in body and "Matched chunk" in body
        assert "Reranking is off" in body
        assert "<b>Can I carry" in body  # shown as text, not rendered as markup
        # Streamlit scrolls inside its own container, so a tall viewport captures the whole page.
        page.set_viewport_size({"width": 1500, "height": 3400})
        wait_idle(page)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)  # plotly draws its bars after the svg exists
        bars = page.get_by_test_id("stPlotlyChart").filter(has_text="Similarity of each result")
        assert bars.locator("g.point").count() == 5  # one bar per result
        wait_cell(page.get_by_test_id("stDataFrame"), "annual_leave.md")
        assert "annual_leave.md" in table_cells(page)  # the leave policy is among the results
        matched = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text("Matched chunk")).last
        assert "leave" in matched.inner_text().lower()
        # Another result's context (the picker reruns only its fragment).
        before = page.get_by_text(re.compile(r"^Similarity \d\.\d{3} ")).inner_text()
        page.get_by_test_id("stSelectbox").filter(has_text="Result").locator("input").click()
        page.get_by_role("option", name=re.compile(r"^#2 · ")).click()
        page.get_by_text(re.compile(r"^Similarity \d\.\d{3} ")).filter(has_not_text=before).wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, tmp_path, "search.png", 1000)
        assert not page.dialogs

        # Dense + BM25 + hybrid: three lists one under the other, each hit saying where it came from.
        page.set_viewport_size({"width": 1500, "height": 1000})
        page.get_by_text("Dense + BM25 + hybrid, one list under the other").click()
        page.get_by_test_id("stTabs").get_by_test_id("stBaseButton-primaryFormSubmit").click()  # grids have a "Search" too
        page.get_by_role("heading", name="Dense, BM25 and hybrid").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_text("Hybrid (RRF)", exact=True).wait_for(timeout=30_000)
        grids = page.get_by_test_id("stDataFrame")
        grids.nth(4).wait_for(state="attached", timeout=30_000)  # grids mount a moment after their run
        assert grids.count() == 5  # the collections table, dense, BM25, hybrid, then the results
        dense, bm25, hybrid = grids.nth(1), grids.nth(2), grids.nth(3)
        wait_cell(hybrid, re.compile("^both$"))  # the hybrid list names the hits both lists found
        wait_cell(bm25, re.compile("^(both|bm25)$"))  # every BM25 hit is in its own list
        wait_cell(dense, re.compile("^(both|dense)$"))
        assert page.get_by_text(re.compile(r"BM25 index built in \d+ ms")).count() == 1
        assert page.get_by_role("button", name="Download CSV").count() >= 2
        shot(page, tmp_path, "search-hybrid.png", 3600)
        assert not page.dialogs
    finally:
        procs.stop(chroma)


def test_an_uncalibrated_collection_says_so_greys_nothing_and_reads_in_chinese(shared_app, page, tmp_path):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{shared_app}/Search?lang=en")
    wait_idle(page)
    create_collection(page, "uncalibrated_v1")
    paste_document(page, "handbook.md", HANDBOOK, max_tokens=32)
    page.get_by_text(re.compile(r"uncalibrated_v1: .*added")).wait_for(timeout=60_000)
    page.get_by_role("tab", name="Search", exact=True).click()
    wait_idle(page)
    notice = page.get_by_text("uncalibrated_v1 has no calibrated threshold.")
    notice.wait_for(timeout=30_000)
    assert page.get_by_role("link", name="Calibrate in Evaluate").count() == 1
    assert "Apply to collection" in page.inner_text("body")
    page.get_by_label("Question").fill("How many days of annual leave do I get?")
    page.get_by_text("Compare with and without the instruction").click()
    page.get_by_test_id("stTabs").get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_role("heading", name="With and without the instruction").wait_for(timeout=60_000)
    wait_idle(page)
    body = page.inner_text("body")
    assert "shown in grey" not in body and "above threshold" not in body  # nothing marked against 0.50
    assert re.search(r"(results are new|leaves the top \d+ as it is)", body)  # the verdict sentence
    box = notice.bounding_box()
    assert box and 0 <= box["y"] < 900  # in view at 1440x900 without scrolling
    page.screenshot(path=str(shot_path(tmp_path, "search-uncalibrated-1440.png")))
    page.get_by_role("heading", name="With and without the instruction").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_path(tmp_path, "search-compare-1440.png")))

    page.goto(f"{shared_app}/Search?lang=zh")  # a new session, in Chinese
    wait_idle(page)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="集合").first
    if "uncalibrated_v1" not in picker.inner_text():  # other tests' collections share this app
        picker.locator("input").click()
        page.get_by_role("option", name="uncalibrated_v1", exact=True).click()
        wait_idle(page)
    page.get_by_text("uncalibrated_v1 没有经过校准的阈值。").wait_for(timeout=30_000)
    page.get_by_label("问题").fill("年假有多少天？")
    page.get_by_text("比较使用与不使用指令").click()
    page.get_by_test_id("stTabs").get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_role("heading", name="使用与不使用指令").wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(shot_path(tmp_path, "search-zh-1440.png")))
    page.get_by_role("heading", name="使用与不使用指令").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shot_path(tmp_path, "search-zh-compare-1440.png")))
    assert not page.dialogs


HANDBOOK = (
    "Annual leave is fifteen days per year for permanent staff. Unused days carry over until March.\n\n"
    "Parental leave is fourteen weeks; partners get two weeks.\n\n"
    "Taxi fares after working late are reimbursed with a receipt.\n\n"
    "Visitors sign in at the front desk and wear a badge.\n\n"
    "Laptops use full disk encryption and lock the screen after five minutes."
)


def shot_path(tmp_path, name: str):
    from tests.support.browser import SHOTS

    return (Path(SHOTS) if SHOTS else tmp_path) / name
