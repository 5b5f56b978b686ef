"""HTML and script payloads in user text stay inert in chromium on every page that shows user text.

Each test types or uploads `<img src=x onerror=alert(1)>` and `<script>alert(2)</script>`, then
checks that the payload is visible as text (tables, hovers, chunk views, search results) and that
nothing ran or became markup: no dialog, no <img src=x>, no injected <script> (iframes included).
The tests share one app (distinct collection names) to keep the browser suite short.
"""

from __future__ import annotations

import csv
import json
import re

from tests.support.browser import (
    IMG,
    SCRIPT,
    app_value,
    assert_inert,
    create_collection,
    hover,
    hover_mark,
    open_expander,
    paste_document,
    rerun_by,
    shot,
    table_cells,
    wait_cell,
    wait_idle,
)
from tests.support.untrusted_server import UntrustedServer

BOTH = (IMG, SCRIPT)


def _in_all(texts: list[str] | str, payloads=BOTH) -> bool:
    joined = " ".join(texts) if isinstance(texts, list) else texts
    return all(p in joined for p in payloads)


def test_instruction_lab_tables_and_heatmap_hovers(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Instructions")
    wait_idle(page)
    queries = page.get_by_role("textbox", name="Queries", exact=True)
    app_value(queries)  # the sample's texts, filled just after the box appears, would replace ours
    queries.fill(f"leave rules {IMG}\nreset a password {SCRIPT}")
    queries.press("Tab")
    docs = page.get_by_role("textbox", name="Documents", exact=True)
    docs.fill(f"Annual leave is 25 days {IMG}\nPasswords reset at the desk {SCRIPT}\nThe canteen opens at noon")
    docs.press("Tab")
    page.get_by_role("button", name="Apply texts").click()
    page.get_by_test_id("stCode").filter(has_text=f"Query:leave rules {IMG}").wait_for(timeout=30_000)
    wait_idle(page)
    open_expander(page, "Every input with its token count")
    preview = page.get_by_test_id("stExpander").filter(has_text="Every input with its token count")
    # Glide keeps an accessible copy of the grid's cells (hidden to the eye, there for screen readers).
    preview.locator("td").filter(has_text=f"at the desk {SCRIPT}").first.wait_for(state="attached", timeout=30_000)
    assert f"Passwords reset at the desk {SCRIPT}" in table_cells(page, preview)

    page.get_by_role("button", name="Compare").click()
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(2).wait_for(timeout=60_000)
    wait_idle(page)
    # Per-query summary and ranking tables show both payloads as cell text (the grids fill their
    # cells after the script ends: wait for them; the open preview's cells hold the queries too).
    grids = page.get_by_test_id("stDataFrame")
    for text in (f"reset a password {SCRIPT}", f"leave rules {IMG}"):
        wait_cell(grids, re.compile(f"^{re.escape(text)}$"))
    wait_cell(grids, re.compile(f"^{re.escape('Passwords reset at the desk <script>')}"))
    cells = table_cells(page)
    assert f"leave rules {IMG}" in cells and f"reset a password {SCRIPT}" in cells
    assert any(c.startswith("Passwords reset at the desk <script>") for c in cells), cells
    # Hovers of the three heatmaps: cell (Q1, D1) and (Q2, D2) name both texts, as text.
    # Long texts are wrapped into lines in the hover, whose spaces at the breaks the label does not keep.
    for i in range(3):
        top_left = _squashed(hover(page, charts.nth(i), 1 / 6, 1 / 4))
        assert _squashed(f"leave rules {IMG}") in top_left, top_left
        assert _squashed(f"Annual leave is 25 days {IMG}") in top_left, top_left
        middle = _squashed(hover(page, charts.nth(i), 1 / 2, 3 / 4))
        assert _squashed(f"reset a password {SCRIPT}") in middle and _squashed(f"at the desk {SCRIPT}") in middle, middle
        assert_inert(page)
    shot(page, tmp_path, "payloads-instructions.png", 2400)
    assert_inert(page)


def test_chunking_token_view_table_and_match(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Chunking")
    wait_idle(page)
    page.get_by_text("Paste", exact=True).click()
    wait_idle(page)
    paragraph = (f"Visitors sign in at reception {IMG} and wear a badge. "
                 f"Laptops are encrypted {SCRIPT} before they leave the office.\n\n")
    area = page.get_by_role("textbox", name="Paste a long text (Ctrl+Enter to apply)")
    area.fill(paragraph * 12)
    area.press("Control+Enter")
    page.locator(".ev-chunks").first.wait_for(timeout=60_000)
    wait_idle(page)
    # Token view: the payload's pieces read back as the payload's characters.
    open_expander(page, "Token view: the first 400 tokens")
    assert _in_all(page.locator(".ev-tokens").first.text_content())
    # The chunk table's "first words" column.
    wait_cell(page.get_by_test_id("stDataFrame").first, IMG)
    assert any(IMG in c for c in table_cells(page)), table_cells(page)[:12]
    # A query carrying the payload; the best chunk and the similarity bars' hover show text.
    query = page.get_by_role("textbox", name="Query", exact=True)
    query.fill(f"badge rules {SCRIPT}")
    query.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Embed chunks and match").click()
    page.get_by_text("Best chunk:").wait_for(timeout=60_000)
    wait_idle(page)
    assert _in_all(page.locator(".ev-chunks").last.inner_text())
    bars = page.get_by_test_id("stPlotlyChart").filter(has_text="Similarity along the document")
    tip = hover_mark(page, bars, 0)
    assert "chunk 1" in tip and IMG in tip, tip
    shot(page, tmp_path, "payloads-chunking.png", 3400)
    assert_inert(page)


def test_search_ingest_results_matched_chunk_and_context(shared_app, page, tmp_path):
    page.goto(f"{shared_app}/Search")
    wait_idle(page)
    create_collection(page, "xss_probe_v1", f"probe {IMG} {SCRIPT}")
    assert page.get_by_text(f"probe {IMG} {SCRIPT}").count() == 1  # the description, as text

    # Paste a document (its name is a payload too) in small chunks, so the match has context.
    paste_document(page, f"{IMG}.txt",
                   f"Visitors sign in at the front reception desk. {IMG}\n\n"
                   f"All laptops use full disk encryption. {SCRIPT}\n\n"
                   "The staff canteen opens at noon every weekday.")
    page.get_by_test_id("stAlert").filter(has_text="xss_probe_v1").filter(has_text="added").wait_for(timeout=60_000)
    wait_idle(page)
    # The count is current right after the ingestion (it once stayed "0 chunks" in a stale label).
    page.get_by_text("4 chunks in xss_probe_v1").wait_for(timeout=10_000)

    page.get_by_role("tab", name="Search").click()
    question = page.get_by_role("textbox", name="Question")
    question.fill(f"laptop disk encryption {SCRIPT} {IMG}")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("Why it matched").wait_for(timeout=60_000)
    wait_idle(page)
    assert f"Query:laptop disk encryption {SCRIPT} {IMG}" in page.get_by_test_id("stCode").last.inner_text()
    wait_cell(page.get_by_test_id("stDataFrame"), f"{IMG}.txt")
    wait_cell(page.get_by_test_id("stDataFrame"), SCRIPT)
    cells = table_cells(page)
    assert f"{IMG}.txt" in cells and any(SCRIPT in c for c in cells), cells
    # The matched chunk with its neighbours as context ("… before", "after …"), all as text.
    box = page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text("Matched chunk")).last
    shown = box.inner_text()
    assert shown.startswith("…") and shown.endswith("…") and _in_all(shown), shown
    assert page.get_by_text(f"of {IMG}.txt").count() >= 1  # the source name in the caption
    tip = hover_mark(page, page.get_by_test_id("stPlotlyChart").filter(has_text="Similarity of each result"), 0)
    assert f"{IMG}.txt" in tip, tip
    shot(page, tmp_path, "payloads-search.png", 3200)
    assert_inert(page)


def test_evaluate_uploaded_texts_and_custom_instruction(shared_app, page, tmp_path):
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    docs = [("d1", f"Leave goes to your manager {IMG}"), ("d2", f"Badges are returned on the last day {SCRIPT}"),
            ("d3", "The canteen opens at noon")]
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs), encoding="utf-8")
    queries.write_text(
        json.dumps({"id": "q1", "text": f"who approves leave {IMG}", "relevant": ["d1"]}) + "\n"
        + json.dumps({"id": "q2", "text": f"return my badge {SCRIPT}", "relevant": ["d2"]}) + "\n",
        encoding="utf-8")
    page.goto(f"{shared_app}/Evaluate")
    wait_idle(page)
    rerun_by(page, lambda: page.get_by_text("Upload my own").click())
    uploads = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    rerun_by(page, lambda: uploads.nth(0).set_input_files(str(corpus)))  # before the second, or it is lost
    uploads.nth(1).set_input_files(str(queries))
    page.get_by_test_id("stMetric").filter(has_text="Documents").filter(has_text="3").wait_for(timeout=30_000)
    wait_idle(page)
    open_expander(page, "Preview the queries")
    preview = page.get_by_test_id("stExpander").filter(has_text="Preview the queries")
    wait_cell(preview, SCRIPT)
    wait_cell(preview, IMG)
    assert _in_all(table_cells(page, preview))

    custom = page.get_by_role("textbox", name="Custom instruction (optional)")
    custom.fill(f"Find the policy {IMG}")
    custom.press("Tab")
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_role("heading", name="3 · Results").wait_for(timeout=60_000)
    wait_idle(page)
    # The task text is the results table's last column: a wide window draws every column.
    page.set_viewport_size({"width": 3000, "height": 1000})
    results = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="configuration"))
    results.locator("td").filter(has_text=f"Find the policy {IMG}").wait_for(state="attached", timeout=10_000)
    page.set_viewport_size({"width": 1500, "height": 1000})
    open_expander(page, "Per query: ndcg@10")
    open_expander(page, "Top documents for one query")
    detail = page.get_by_test_id("stExpander").filter(has_text="Top documents for one query")
    wait_cell(detail, f"d1 · Leave goes to your manager {IMG}")
    per_query = page.get_by_test_id("stExpander").filter(has_text="Per query: ndcg@10")
    wait_cell(per_query, IMG)
    wait_cell(per_query, SCRIPT)
    assert _in_all(table_cells(page, per_query))
    assert any(f"d1 · Leave goes to your manager {IMG}" in c for c in table_cells(page, detail))
    picker = detail.get_by_test_id("stSelectbox")
    shown = picker.text_content() + " ".join(i.input_value() for i in picker.locator("input").all())
    assert f"q1 · who approves leave {IMG}" in shown, shown
    shot(page, tmp_path, "payloads-evaluate.png", 3400)
    assert_inert(page)


