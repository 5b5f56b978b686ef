"""The Evaluate page in chromium against the stand-in server: upload validation (a missing id, a
broken JSONL line), a two-configuration grid with its table, charts and per-query detail."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.browser import SHOTS, open_expander, open_select, rerun_by, shot, wait_cell, wait_idle

UPLOADER = "[data-testid='stFileUploaderDropzoneInput']"
NUMBER = r"[+-]\d\.\d{3}"
VERDICT = re.compile(
    rf"Best: (the baseline )?.+, ndcg@10 \d\.\d{{3}}\. (Against the baseline .+|The runner-up .+ against it): "
    rf"(?P<diff>{NUMBER}) \(95% confidence interval (?P<low>{NUMBER}) to (?P<high>{NUMBER}); paired permutation "
    rf"test over 4 queries, p = (?P<p>\d\.\d{{4}})\)\. ")
ZH_VERDICT = re.compile(
    rf"最佳：.+，ndcg@10 \d\.\d{{3}}。.+：(?P<diff>{NUMBER})（95% 置信区间 (?P<low>{NUMBER}) 至 (?P<high>{NUMBER})；"
    rf"基于 4 个查询的配对置换检验，p = (?P<p>\d\.\d{{4}})）。")


def at_1440(page, tmp_path, name: str, *shown) -> None:
    """A screenshot of what a 1440x900 screen shows, `shown[0]` scrolled into view, for a look."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1440, "height": 900})
    wait_idle(page)
    for locator in shown:
        locator.first.scroll_into_view_if_needed()
        assert locator.first.bounding_box()["width"] > 0
    page.wait_for_timeout(400)
    page.screenshot(path=str(Path(SHOTS) / name if SHOTS else tmp_path / name))
    page.set_viewport_size(size)


