"""The served-model banner in chromium: Qwen3-Embedding-0.6B configured, the stand-in (e5) answering."""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import SHOTS, wait_idle

QWEN = "Qwen/Qwen3-Embedding-0.6B"
STAND_IN = "multilingual-e5-small-q4"


def _banner(page, text: str):
    """The banner (an alert of the main area) showing `text`, once drawn."""
    banner = page.get_by_test_id("stMain").get_by_test_id("stAlert").filter(has_text=text)
    banner.first.wait_for(timeout=30_000)
    wait_idle(page)
    return banner.first


def _shot(page, tmp_path: Path, name: str) -> None:
    """A 1440x900 screenshot of what a visitor first sees, for a look by hand."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.wait_for_timeout(500)
    page.screenshot(path=str(Path(SHOTS) / name if SHOTS else tmp_path / name))


def test_banner_on_every_page_names_the_served_model_and_links_to_server_check(start_app, page, tmp_path):
    url = start_app(EMBEDDING_MODEL=QWEN)
    page.goto(f"{url}/?lang=en")
    banner = _banner(page, "not Qwen3-Embedding-0.6B's")
    assert STAND_IN in banner.inner_text() and QWEN in banner.inner_text()
    assert banner.is_visible()
    assert STAND_IN in page.get_by_test_id("stSidebar").inner_text()  # the sidebar names it too
    _shot(page, tmp_path, "served-home-en.png")

    page.goto(f"{url}/Search?lang=en")
    banner = _banner(page, "not Qwen3-Embedding-0.6B's")
    assert STAND_IN in banner.inner_text() and banner.is_visible()
    _shot(page, tmp_path, "served-search-en.png")
    page.get_by_test_id("stMain").get_by_role("link", name="Server check: what exactly answers").click()
    page.wait_for_url("**/Server_check**", timeout=30_000)
    page.get_by_role("heading", name="Server check").first.wait_for(timeout=30_000)

    page.goto(f"{url}/?lang=zh")
    banner = _banner(page, "这些页面上的数字不是 Qwen3-Embedding-0.6B 的")
    assert STAND_IN in banner.inner_text()
    _shot(page, tmp_path, "served-home-zh.png")
    page.goto(f"{url}/Search?lang=zh")
    _banner(page, "这些页面上的数字不是 Qwen3-Embedding-0.6B 的")
    assert page.get_by_test_id("stMain").get_by_role("link", name="服务器检查：究竟是谁在作答").is_visible()
    _shot(page, tmp_path, "served-search-zh.png")