def test_clusters_map_hovers_legend_queries_and_selection(shared_app, page, tmp_path):
    table = tmp_path / "visitors.csv"
    with table.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for i in range(6):
            writer.writerow([f"Visitors sign in at reception {IMG} rule {i}", f"front desk {SCRIPT}"])
            writer.writerow([f"Laptops are encrypted {SCRIPT} rule {i}", f"it {IMG}"])
    page.goto(f"{shared_app}/Clusters")
    wait_idle(page)
    page.get_by_text("Upload CSV / JSONL").click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(table))
    page.get_by_text("12 texts, 2 labels").wait_for(timeout=30_000)
    wait_idle(page)
    # The instruction picker was hidden while no file was chosen (an st.stop() run): it must
    # come back showing the instruction the maps will use (it once showed "Choose an option").
    picker = page.get_by_test_id("stForm").get_by_test_id("stSelectbox").filter(has_text="Instruction")
    assert picker.locator("input").input_value() == "Clustering · preset"
    page.get_by_role("button", name="Build maps").click()
    page.get_by_text("How well do the topics separate?").wait_for(timeout=120_000)
    wait_idle(page)
    maps = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer"))
    maps.nth(1).wait_for(timeout=30_000)
    assert maps.nth(1).locator(".gtitle").text_content() == "With instruction: Clustering"
    # Legend entries are the labels, as text.
    legend = " ".join(maps.first.locator(".legendtext").all_text_contents())
    assert f"front desk {SCRIPT}" in legend and f"it {IMG}" in legend, legend
    # Hover a point of each topic: its text and label show as text.
    for trace in range(2):
        tip = hover_mark(page, maps.first, 0, f".scatterlayer .trace:nth-of-type({trace + 1}) path.point")
        assert (f"reception {IMG} rule" in tip and f"front desk {SCRIPT}" in tip) or (
            f"encrypted {SCRIPT} rule" in tip and f"it {IMG}" in tip), tip
        assert_inert(page)
    # A query with a payload, placed on both maps, labelled as text.
    queries = page.get_by_role("textbox", name="Queries to place on both maps (one per line)")
    queries.fill(f"badge {IMG}")
    queries.press("Control+Enter")
    page.locator(".js-plotly-plot .textpoint").first.wait_for(timeout=30_000)
    wait_idle(page)
    assert IMG[:20] in maps.first.locator(".textpoint").first.text_content()
    # Box-select the whole first map: the selected texts are listed in a table.
    area = maps.first.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2, steps=5)
    page.mouse.move(area["x"] + area["width"] - 3, area["y"] + area["height"] - 3, steps=5)
    page.mouse.up()
    selected = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text="cluster"))
    for text in (f"encrypted {SCRIPT}", f"Visitors sign in at reception {IMG} rule 0", f"it {IMG}"):
        wait_cell(selected, text)
    wait_idle(page)
    cells = table_cells(page, selected)
    assert f"Visitors sign in at reception {IMG} rule 0" in cells and f"it {IMG}" in cells, cells
    shot(page, tmp_path, "payloads-clusters.png", 2600)
    assert_inert(page)