def chips_cut(page) -> list[str]:
    """Texts of the multiselect chips whose label is cut (drawn narrower than its text)."""
    return page.evaluate("""() => [...document.querySelectorAll("[data-testid='stMultiSelect'] [data-baseweb='tag'] span")]
        .filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.textContent)""")


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox or multiselect labelled `label`."""
    box = page.get_by_test_id("stSelectbox").or_(page.get_by_test_id("stMultiSelect")).filter(has_text=label)
    open_select(box.first.locator("input"))
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_upload_errors_then_grid_with_table_and_charts(start_app, page, tmp_path):
    # An app of its own: the shared one may hold collections of other tests, and this test checks
    # what the calibration says when there is none.
    page.goto(f"{start_app()}/Evaluate")
    wait_idle(page)
    page.get_by_role("heading", name="Evaluate retrieval quality").wait_for(timeout=30_000)

    # A query pointing at a document that is not in the corpus: named in a clear error.
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "text": "<b>alpha</b>"}) + "\n", encoding="utf-8")
    queries.write_text(json.dumps({"id": "q1", "text": "a", "relevant": ["d1", "d404"]}) + "\n", encoding="utf-8")
    rerun_by(page, lambda: page.get_by_text("Upload my own").click())
    uploads = page.locator(UPLOADER)
    rerun_by(page, lambda: uploads.nth(0).set_input_files(str(corpus)))  # before the second, or it is lost
    uploads.nth(1).set_input_files(str(queries))
    wait_idle(page)
    error = page.get_by_test_id("stAlert").filter(has_text="unknown document id(s) 'd404'")
    error.wait_for(timeout=30_000)
    assert "Queries line 1 (id 'q1')" in error.inner_text()
    shot(page, tmp_path, "evaluate-upload-error.png", shown=(error, page.get_by_role("button", name="Run evaluation")))
    page.set_viewport_size({"width": 1500, "height": 1000})

    # Back to a bundled set, reduced to 4 queries, two instructions: a two-configuration grid.
    page.get_by_text("Bundled set", exact=True).click()
    wait_idle(page)
    _choose(page, "Bundled set", "Engineering handbook (English / mixed)")
    page.get_by_test_id("stMetric").filter(has_text="Documents").filter(has_text="41").wait_for(timeout=30_000)
    wait_idle(page)
    limit = page.get_by_role("spinbutton", name="Evaluate only the first N queries (0 = all)")
    limit.fill("4")
    limit.press("Enter")
    page.get_by_test_id("stMetric").filter(has_text="Queries").filter(has_text="4").wait_for(timeout=30_000)
    wait_idle(page)
    _choose(page, "Dimensions (Matryoshka)", "64")
    page.set_viewport_size({"width": 1440, "height": 900})
    wait_idle(page)
    assert chips_cut(page) == []  # the instruction chips and the others are drawn whole at 1440 px
    at_1440(page, tmp_path, "evaluate-form-1440.png", page.get_by_test_id("stMultiSelect"))
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.get_by_role("button", name="Run evaluation").click()
    wait_idle(page, timeout_ms=120_000)

    page.get_by_role("heading", name="3 · Results").wait_for(timeout=60_000)
    # The verdict names the best configuration and its difference to the baseline with an interval
    # and a test; on 4 queries no difference can reach p < 0.05 (the exact test's least p is 2/16).
    verdict = page.locator(".st-key-eval_verdict")
    verdict.wait_for(timeout=30_000)
    sentence = " ".join(verdict.inner_text().split())
    found = VERDICT.search(sentence)
    assert found, sentence
    diff, low, high, p = (float(found[name]) for name in ("diff", "low", "high", "p"))
    assert low <= diff <= high and p >= 2 / 16
    assert sentence.endswith("No significant difference at the 5% level.")
    at_1440(page, tmp_path, "evaluate-verdict-1440.png", verdict)
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.nth(1).wait_for(timeout=60_000)
    # Grouped bars and the dimension line (the A/B and calibration charts further down are counted apart).
    metric_charts = charts.filter(has_text=re.compile("Retrieval quality per configuration|Embedding size"))
    assert metric_charts.count() == 2
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext").all_text_contents()
    assert any("IT security policy" in t for t in legend) and any("no instruction" in t or "none" in t for t in legend)
    assert page.locator(".xtick text", has_text="ndcg@10").count() >= 1
    table = page.get_by_test_id("stDataFrame").filter(has_text="configuration")
    assert table.count() >= 1
    assert page.get_by_text("embedded now").count() >= 1
    assert page.get_by_test_id("stException").count() == 0
    assert page.dialogs == []
    # Per-query detail: which documents each configuration ranked first, relevant ones marked.
    open_expander(page, "Per query: ndcg@10")
    open_expander(page, "Top documents for one query")
    # In its expander: the A vs B table below has rank columns too.
    detail = page.get_by_test_id("stExpander").filter(has_text="Top documents for one query").get_by_test_id(
        "stDataFrame").filter(has_text="rank")
    detail.wait_for(timeout=30_000)
    shot(page, tmp_path, "evaluate.png",
         shown=(page.get_by_role("heading", name="3 · Results"), charts.nth(0), charts.nth(1), table, detail))

    # A vs B per query (A: the first configuration, B: the last), and the threshold calibration.
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.get_by_role("heading", name="Which queries changed: A vs B").wait_for(timeout=30_000)
    counts = [page.get_by_test_id("stMetric").filter(has_text=name).get_by_test_id("stMetricValue").inner_text()
              for name in ("Fixed by B", "Broken by B", "Same")]
    assert sum(int(c) for c in counts) == 4  # every query is counted once
    dumbbell = charts.filter(has_text="First relevant document per query")
    dumbbell.locator("g.trace").first.wait_for(state="attached", timeout=30_000)
    assert page.get_by_test_id("stDataFrame").filter(has_text="rank A").count() == 1
    page.get_by_role("heading", name="Similarity threshold from the labelled pairs").wait_for(timeout=30_000)
    calibration = page.get_by_test_id("stDataFrame").filter(has_text="suggestion")
    wait_cell(calibration, "best F1")
    assert charts.filter(has_text="Similarity of relevant vs non-relevant pairs").count() == 1
    assert charts.filter(has_text="Precision, recall, F1 by threshold").count() == 1
    assert page.get_by_text("No Search collection exists yet").count() == 1  # said, not an empty picker
    assert page.get_by_test_id("stException").count() == 0
    shot(page, tmp_path, "evaluate-modes-precisions.png", 5200)


def test_evaluate_broken_jsonl_line_is_named(shared_app, page, tmp_path):
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "text": "Badges are returned on the last day."}) + "\n"
                      + '{"id": "d2", "text": "unterminated\n'
                      + json.dumps({"id": "d3", "text": "The canteen opens at noon."}) + "\n", encoding="utf-8")
    queries.write_text(json.dumps({"id": "q1", "text": "return a badge", "relevant": ["d1"]}) + "\n",
                       encoding="utf-8")
    page.goto(f"{shared_app}/Evaluate")
    wait_idle(page)
    rerun_by(page, lambda: page.get_by_text("Upload my own").click())
    rerun_by(page, lambda: page.locator(UPLOADER).nth(0).set_input_files(str(corpus)))
    page.locator(UPLOADER).nth(1).set_input_files(str(queries))
    error = page.get_by_test_id("stAlertContentError").filter(has_text="Line 2")
    error.wait_for(timeout=30_000)
    assert "Corpus file: Line 2 is not valid JSON (Unterminated string starting at column 22)." in error.inner_text()
    assert page.get_by_role("button", name="Run evaluation").is_disabled()
    shot(page, tmp_path, "uploads-broken-jsonl.png", 1400)


def test_the_page_in_chinese_at_1440_shows_the_verdict_and_whole_chips(shared_app, page, tmp_path):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{shared_app}/Evaluate?lang=zh")
    wait_idle(page)
    page.get_by_role("heading", name="评估检索质量").wait_for(timeout=30_000)
    # The default instructions' chips (and the other axes') are drawn whole at 1440 px.
    page.get_by_test_id("stMultiSelect").first.wait_for(timeout=30_000)
    assert chips_cut(page) == []
    _choose(page, "内置标注集", "工程手册（英文 / 中英混合）")
    page.get_by_test_id("stMetric").filter(has_text="41").wait_for(timeout=30_000)
    wait_idle(page)
    limit = page.get_by_role("spinbutton", name="只评估前 N 个查询（0 = 全部）")
    limit.fill("4")
    limit.press("Enter")
    page.get_by_test_id("stMetric").filter(has_text="查询").filter(has_text="4").first.wait_for(timeout=30_000)
    wait_idle(page)
    at_1440(page, tmp_path, "evaluate-form-zh-1440.png", page.get_by_test_id("stMultiSelect"))
    page.get_by_role("button", name="运行评估").click()
    verdict = page.locator(".st-key-eval_verdict")
    verdict.wait_for(timeout=120_000)
    wait_idle(page, timeout_ms=120_000)
    sentence = " ".join(verdict.inner_text().split())
    found = ZH_VERDICT.search(sentence)
    assert found, sentence
    assert float(found["low"]) <= float(found["diff"]) <= float(found["high"])
    assert sentence.endswith("在 5% 水平上无显著差异。")
    assert page.get_by_test_id("stException").count() == 0
    at_1440(page, tmp_path, "evaluate-verdict-zh-1440.png", verdict)
    at_1440(page, tmp_path, "evaluate-charts-zh-1440.png", page.locator("[data-testid='stPlotlyChart']"))
