"""The Clusters page in chromium: two maps of a small corpus, hover shows a text, a box selection lists texts."""

from __future__ import annotations

from tests.support.browser import shot, wait_idle


def test_two_maps_hover_and_box_selection(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Clusters")
    wait_idle(page)
    per_topic = page.get_by_role("spinbutton", name="Texts per topic")
    per_topic.fill("8")
    per_topic.press("Enter")
    wait_idle(page)
    page.get_by_text("48 short texts").wait_for(timeout=30_000)
    page.get_by_role("button", name="Build maps").click()
    page.get_by_text("How well do the topics separate?").wait_for(timeout=180_000)
    wait_idle(page)
    maps = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer"))
    maps.nth(1).wait_for(timeout=30_000)
    assert maps.count() == 2
    for i in range(2):
        assert maps.nth(i).locator("path.point").count() >= 48
    body = page.inner_text("body")
    assert "Without instruction" in body and "With instruction: Clustering" in body
    assert "separate" in body or "little difference" in body

    queries = page.get_by_role("textbox", name="Queries to place on both maps (one per line)")
    queries.fill("<b>年假有几天</b>")
    queries.press("Control+Enter")
    wait_idle(page)
    page.locator(".js-plotly-plot .textpoint").first.wait_for(timeout=30_000)
    assert "<b>年假有几天</b>" in maps.first.locator(".textpoint").first.text_content()  # escaped, shown as text

    page.set_viewport_size({"width": 1500, "height": 2200})
    wait_idle(page)
    first = maps.first
    first.scroll_into_view_if_needed()
    point = first.locator(".scatterlayer path.point").first
    point.hover(force=True)
    hover = first.locator(".hoverlayer .hovertext")
    hover.first.wait_for(timeout=10_000)
    shown = hover.first.text_content()
    topics = ("HR policy", "IT security", "Customer service", "Code", "Finance", "Product docs")
    assert len(shown) > 20 and any(topic in shown for topic in topics)  # a text and its label

    # Box-select the whole plot area of the first map: the selected texts are listed.
    area = first.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2, steps=5)
    page.mouse.move(area["x"] + area["width"] - 3, area["y"] + area["height"] - 3, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="Download CSV").nth(1).wait_for(timeout=30_000)
    wait_idle(page)
    assert "Use the box or lasso tool" not in page.inner_text("body")
    assert page.locator("[data-testid='stDataFrame']").count() == 2  # measures + selected texts
    selected = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="cluster"))
    selected.locator("td").filter(has_text="cluster").first.wait_for(state="attached", timeout=30_000)
    # Every selected row names a text of the first map and a found cluster.
    rows = selected.locator("tbody tr")
    assert rows.count() >= 1
    assert all("Without instruction" in r and "cluster" in r for r in rows.all_inner_texts())
    # Both maps and the table are drawn, with a size, in the screenshot kept for a look.
    for element in (maps.nth(0), maps.nth(1), selected):
        box = element.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100
    shot(page, tmp_path, "clusters.png", 1000)
    assert not page.dialogs
