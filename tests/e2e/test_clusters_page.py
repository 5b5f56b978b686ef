"""The Clusters page in chromium: two maps of a small corpus, hover shows a text, a box selection lists texts."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.browser import SHOTS, shot, table_cells, wait_cell, wait_drawn, wait_idle

LABEL_MEASURES = ("Silhouette of labels (cosine)", "Adjusted Rand index (clusters vs labels)",
                  "NMI (clusters vs labels)", "kNN label agreement")


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
    assert "of 4 measures" in body

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
    assert page.locator("[data-testid='stDataFrame']:visible").count() == 2  # measures + selected texts (names folded)
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


def _build_small_maps(page, url: str, per_topic_label: str, build_label: str) -> None:
    page.goto(url)
    wait_idle(page)
    per_topic = page.get_by_role("spinbutton", name=per_topic_label)
    per_topic.fill("8")
    per_topic.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name=build_label).click()
    page.locator(".js-plotly-plot .scatterlayer").nth(1).wait_for(timeout=180_000)
    wait_idle(page)


def _choose(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _screen(page, tmp_path: Path, name: str) -> None:
    """A 1440x900 screenshot of what a laptop shows with the maps scrolled into view."""
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(Path(SHOTS) / name if SHOTS else tmp_path / name))


def test_the_verdict_counts_the_table_and_colour_by_language(shared_app, page, tmp_path):
    page.set_viewport_size({"width": 1440, "height": 900})
    _build_small_maps(page, f"{shared_app}/Clusters?lang=en", "Texts per topic", "Build maps")
    measures = page.get_by_test_id("stDataFrame").first
    wait_cell(measures, "kNN label agreement")
    cells = table_cells(page, measures)
    # Rows of four cells: measure, without, with, change (as drawn, 3 decimals).
    change = {cells[i]: float(cells[i + 3].replace("−", "-")) for i in range(0, len(cells) - 3, 4)
              if cells[i] in LABEL_MEASURES}
    assert len(change) == 4, cells
    up = sum(c >= 0.01 for c in change.values())
    down = sum(c <= -0.01 for c in change.values())
    headline = page.locator("[data-testid='stMarkdownContainer'] strong").filter(has_text="measures").inner_text()
    if up:
        assert f"{up} of 4 measures improve" in headline, (headline, change)
    if down:
        assert (f"{down} get worse" if up else f"{down} of 4 measures") in headline, (headline, change)
    if not up and not down:
        assert "all 4 measures change by less than 0.01" in headline, (headline, change)
    assert ("separate better" in headline) == (not (up and down) and 2 * max(up, down) >= 4), headline

    # Colour by the detected language: both maps' legends name the two scripts.
    _choose(page, "Colour by", "Language (detected)")
    maps = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer"))
    wait_drawn(page, maps.first.locator(".legendtext", has_text="Chinese"))
    for i in range(2):
        legend = set(maps.nth(i).locator(".legendtext").all_text_contents())
        assert {"Chinese", "Latin script (English, …)"} <= legend, legend
    # The stand-in model clusters by language, and the page says so with the two ARIs.
    note = page.get_by_test_id("stAlert").filter(has_text="follow the texts' language").first
    assert re.search(r"ARI 0\.\d\d|ARI 1\.00", note.inner_text())

    # Queries near any edge keep their labels inside the map.
    queries = page.get_by_role("textbox", name="Queries to place on both maps (one per line)")
    queries.fill("年假有几天\nfirewall rules for the VPN\ndef sort_list(items)\n怎么申请退款\nquarterly revenue report")
    queries.press("Control+Enter")
    wait_drawn(page, maps.first.locator(".textpoint"))
    for i in range(2):
        chart = maps.nth(i).locator(".main-svg").first.bounding_box()
        for label in maps.nth(i).locator(".textpoint text").all():
            box = label.bounding_box()
            assert box["x"] >= chart["x"] - 1 and box["x"] + box["width"] <= chart["x"] + chart["width"] + 1, i
            assert box["y"] >= chart["y"] - 1 and box["y"] + box["height"] <= chart["y"] + chart["height"] + 1, i
    # Find texts: the ones containing the word are ringed on both maps; the clusters carry names.
    search = page.get_by_role("textbox", name="Find texts on the maps")
    search.fill("leave")
    search.press("Enter")
    wait_drawn(page, maps.first.locator(".legendtext", has_text="contains “leave”"))
    found = page.get_by_text(re.compile(r"^\d+ of 48 texts contain “leave”\.$"))
    rings = int(found.inner_text().split()[0])
    assert rings >= 1
    for i in range(2):
        assert maps.nth(i).locator(".legendtext", has_text="contains “leave”").count() == 1
        names = maps.nth(i).locator(".annotation-text").all_text_contents()
        assert names and all(n.strip() for n in names), names
    _screen(page, tmp_path, "clusters-en-1440.png")
    shot(page, tmp_path, "clusters-en-full.png", 2800)
    assert not page.dialogs


def test_the_page_in_chinese(shared_app, page, tmp_path):
    page.set_viewport_size({"width": 1440, "height": 900})
    _build_small_maps(page, f"{shared_app}/Clusters?lang=zh", "每个主题的文本数", "生成图")
    headline = page.locator("[data-testid='stMarkdownContainer'] strong").filter(has_text="项指标").inner_text()
    assert re.search(r"\d+ 项指标中", headline) or "全部" in headline, headline
    _choose(page, "着色依据", "语言（自动识别）")
    maps = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer"))
    wait_drawn(page, maps.first.locator(".legendtext", has_text="中文"))
    assert "How well" not in page.inner_text("body")
    _screen(page, tmp_path, "clusters-zh-1440.png")
    shot(page, tmp_path, "clusters-zh-full.png", 2800)
