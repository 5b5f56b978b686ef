"""The Search page in chromium: build the sample collections on a real Chroma server, ask, look."""

from __future__ import annotations

import re

from tests.support import procs
from tests.support.browser import open_expander, shot, table_cells, wait_cell, wait_idle
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
        before = page.get_by_text(re.compile(r"^Similarity \d\.\d{3} is ")).inner_text()
        page.get_by_test_id("stSelectbox").filter(has_text="Result").locator("input").click()
        page.get_by_role("option", name=re.compile(r"^#2 · ")).click()
        page.get_by_text(re.compile(r"^Similarity \d\.\d{3} is ")).filter(has_not_text=before).wait_for(timeout=30_000)
        wait_idle(page)
        shot(page, tmp_path, "search.png", 1000)
        assert not page.dialogs

        # Dense + BM25 + hybrid: three lists side by side, each hit saying where it came from.
        page.set_viewport_size({"width": 1500, "height": 1000})
        page.get_by_text("Dense + BM25 + hybrid, side by side").click()
        page.get_by_test_id("stTabs").get_by_test_id("stBaseButton-primaryFormSubmit").click()  # grids have a "Search" too
        page.get_by_role("heading", name="Dense, BM25 and hybrid").wait_for(timeout=60_000)
        wait_idle(page)
        lists = page.get_by_test_id("stHorizontalBlock").filter(has=page.get_by_text("Hybrid (RRF)", exact=True))
        grids = lists.get_by_test_id("stDataFrame")
        assert grids.count() == 3  # dense, BM25, hybrid
        wait_cell(grids.nth(2), "both")  # the hybrid list names the hits both lists found
        assert "both" in table_cells(page, grids.nth(2))
        assert set(table_cells(page, grids.nth(1))) & {"both", "bm25"}  # every BM25 hit is in its own list
        assert page.get_by_text(re.compile(r"BM25 index built in \d+ ms")).count() == 1
        assert page.get_by_role("button", name="Download CSV").count() >= 2
        shot(page, tmp_path, "search-hybrid.png", 3600)
        assert not page.dialogs
    finally:
        procs.stop(chroma)
