"""The Search page in chromium on Milvus Lite: create a collection, paste a document, ask; then
restart the app on the same database and ask again (a reopened Milvus must load its collections)."""

from __future__ import annotations

import re

from tests.support import procs
from tests.support.browser import (
    create_collection,
    launch_app,
    paste_document,
    shot,
    table_cells,
    wait_cell,
    wait_idle,
)

LEAVE = (
    "Annual leave is fifteen days per year for permanent staff. Unused annual leave can be carried "
    "over until the end of March of the next year.\n\n"
    "Sick leave needs a doctor's note after three consecutive days. 病假超过三天需要医生证明。\n\n"
    "Parental leave is sixteen weeks and can be split into two blocks."
)


def ask(page, question: str) -> None:
    page.get_by_role("tab", name="Search").click()
    wait_idle(page)
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text(re.compile(r"^Top \d+ by embedding$")).wait_for(timeout=60_000)
    wait_idle(page)
    wait_cell(page.get_by_test_id("stDataFrame"), "leave.md")


def test_search_page_on_milvus_lite_survives_a_restart(page, tmp_path, embedding_server):
    db = tmp_path / "milvus.db"
    proc, url = launch_app(tmp_path, embedding_server, MILVUS_URI=str(db))
    try:
        page.goto(f"{url}/Search")
        wait_idle(page)
        body = page.inner_text("body")
        assert f"Collections live in Milvus Lite at {db}" in body
        assert f"Vector store: Milvus Lite at {db}" in body  # the sidebar says it too
        create_collection(page, "leave_policy_v1", "Leave rules <b>2025</b>")
        paste_document(page, "leave.md", LEAVE, max_tokens=24)
        page.get_by_text("chunk(s):").first.wait_for(timeout=120_000)
        wait_idle(page)
        assert "added" in page.inner_text("body")

        ask(page, "Can I carry unused <i>annual leave</i> into next year?")
        body = page.inner_text("body")
        assert "candidate(s) from the vector store" in body and "Matched chunk" in body
        assert "<i>annual leave</i>" in body  # the question is shown as text, not markup
        assert "Leave rules <b>2025</b>" in body
        cells = table_cells(page)
        assert "leave.md" in cells
        page.set_viewport_size({"width": 1500, "height": 3600})  # Streamlit scrolls inside its container
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        bars = page.get_by_test_id("stPlotlyChart").filter(has_text="Similarity of each result")
        assert bars.locator("g.point").count() >= 1
        matched = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text("Matched chunk")).last
        assert "leave" in matched.inner_text().lower()
        shot(page, tmp_path, "search-milvus.png", 3600)
    finally:
        procs.stop(proc)

    # A new process: Milvus Lite reopens the directory with every collection released.
    proc, url = launch_app(tmp_path, embedding_server, MILVUS_URI=str(db))
    try:
        page.set_viewport_size({"width": 1500, "height": 1000})
        page.goto(f"{url}/Search")
        wait_idle(page)
        assert "leave_policy_v1" in page.inner_text("body")
        ask(page, "How long is parental leave?")
        assert "leave.md" in table_cells(page)
        assert not page.dialogs
    finally:
        procs.stop(proc)
