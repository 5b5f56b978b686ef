"""Security properties seen from outside: secrets never reach the page or logs; safe config."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.support.browser import ROOT, download, run_benchmark, wait_idle

SECRET = "sk-test-SECRET-7f3a9c"


def _pages() -> list[str]:
    return [""] + [p.stem.split("_", 1)[1] for p in sorted((ROOT / "pages").glob("*.py"))]


def test_api_key_never_reaches_pages_or_logs(start_app, page, tmp_path):
    url = start_app(EMBEDDING_API_KEY=SECRET)
    for path in _pages():
        page.goto(f"{url}/{path}")
        wait_idle(page, 120_000)
        page.get_by_text("Settings").first.click()  # open the sidebar settings with the key field
        assert SECRET not in page.content(), f"API key rendered on /{path}"
        assert page.locator("input[type='password']").first.input_value() == ""
    # Exports: every download of the Instruction Lab's results and of a benchmark run.
    page.goto(f"{url}/Instructions")
    wait_idle(page, 120_000)
    page.get_by_role("button", name="Compare").click()
    page.locator("[data-testid='stPlotlyChart']").nth(2).wait_for(timeout=90_000)
    wait_idle(page, 120_000)
    exported = _every_download(page)
    page.goto(f"{url}/Benchmark")
    wait_idle(page, 120_000)
    run_benchmark(page, [("Inputs", "medium (256 tokens)"), ("Batch sizes", "32"), ("Batch sizes", "8"),
                         ("Requests in flight", "4"), ("Requests in flight", "2")])
    exported.update(_every_download(page))
    assert {"ranking.csv", "heatmap_with.html", "benchmark.csv", "latency_vs_batch.html"} <= set(exported), exported
    assert all(SECRET not in text for text in exported.values())
    logs = "".join(p.read_text(errors="replace") for p in Path(tmp_path).glob("streamlit-*.log"))
    assert SECRET not in logs


def _every_download(page) -> dict[str, str]:
    """{file name: text} of every download button shown on the page (folded panels left shut)."""
    files = {}
    buttons = page.get_by_test_id("stDownloadButton").locator("button")
    for i in range(buttons.count()):
        if not buttons.nth(i).is_visible() or buttons.nth(i).is_disabled():
            continue
        name, text = download(page, buttons.nth(i))
        files[name] = text
        wait_idle(page, 60_000)
    return files


def test_config_hides_tracebacks_and_keeps_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 200
