"""Several users at once: two browser contexts on one app each see only their own inputs and results."""

from __future__ import annotations

import re

from tests.support.browser import (
    app_value,
    assert_inert,
    create_collection,
    paste_document,
    shot,
    table_cells,
    wait_idle,
)

ALICE = {
    "queries": ["How many days of annual leave do interns get?", "Who signs off a travel budget?"],
    "documents": ["Interns accrue one day of annual leave per month.",
                  "Travel budgets are signed off by the department head.", "Parking permits renew in March."],
}
BOB = {
    "queries": ["Which port does the VPN gateway use?", "How often are backups tested?"],
    "documents": ["The VPN gateway listens on UDP port 51820.",
                  "Backups are restored into a sandbox every quarter.", "The cafeteria serves soup on Fridays."],
}


def _enter_texts(page, texts: dict) -> None:
    queries = page.get_by_role("textbox", name="Queries", exact=True)
    app_value(queries)  # the sample's texts, filled just after the box appears, would replace ours
    queries.fill("\n".join(texts["queries"]))
    queries.press("Tab")
    docs = page.get_by_role("textbox", name="Documents", exact=True)
    docs.fill("\n".join(texts["documents"]))
    docs.press("Tab")
    page.get_by_role("button", name="Apply texts").click()


def test_two_users_compare_different_texts_on_the_instruction_lab(shared_app, two_pages, tmp_path):
    alice, bob = two_pages
    for page in two_pages:
        page.goto(f"{shared_app}/Instructions")
    for page, texts in ((alice, ALICE), (bob, BOB)):
        wait_idle(page)
        _enter_texts(page, texts)
    for page, texts in ((alice, ALICE), (bob, BOB)):
        page.get_by_test_id("stCode").filter(has_text=texts["queries"][0]).wait_for(timeout=30_000)
        wait_idle(page)
    # Both press Compare before either has results: the two runs overlap on the server.
    for page in two_pages:
        page.get_by_role("button", name="Compare").click()
    for page in two_pages:
        page.locator("[data-testid='stPlotlyChart']").nth(2).wait_for(timeout=60_000)
        wait_idle(page)
    for page, mine, theirs in ((alice, ALICE, BOB), (bob, BOB, ALICE)):
        page.get_by_test_id("stDataFrame").locator("td").filter(has_text=mine["queries"][1]).first.wait_for(
            state="attached", timeout=30_000)
        seen = " ".join(table_cells(page)) + page.inner_text("body")
        assert all(t in seen for t in mine["queries"]), mine["queries"]
        # Documents by the heatmaps' axis labels: table rows are virtualised, so a given row may
        # not be in the DOM at all.
        xticks = " ".join(page.locator("[data-testid='stPlotlyChart'] .xtick text").all_text_contents())
        assert mine["documents"][0][:12] in xticks and theirs["documents"][0][:12] not in xticks, xticks
        assert not any(t in seen for t in theirs["queries"] + theirs["documents"])
        ticks = " ".join(page.locator("[data-testid='stPlotlyChart'] .ytick text").all_text_contents())
        assert mine["queries"][0][:12] in ticks and theirs["queries"][0][:12] not in ticks, ticks
        assert_inert(page)
    shot(alice, tmp_path, "users-alice.png", 2400)
    shot(bob, tmp_path, "users-bob.png", 2400)


def test_two_users_search_at_the_same_time(shared_app, two_pages, tmp_path):
    alice, bob = two_pages
    # Alice creates a small collection; both then search it at the same time.
    alice.goto(f"{shared_app}/Search")
    wait_idle(alice)
    create_collection(alice, "users_kb_v1")
    paste_document(alice, "handbook.txt", "\n\n".join(ALICE["documents"] + BOB["documents"]))
    alice.get_by_test_id("stAlert").filter(has_text="users_kb_v1").filter(has_text="added").wait_for(timeout=60_000)
    wait_idle(alice)
    count = alice.get_by_text(re.compile(r"^\d+ chunks in users_kb_v1$")).inner_text()

    bob.goto(f"{shared_app}/Search")
    wait_idle(bob)
    box = bob.get_by_test_id("stSelectbox").filter(has_text="Collection").first
    box.locator("input").click()
    bob.get_by_role("option", name="users_kb_v1", exact=True).click()
    bob.get_by_text(count, exact=True).wait_for(timeout=30_000)
    wait_idle(bob)
    asks = {alice: ALICE["queries"][1], bob: BOB["queries"][0]}
    for page, question in asks.items():
        page.get_by_role("tab", name="Search").click()
        page.get_by_role("textbox", name="Question").fill(question)
    for page in two_pages:  # both searches in flight together
        page.get_by_role("button", name="Search", exact=True).click()
    for page in two_pages:
        page.get_by_text("Why it matched").wait_for(timeout=60_000)
        wait_idle(page)
    expected_top = {alice: "department head", bob: "51820"}
    for page, other in ((alice, bob), (bob, alice)):
        sent = page.get_by_test_id("stCode").last.inner_text()
        assert sent.endswith("Query:" + asks[page]) and asks[other] not in page.inner_text("body"), sent
        matched = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text("Matched chunk")).last
        assert expected_top[page] in matched.inner_text()
        assert_inert(page)
    shot(alice, tmp_path, "users-search-alice.png", 2600)
    shot(bob, tmp_path, "users-search-bob.png", 2600)
