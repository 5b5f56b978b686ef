"""The Judge page in chromium against the stand-in server: a collection made on the Search page,
pools built for two queries, two people judging them at once by keyboard only (grade, skip,
undo), then the results with the verdict and their agreement."""

from __future__ import annotations

import re

from embedlab import judgments as jd
from tests.support.browser import (
    IMG,
    SCRIPT,
    app_value,
    assert_inert,
    create_collection,
    open_expander,
    paste_document,
    shot,
    wait_idle,
)

POLICY = ("Annual leave is twenty days per year. Unused leave can be carried over until March. "
          "Taxi fares after working late are reimbursed with a receipt. Hotel costs are capped at 150 euros. "
          "Laptops lock the screen after five minutes. Visitors sign in at the front desk.")
QUERIES = ["How many days of annual leave do I get?", "Can I claim a taxi after working late?"]
PROGRESS = re.compile(r"(\d+) of (\d+) judged by (\w+)")


def _progress(page) -> tuple[int, int]:
    """(judged, pool size) from the progress bar's text."""
    text = page.get_by_text(PROGRESS).first.inner_text()
    done, total, _ = PROGRESS.search(text).groups()
    return int(done), int(total)


def _sign_in(page, url: str, name: str) -> None:
    page.goto(f"{url}/Judge")
    wait_idle(page)
    rater = page.get_by_role("textbox", name="Your name (rater)")
    rater.fill(name)
    rater.press("Enter")
    page.get_by_text(f"judged by {name}").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("heading", name="Judge retrieval results").click()  # focus leaves the text box


def _press(page, key: str, expect_done: int, says: str = "") -> None:
    """Press a shortcut and wait until the page shows its effect: the count of judged chunks and,
    when given, the line saying what the key did."""
    page.get_by_text("Keys: 0, 1, 2 grade the chunk").wait_for(timeout=30_000)  # a chunk is shown
    wait_idle(page)
    page.keyboard.press(key)
    if says:
        page.get_by_text(says).first.wait_for(timeout=30_000)
    page.get_by_text(re.compile(rf"^{expect_done} of \d+ judged by")).wait_for(timeout=30_000)
    wait_idle(page)


