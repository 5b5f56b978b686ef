"""The home page in chromium against the stand-in server."""

from __future__ import annotations

from tests.support.browser import shot, wait_idle


def test_home_shows_connected_model(shared_app, page, tmp_path):
    page.goto(shared_app)
    wait_idle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("multilingual-e5-small-q4").first.wait_for(timeout=30_000)
    assert "Connected" in sidebar.inner_text()
    assert page.get_by_role("heading", name="Qwen3-Embedding Playground").is_visible()
    shot(page, tmp_path, "home.png", 1000)
