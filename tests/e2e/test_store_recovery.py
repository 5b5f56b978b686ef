"""kill -9 of the real app in the middle of an ingestion, then a restart on the same data dir:
the collection opens with whole batches stored, and adding the same text again completes it."""

from __future__ import annotations

import os
import re
import signal

from tests.support import procs
from tests.support.browser import create_collection, launch_app, paste_document, wait_idle

# Paragraphs of about 14 tokens: with 16-token chunks each one is its own chunk.
RULES = "\n\n".join(f"Rule {i}: visitors sign in at desk {i} and wear badge {i * 7}." for i in range(600))
BATCH = 256  # embedlab.ingest's batch size: embedded, then written, one batch at a time


def _chunks(page) -> int:
    caption = page.get_by_text(re.compile(r"^[\d,]+ chunks in restart_kb_v1$"))
    caption.wait_for(timeout=30_000)
    return int(caption.inner_text().split()[0].replace(",", ""))


def test_kill_9_during_ingestion_then_restart_completes_it(tmp_path, embedding_server, page):
    proc, url = launch_app(tmp_path, embedding_server)
    try:
        page.goto(f"{url}/Search")
        wait_idle(page)
        create_collection(page, "restart_kb_v1")
        paste_document(page, "rules.txt", RULES)
        # Killed right after the first batch was written, while the second is being embedded.
        page.get_by_test_id("stProgress").filter(has_text=f"writing {BATCH} / ").wait_for(timeout=120_000)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        proc, url = launch_app(tmp_path, embedding_server)  # same PLAYGROUND_DATA_DIR, lock released
        page.goto(f"{url}/Search")
        wait_idle(page)
        stored = _chunks(page)
        assert stored > 0 and stored % BATCH == 0, stored  # whole batches only
        paste_document(page, "rules.txt", RULES)
        report = page.get_by_test_id("stAlert").filter(has_text="restart_kb_v1").filter(has_text="added")
        report.wait_for(timeout=120_000)
        wait_idle(page)
        summary = report.inner_text()
        total = int(re.search(r"([\d,]+) chunk\(s\)", summary).group(1).replace(",", ""))
        assert f"{total - stored} added, 0 updated, {stored} unchanged (skipped)" in summary, summary
        assert stored < total and _chunks(page) == total >= 600
        # The restarted app answers from the completed collection.
        page.get_by_role("tab", name="Search").click()
        page.get_by_role("textbox", name="Question").fill("Which desk is rule 550 about?")
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_text("Why it matched").wait_for(timeout=60_000)
        assert page.get_by_test_id("stException").count() == 0
    finally:
        procs.stop(proc)