def test_markdown_in_names_headers_and_server_answers_stays_text(start_app, page, tmp_path):
    """An outside image, LaTeX, HTML and bold, sent by the server (its model id, its error body) and
    typed or uploaded by a visitor (a model name, an instruction name, a CSV header, a collection
    name): shown as those characters, and the "tracker" (the server itself) never asked for the image."""
    server = UntrustedServer("placeholder")
    payload = server.payload = f"![t]({server.url}/x.png) $x^2$ <b>b</b> **bold**"
    fetched: list[str] = []

    def record(request) -> None:
        fetched.append(request.url)

    page.on("request", record)
    try:
        url = start_app(EMBEDDING_BASE_URL=server.url + "/v1", EMBEDDING_MODEL="fake")
        page.goto(url)
        wait_idle(page, 120_000)
        sidebar = page.get_by_test_id("stSidebar")
        _wait_shown(page, "[data-testid='stSidebar'] [data-testid='stCaptionContainer']", f"{payload} answered")
        # A model name typed by a visitor, on Home.
        open_expander(page, "Settings")
        sidebar.get_by_role("textbox", name="Model").fill(payload)
        sidebar.get_by_role("button", name="Apply").click()
        wait_idle(page)
        _wait_shown(page, "[data-testid='stMarkdown']", f"Configured model: {payload}")
        # The server's error body, in the sidebar.
        server.fail_probe = True
        page.get_by_role("button", name="Test connection").click()
        wait_idle(page)
        _wait_shown(page, "[data-testid='stSidebar'] [data-testid='stAlert']",
                    f'Server said: {{"error": {{"message": "{payload}"}}}}')
        server.fail_probe = False
        _no_markup(page, server, fetched, "payload-home.png", tmp_path)

        # An instruction name in the library's "Saved …" message.
        page.goto(f"{url}/Instructions")
        wait_idle(page)
        open_expander(page, "Manage instructions")
        page.get_by_role("textbox", name="Name", exact=True).fill(payload)
        page.get_by_role("textbox", name="Task description").fill("Find the policy")
        page.get_by_role("button", name="Save instruction").click()
        _wait_shown(page, "[data-testid='stAlert']", f"Saved instruction “{payload}”.")
        _no_markup(page, server, fetched, "payload-instructions.png", tmp_path)

        # CSV headers on the Clusters page.
        table = tmp_path / "headers.csv"
        with table.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["text", payload])
            writer.writerows([f"Visitors sign in at reception {i}", i] for i in range(6))
        page.goto(f"{url}/Clusters")
        wait_idle(page)
        page.get_by_text("Upload CSV / JSONL").click()
        wait_idle(page)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(table))
        page.get_by_text("6 texts, no labels").wait_for(timeout=30_000)
        wait_idle(page)
        page.get_by_test_id("stSelectbox").filter(has_text="Text column").click()
        page.get_by_role("option", name=payload).click()
        _wait_shown(page, "[data-testid='stAlert']", f"Column “{payload}” holds numbers or dates")
        _no_markup(page, server, fetched, "payload-clusters.png", tmp_path)

        # A collection name the store refuses, quoted in its message.
        page.goto(f"{url}/Search")
        wait_idle(page)
        page.get_by_role("textbox", name="Name", exact=True).fill(payload)
        page.get_by_role("button", name="Create collection").click()
        _wait_shown(page, "[data-testid='stAlert']", f"Collection name '{payload}' cannot be used")
        _no_markup(page, server, fetched, "payload-search.png", tmp_path)
    finally:
        page.remove_listener("request", record)  # the tab goes on to other tests
        server.close()


