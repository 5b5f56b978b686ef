"""The Chunking page in chromium: coloured chunks, the step slider, kept settings, a big upload,
bad uploads (too big, binary under a hostile name), inert markup."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

from bench.chunking_speed import long_document
from embedlab import chunking
from tests.support.browser import (
    IMG,
    ROOT,
    SHOTS,
    assert_inert,
    open_select,
    press_slider,
    shot,
    table_cells,
    wait_cell,
    wait_drawn,
    wait_idle,
)

CHUNK_SPANS = ".ev-chunks span.ev-chunk, .ev-chunks span.ev-overlap"
UPLOADER = "[data-testid='stFileUploaderDropzoneInput']"


def underlined_chunks(page) -> set[str]:
    return set(page.eval_on_selector_all(
        ".ev-chunks span[data-chunks]",
        "els => els.filter(e => e.style.textDecoration.includes('underline')).map(e => e.dataset.chunks)",
    ))


def test_chunks_are_coloured_and_the_slider_moves_the_highlight(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Chunking")
    wait_idle(page)
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    colours = page.eval_on_selector_all(
        ".ev-chunks span.ev-chunk", "els => [...new Set(els.map(e => getComputedStyle(e).backgroundColor))]")
    assert len(colours) >= 3  # neighbouring chunks get different colours
    assert underlined_chunks(page) == {"0"}
    shot(page, tmp_path, "chunking-step1.png", 1000)

    slider = page.get_by_role("slider", name="Step through the chunks")
    slider.focus()
    slider.press("ArrowRight")
    slider.press("ArrowRight")
    page.get_by_text("Chunk 3 of").wait_for(timeout=30_000)
    wait_idle(page)
    assert underlined_chunks(page) == {"2"}
    # The underlined chunk is the one the caption describes (its length in characters) and the
    # one drawn alone in the box below the caption.
    caption = page.get_by_test_id("stMarkdownContainer").filter(has_text="Chunk 3 of").last.inner_text()
    underlined = page.locator(".ev-chunks").first.evaluate(
        "el => [...el.querySelectorAll('span[data-chunks]')]"
        ".filter(e => e.style.textDecoration.includes('underline')).map(e => e.textContent).join('')")
    n_chars = int(re.search(r"· ([\d,]+) characters", caption).group(1).replace(",", ""))
    assert len(underlined) == n_chars > 0, (caption, underlined[:80])
    assert " ".join(underlined.split()) == " ".join(page.locator(".ev-chunks").nth(1).inner_text().split())
    page.get_by_text("Chunk 3 of").scroll_into_view_if_needed()
    shot(page, tmp_path, "chunking-step3.png", 1000)


def test_settings_are_kept_across_a_page_switch(shared_app, page):
    sample = chunking.load_sample_document(next(iter(chunking.SAMPLES)))
    n_windows = len(chunking.chunk_text(sample, "tokens", 256, 0))
    # The slider's range tells the two chunkings apart.
    assert n_windows != len(chunking.chunk_text(sample, "recursive", 256, 0))
    page.goto(f"{shared_app}/Chunking")
    # The first run has begun once it draws the chunks, so only then does "idle" mean it has ended: a
    # click on the select while that run still draws can land on a box the run then replaces.
    wait_drawn(page, page.locator(".ev-chunks"), 60_000)
    open_select(page.get_by_role("combobox", name="Strategy"))
    page.get_by_role("option", name="Fixed token windows", exact=True).click()
    # The new chunking draws a new step slider (its range changed): a key pressed on the old one,
    # before that run has begun, is dropped with it.
    slider = page.get_by_role("slider", name="Step through the chunks")
    wait_drawn(page, slider.and_(page.locator(f"[max='{n_windows}']")))
    # The last run before leaving is the step slider's fragment-only rerun: it once made the
    # switch forget the strategy (the values outside the fragment were held by the browser only).
    press_slider(page, slider, "ArrowRight", 2, page.get_by_text("Chunk 2 of"))
    page.get_by_role("link", name="Home").click()
    page.get_by_text("Qwen3-Embedding Playground").first.wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("link", name="Chunking").first.click()
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_role("combobox", name="Strategy").input_value() == "Fixed token windows"
    page.get_by_text("Chunk 2 of").wait_for(timeout=30_000)
    assert underlined_chunks(page) == {"1"}


def test_big_upload_draws_hundreds_of_chunks_quickly(shared_app, page, tmp_path):
    doc = tmp_path / "long-policy.txt"
    doc.write_text(long_document(50_000), encoding="utf-8")
    page.goto(f"{shared_app}/Chunking")
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
    shot(page, tmp_path, "chunking-big.png", 1000)


def test_pasted_markup_stays_inert(shared_app, page):
    page.goto(f"{shared_app}/Chunking")
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


def test_upload_over_the_limit_is_refused_and_the_page_keeps_working(shared_app, page, tmp_path):
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


FOUR_PLACES = re.compile(r"-?\d\.\d{4}")
LABELS = {  # (doc limit box, query box, match button, best chunk, mean of chunk vectors)
    "en": ("Whole document cut at (tokens)", "Query", "Embed chunks and match", "Best chunk (max-sim)",
           "Mean of chunk vectors"),
    "zh": ("整篇文档截断位置（词元）", "查询", "嵌入分块并匹配", "最佳分块（最大相似度）", "分块向量的平均"),
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pooling_caption_follows_the_numbers_at_1440(shared_app, page, tmp_path, lang):
    limit_box, query_box, match, best_label, mean_label = LABELS[lang]
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{shared_app}/Chunking?lang={lang}")
    wait_idle(page)
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    wait_idle(page)
    # A short whole-document input: quick on the stand-in. Typed, not clicked: a rerun finishing
    # meanwhile redraws the list under the pointer.
    limit = page.get_by_role("combobox", name=limit_box)
    limit.click()
    page.keyboard.type("512")
    page.keyboard.press("Enter")
    wait_idle(page)
    assert limit.input_value() == "512"
    query = page.get_by_role("textbox", name=query_box, exact=True)
    query.fill("penetration test approval and external testers")
    query.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name=match).click()
    pooling = page.locator(".st-key-chunk_pooling")
    pooling.wait_for(timeout=120_000)
    wait_cell(pooling, best_label)
    cells = table_cells(page, pooling)
    scores = {cells[i]: float(cells[i + 1]) for i in range(0, len(cells) - 1, 2) if FOUR_PLACES.fullmatch(cells[i + 1])}
    assert len(scores) == 4, cells
    caption = pooling.get_by_test_id("stCaptionContainer").inner_text()
    # "Here “X” scores highest (h) and “Y” lowest (l)": the table's highest and lowest.
    top, bottom = max(scores, key=scores.get), min(scores, key=scores.get)
    named = re.findall(r"“([^”]+)”", caption)
    assert named[:2] == [top, bottom] and f"{scores[top]:.4f}" in caption, (caption, scores)
    best, mean = scores[best_label], scores[mean_label]
    says_best_higher = {"en": "The best chunk scores", "zh": "最佳分块比分块向量的平均高"}[lang] in caption
    says_mean_higher = {"en": "The mean of the chunk vectors scores", "zh": "分块向量的平均比最佳分块高"}[lang] in caption
    assert says_best_higher == (best > mean) and says_mean_higher == (mean > best), (caption, scores)
    assert f"{abs(best - mean):.4f}" in caption or best == mean
    pooling.scroll_into_view_if_needed()
    page.screenshot(path=str((Path(SHOTS) if SHOTS else tmp_path) / f"chunking-pooling-1440-{lang}.png"))
    page.get_by_test_id("stMain").evaluate("el => el.scrollTo(0, 0)")
    page.screenshot(path=str((Path(SHOTS) if SHOTS else tmp_path) / f"chunking-top-1440-{lang}.png"))