def test_two_people_judge_a_pool_by_keyboard_at_once_and_see_the_verdict(start_app, two_pages, tmp_path):
    url = start_app()
    ana, bob = two_pages
    for page in two_pages:
        page.set_viewport_size({"width": 1500, "height": 1100})
    ana.goto(f"{url}/Search")
    wait_idle(ana)
    create_collection(ana, "policy_judge_v1")
    paste_document(ana, "policy.md", POLICY, max_tokens=16)
    ana.get_by_text("added").first.wait_for(timeout=120_000)
    wait_idle(ana)

    ana.goto(f"{url}/Judge")
    wait_idle(ana)
    ana.get_by_text("Type them").first.click()
    wait_idle(ana)
    box = ana.get_by_role("textbox", name="Queries, one per line")
    box.fill("\n".join(QUERIES))
    box.press("Tab")
    depth = ana.get_by_role("spinbutton", name="Depth k (top k of each configuration)")
    app_value(depth)
    depth.fill("2")
    depth.press("Tab")
    wait_idle(ana)
    shot(ana, tmp_path, "judge-setup.png", 2400)
    ana.get_by_role("button", name="Build pools").click()
    ana.get_by_text("Built the pools").wait_for(timeout=120_000)
    wait_idle(ana)

    _sign_in(ana, url, "Ana")
    done, total = _progress(ana)
    assert done == 0 and 2 <= total <= 2 * 2 * len(QUERIES)
    assert ana.get_by_role("heading", name=QUERIES[0]).count() == 1
    shot(ana, tmp_path, "judge-first-chunk.png", 2400)
    _sign_in(bob, url, "Bob")

    # Keyboard only: 2 grades, S skips, U undoes; both people at once, interleaved.
    _press(ana, "2", 1, "Saved 2 (relevant)")
    # Keys typed into a text box are text, not shortcuts.
    open_expander(ana, "New experiment")
    box = ana.get_by_role("textbox", name="Queries, one per line")
    box.click()
    box.press_sequentially(" 0 1 2 S U", delay=50)
    wait_idle(ana)
    assert box.input_value().endswith(" 0 1 2 S U") and _progress(ana) == (1, total)
    ana.get_by_role("heading", name="Judge retrieval results").click()
    _press(bob, "1", 1, "Saved 1 (partly relevant)")
    _press(ana, "S", 1, "Skipped: it comes back")
    _press(ana, "0", 2, "Saved 0 (not relevant)")
    _press(ana, "U", 1, "Undone: your grade 0")
    shot(ana, tmp_path, "judge-after-undo.png", 2400)
    ana_done, bob_done = 1, 1
    while ana_done < total - 1 or bob_done < total:
        if ana_done < total - 1:
            ana_done += 1
            _press(ana, "2" if ana_done % 2 else "0", ana_done)
        if bob_done < total:
            bob_done += 1
            _press(bob, "1", bob_done)
    ana.get_by_text("except the 1 you skipped").wait_for(timeout=30_000)
    ana.get_by_role("button", name="Judge the skipped ones now").click()
    wait_idle(ana)
    _press(ana, "1", total)
    ana.get_by_text(f"You have judged all {total} pooled chunks").wait_for(timeout=30_000)
    bob.get_by_text(f"You have judged all {total} pooled chunks").wait_for(timeout=30_000)

    # Nothing was lost: both people's grades are in the data directory.
    store = jd.JudgmentStore.in_data_dir(tmp_path / "data")
    current = store.judgments("policy_judge_v1")
    assert sorted(j.rater for j in current) == ["Ana"] * total + ["Bob"] * total
    assert {j.grade for j in current if j.rater == "Bob"} == {1}

    ana.get_by_role("tab", name="Results and export").click()
    wait_idle(ana)
    verdict = ana.get_by_test_id("stAlert").filter(
        has_text=re.compile(r"(B is better than A|B is worse than A|No significant difference between A and B)"))
    verdict.wait_for(timeout=30_000)
    assert "paired permutation test" in verdict.inner_text()
    # The verdict is drawn mid-run, the agreement below it later: read the page once the run has ended.
    ana.get_by_role("heading", name="Agreement between raters").wait_for(timeout=30_000)
    wait_idle(ana)
    body = ana.inner_text("body")
    assert "accuracy (P@2)" in body or "The tuning guide's table" in body
    assert "Agreement between raters" in body
    shot(ana, tmp_path, "judge-results.png", 2400)


def test_payloads_in_queries_chunks_names_and_raters_stay_text(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Search")
    wait_idle(page)
    create_collection(page, "judge_probe_v1")
    paste_document(page, f"{IMG}.md", f"Visitors sign in at the desk. {IMG}\n\nLaptops are encrypted. {SCRIPT}\n\n"
                                      "The canteen opens at noon **every** weekday.")
    page.get_by_test_id("stAlert").filter(has_text="judge_probe_v1").filter(has_text="added").wait_for(timeout=60_000)
    page.goto(f"{shared_app}/Judge")
    wait_idle(page)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Collection").first
    picker.locator("input").click()
    page.get_by_role("option", name="judge_probe_v1", exact=True).click()
    wait_idle(page)
    page.get_by_text("Type them").first.click()
    wait_idle(page)
    queries = page.get_by_role("textbox", name="Queries, one per line")
    queries.fill(f"are laptops encrypted {SCRIPT}\nwho signs in at the desk {IMG}")
    queries.press("Tab")
    name = page.get_by_role("textbox", name="Experiment name (optional)")
    name.fill(f"probe {IMG}")
    name.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Build pools").click()
    page.get_by_text("Built the pools").wait_for(timeout=120_000)
    wait_idle(page)
    assert page.get_by_text(f"Built the pools of probe {IMG}").count() == 1
    _sign_in(page, shared_app, IMG)
    body = page.inner_text("body")
    assert f"judged by {IMG}" in body and f"are laptops encrypted {SCRIPT}" in body
    chunk = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text(f"{IMG}.md")).last.inner_text()
    assert IMG in chunk or SCRIPT in chunk or "**every**" in chunk, chunk  # payloads and Markdown as text
    _press(page, "2", 1, "Saved 2 (relevant)")
    page.get_by_role("tab", name="Results and export").click()
    page.get_by_text(f"Only {IMG}").wait_for(timeout=30_000)  # the rater's name in a radio label, as text
    wait_idle(page)
    shot(page, tmp_path, "judge-payloads.png", 2400)
    assert_inert(page)
