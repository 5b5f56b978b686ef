"""The Chunking page in chromium: coloured chunks, the step slider, a big upload, inert markup."""

from __future__ import annotations

import time

from bench.chunking_speed import long_document
from tests.support.browser import wait_idle

CHUNK_SPANS = ".ev-chunks span.ev-chunk, .ev-chunks span.ev-overlap"


def underlined_chunks(page) -> set[str]:
    return set(page.eval_on_selector_all(
        ".ev-chunks span[data-chunks]",
        "els => els.filter(e => e.style.textDecoration.includes('underline')).map(e => e.dataset.chunks)",
    ))


def test_chunks_are_coloured_and_the_slider_moves_the_highlight(start_app, page, tmp_path):
    url = start_app()
    page.goto(f"{url}/Chunking")
    wait_idle(page)
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    colours = page.eval_on_selector_all(
        ".ev-chunks span.ev-chunk", "els => [...new Set(els.map(e => getComputedStyle(e).backgroundColor))]")
    assert len(colours) >= 3  # neighbouring chunks get different colours
    assert underlined_chunks(page) == {"0"}
    page.screenshot(path=str(tmp_path / "chunking-step1.png"), full_page=True)

    slider = page.get_by_role("slider", name="Step through the chunks")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.get_by_text("Chunk 3 of").wait_for(timeout=30_000)
    wait_idle(page)
    assert underlined_chunks(page) == {"2"}
    page.get_by_text("Chunk 3 of").scroll_into_view_if_needed()
    shot = tmp_path / "chunking-step3.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_big_upload_draws_hundreds_of_chunks_quickly(start_app, page, tmp_path):
    doc = tmp_path / "long-policy.txt"
    doc.write_text(long_document(50_000), encoding="utf-8")
    url = start_app()
    page.goto(f"{url}/Chunking")
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    # A binary file named .txt gets a clear message and the page keeps working.
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(binary))
    page.locator("[data-testid='stAlertContentError']").first.wait_for(timeout=30_000)
    assert "photo.txt" in page.locator("[data-testid='stAlertContentError']").first.inner_text()
    start = time.perf_counter()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(doc))
    page.get_by_text("Showing long-policy.txt").wait_for(timeout=60_000)
    wait_idle(page)
    # 50,000 tokens in chunks of at most 256: about 200+ chunks, all drawn.
    page.get_by_text("▼ 32,768 tokens").wait_for(timeout=30_000)
    elapsed = time.perf_counter() - start
    assert page.locator("[data-testid='stAlertContentError']").count() == 0  # the good file replaced it
    n_chunks = len(page.eval_on_selector_all(".ev-chunks", "els => els[0].querySelectorAll('[data-chunks]')"))
    assert n_chunks > 200
    assert elapsed < 30, f"upload to drawn view took {elapsed:.1f} s"
    # The browser stays responsive: a scripted scroll through the whole view is quick.
    t0 = time.perf_counter()
    page.eval_on_selector(".ev-chunks", "el => { el.scrollTop = el.scrollHeight; return el.scrollTop; }")
    assert time.perf_counter() - t0 < 2
    page.locator(".ev-chunks").first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "chunking-big.png"), full_page=True)


def test_pasted_markup_stays_inert(start_app, page):
    url = start_app()
    page.goto(f"{url}/Chunking")
    wait_idle(page)
    page.get_by_text("Paste", exact=True).click()
    wait_idle(page)
    payload = ('Rule one. <script>alert("s")</script> Rule two. <img src=x onerror="alert(1)"> '
               '<b>bold?</b> end.\n\n') * 20
    area = page.locator("textarea")
    area.fill(payload)
    area.press("Control+Enter")
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator(".ev-chunks img, .ev-chunks script, .ev-chunks b").count() == 0
    assert '<img src=x onerror="alert(1)">' in page.locator(".ev-chunks").first.inner_text()
    assert page.dialogs == []
