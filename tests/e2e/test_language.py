"""Language in chromium: a Chinese browser gets Chinese on first load, the switch changes it back,
and the choice travels in the URL."""

from __future__ import annotations

import pytest

from tests.support.browser import shot, wait_idle
from tests.support.untranslated import WORDS, code_phrases, data_phrases


def test_a_chinese_browser_gets_chinese_and_the_switch_changes_it_back(zh_page, shared_app, tmp_path):
    page = zh_page
    page.goto(shared_app)
    wait_idle(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("link", name="指令实验室").wait_for(timeout=30_000)
    assert "lang=zh" in page.url
    shot(page, tmp_path, "home-zh.png")

    sidebar.get_by_role("radio", name="English").click()
    sidebar.get_by_role("link", name="Instructions", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    assert "lang=en" in page.url
    assert sidebar.get_by_role("link", name="指令实验室").count() == 0

    # A link with ?lang=zh opens in Chinese even in this (now English) session's browser.
    page.goto(shared_app + "/?lang=zh")
    sidebar.get_by_role("link", name="首页").wait_for(timeout=30_000)


PAGES = ["", "Instructions", "Chunking", "Clusters", "Search", "Evaluate", "Judge", "Benchmark", "Server_check"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_opens_in_chinese_with_no_english_of_the_app(path, zh_page, shared_app, tmp_path):
    """What a Chinese workshop sees first on each page: no English sentence of the app's own code
    (model names, sample texts and numbers are not code literals; the preset task texts are sent to
    the model as written), no error; a screenshot to look at."""
    page = zh_page
    page.goto(f"{shared_app}/{path}?lang=zh")
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="首页").wait_for(timeout=30_000)
    shot(page, tmp_path, f"zh-{path or 'Home'}.png")
    drawn = page.get_by_test_id("stMain").inner_text() + "\n" + page.get_by_test_id("stSidebar").inner_text()
    english = sorted({m.group(0) for m in WORDS.finditer(drawn)} & (code_phrases() - data_phrases()))
    assert english == [], english