def _wait_shown(page, selector: str, text: str, timeout_ms: int = 30_000) -> None:
    """Wait until an element matching `selector` shows `text`, character for character (white space
    folded; the invisible word joiners that keep addresses from becoming links aside)."""
    page.wait_for_function(
        """([selector, text]) => [...document.querySelectorAll(selector)].some(
               e => e.innerText.replaceAll("\\u2060", "").replace(/\\s+/g, " ").includes(text))""",
        arg=[selector, " ".join(text.split())], timeout=timeout_ms)


def _no_markup(page, server: UntrustedServer, fetched: list[str], name: str, tmp_path) -> None:
    """Nothing of the payload became markup: no image (and no request for it), no formula, no bold
    "bold" or HTML "b"; the screenshot is for a look by hand."""
    shot(page, tmp_path, name, 2000)
    assert page.locator("img[src*='x.png']").count() == 0
    assert page.locator(".katex, math").count() == 0
    assert page.locator("b", has_text=re.compile(r"^b$")).count() == 0
    assert page.locator("strong", has_text=re.compile(r"^bold$")).count() == 0
    assert not server.paths("/x.png") and not [u for u in fetched if "x.png" in u], fetched
    assert_inert(page)


def _squashed(text: str) -> str:
    """Text without whitespace, to find a payload in a wrapped hover label."""
    return "".join(text.split())
