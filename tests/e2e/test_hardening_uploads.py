"""Bad uploads in chromium: too big, binary under a hostile name, a broken JSONL line; the pages keep working."""

from __future__ import annotations

import json
import tomllib

from tests.support.browser import IMG, ROOT, assert_inert, shot, wait_idle

UPLOADER = "[data-testid='stFileUploaderDropzoneInput']"


def test_chunking_upload_over_the_limit_is_refused_and_the_page_keeps_working(shared_app, page, tmp_path):
    limit_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    big = tmp_path / "huge-policy.txt"
    with big.open("wb") as out:  # sparse: one byte past (limit + 1) MB without writing them all
        out.seek((limit_mb + 1) * 1024 * 1024)
        out.write(b"\n")
    page.goto(f"{shared_app}/Chunking")
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator(UPLOADER).set_input_files(str(big))
    refusal = page.get_by_text(f"File must be {limit_mb:.1f}MB or smaller.")
    refusal.wait_for(timeout=30_000)
    wait_idle(page)
    assert page.get_by_text("Showing huge-policy.txt").count() == 0  # never reached the script
    shot(page, tmp_path, "uploads-too-big.png", 1400)

    # A binary file with a hostile name: a clear error, the name shown as text.
    binary = tmp_path / f"{IMG}.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    page.locator(UPLOADER).set_input_files(str(binary))
    error = page.get_by_test_id("stAlertContentError").filter(has_text=f"{IMG}.txt")
    error.wait_for(timeout=30_000)
    assert_inert(page)

    # Then a good file is read and chunked as usual.
    good = tmp_path / "visitors.txt"
    good.write_text("Visitors sign in at reception.\n\nBadges are returned at the end of the day.\n", encoding="utf-8")
    page.locator(UPLOADER).set_input_files(str(good))
    page.get_by_text("Showing visitors.txt").wait_for(timeout=30_000)
    wait_idle(page)
    page.locator(".ev-chunks").first.wait_for(timeout=30_000)
    assert "Badges are returned" in page.locator(".ev-chunks").first.inner_text()
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert page.get_by_test_id("stException").count() == 0


def test_evaluate_broken_jsonl_line_is_named(shared_app, page, tmp_path):
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "text": "Badges are returned on the last day."}) + "\n"
                      + '{"id": "d2", "text": "unterminated\n'
                      + json.dumps({"id": "d3", "text": "The canteen opens at noon."}) + "\n", encoding="utf-8")
    queries.write_text(json.dumps({"id": "q1", "text": "return a badge", "relevant": ["d1"]}) + "\n",
                       encoding="utf-8")
    page.goto(f"{shared_app}/Evaluate")
    wait_idle(page)
    page.get_by_text("Upload my own").click()
    wait_idle(page)
    page.locator(UPLOADER).nth(0).set_input_files(str(corpus))
    wait_idle(page)
    page.locator(UPLOADER).nth(1).set_input_files(str(queries))
    error = page.get_by_test_id("stAlertContentError").filter(has_text="Line 2")
    error.wait_for(timeout=30_000)
    assert "Corpus file: Line 2 is not valid JSON (Unterminated string starting at column 22)." in error.inner_text()
    assert page.get_by_role("button", name="Run evaluation").is_disabled()
    shot(page, tmp_path, "uploads-broken-jsonl.png", 1400)
