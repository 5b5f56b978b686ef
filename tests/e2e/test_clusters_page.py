"""The Clusters page in chromium: two maps of a small corpus, hover shows a text, a box selection lists texts."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import SHOTS, open_select, shot, table_cells, wait_cell, wait_drawn, wait_idle

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
    # Pick the first text in the list: its neighbours, in Chinese.
    picker = page.get_by_test_id("stSelectbox").filter(has_text="选取一条文本").locator("input")
    picker.scroll_into_view_if_needed()
    open_select(picker)
    page.get_by_role("option").nth(1).click()
    wait_drawn(page, maps.first.locator(".legendtext", has_text="选取的文本"))
    page.get_by_text(re.compile(r"^10 个最近邻中有 \d+ 个在加指令后保持不变。$")).wait_for(timeout=10_000)
    assert "neighbours" not in page.inner_text("body")
    shot(page, tmp_path, "clusters-zh-full.png", 3400)


# Each trace of a drawn map as plotly holds it: name, points, rows (customdata) and the points'
# pixel positions inside the plot area; the texts' opacity.
MAP_TRACES = """gd => {
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    return gd._fullData.map(t => ({
        name: t.name, x: Array.from(t.x), y: Array.from(t.y),
        rows: t.customdata ? Array.from(t.customdata) : null,
        px: Array.from(t.x).map(v => xa.d2p(v)), py: Array.from(t.y).map(v => ya.d2p(v)),
        opacity: t.marker ? t.marker.opacity : null,
    }));
}"""


def _texts(traces: list[dict]) -> dict[int, dict]:
    """Row -> {"x", "y", "px", "py"} of every text on a map (traces whose rows are >= 0)."""
    found = {}
    for t in traces:
        if t["rows"] and min(t["rows"]) >= 0:
            for i, row in enumerate(t["rows"]):
                found[row] = {k: t[k][i] for k in ("x", "y", "px", "py")}
    return found


def _rows_under(traces: list[dict], name: str) -> list[int]:
    """The texts a marking trace (by legend name) sits on, in its order."""
    [mark] = [t for t in traces if t["name"] == name]
    where = {(p["x"], p["y"]): row for row, p in _texts(traces).items()}
    return [where[xy] for xy in zip(mark["x"], mark["y"], strict=True)]


def test_a_selection_shows_on_both_maps_and_a_clicked_point_gets_its_neighbours(shared_app, page, tmp_path):
    page.set_viewport_size({"width": 1500, "height": 2200})
    _build_small_maps(page, f"{shared_app}/Clusters?lang=en", "Texts per topic", "Build maps")
    maps = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer"))
    first, second = maps.nth(0), maps.nth(1)
    first.scroll_into_view_if_needed()
    before = _texts(first.evaluate(MAP_TRACES))

    # Box-select the left part of the first map.
    area = first.locator(".nsewdrag").first.bounding_box()
    cut = area["width"] * 0.55
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + cut / 2, area["y"] + area["height"] / 2, steps=5)
    page.mouse.move(area["x"] + cut, area["y"] + area["height"] - 3, steps=5)
    page.mouse.up()
    name = "selected on “Without instruction”"
    wait_drawn(page, second.locator(".legendtext", has_text=name))
    # The texts inside the box (by their pixel position then) are the ones ringed on both maps.
    inside = {r for r, p in before.items() if 3 < p["px"] < cut and 3 < p["py"] < area["height"] - 3}
    borderline = {r for r, p in before.items() if abs(p["px"] - cut) < 2}
    on_first, on_second = _rows_under(first.evaluate(MAP_TRACES), name), _rows_under(second.evaluate(MAP_TRACES), name)
    assert on_first == on_second and len(on_first) >= 2
    assert set(on_first) - borderline == inside - borderline
    # The rest is dimmed on the other map, and the table lists the same number of texts.
    assert {t["opacity"] for t in second.evaluate(MAP_TRACES) if t["rows"] and min(t["rows"]) >= 0} == {0.25}
    page.get_by_text(f"{len(on_first)} texts selected on “Without instruction”").wait_for(timeout=10_000)
    selected = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="map"))
    wait_cell(selected, "Without instruction")  # the grid draws only the rows in view: the caption counts
    shot(page, tmp_path, "clusters-linked-selection.png", 2200)

    # Click a text on the second map in Pan mode (a click selects one point there): its neighbours.
    second.scroll_into_view_if_needed()
    second.hover()
    second.locator(".modebar-btn[data-title='Pan']").click()
    texts = _texts(second.evaluate(MAP_TRACES))

    def room(row: int) -> float:  # pixels to the nearest other text: click where no other point is near
        p = texts[row]
        return min((p["px"] - q["px"]) ** 2 + (p["py"] - q["py"]) ** 2 for r, q in texts.items() if r != row)

    row = max(texts, key=room)
    area = second.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(area["x"] + texts[row]["px"], area["y"] + texts[row]["py"])
    wait_drawn(page, second.locator(".legendtext", has_text="picked text"))
    for chart in (first, second):
        traces = chart.evaluate(MAP_TRACES)
        assert _rows_under(traces, "picked text") == [row]
        assert len(_rows_under(traces, "its 10 nearest neighbours")) == 10
    page.get_by_text(re.compile(r"^\d+ of 10 neighbours are the same with the instruction\.$")).wait_for(timeout=10_000)
    tables = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="rank"))
    expect(tables).to_have_count(2, timeout=10_000)  # glide draws its header after the run
    for i in range(2):
        expect(tables.nth(i).locator("tbody tr")).to_have_count(10, timeout=10_000)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Pick a text")
    assert picker.locator("input").input_value().startswith(f"{row + 1}. ")
    # The selection gave way to the pick.
    assert second.locator(".legendtext", has_text=name).count() == 0
    shot(page, tmp_path, "clusters-neighbours.png", 2800, shown=[tables.nth(1)])
    assert not page.dialogs
