"""The app's pages run in Streamlit's AppTest (a page's script, its session and its widgets, no browser)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
HOME = "app.py"
INSTRUCTIONS = "pages/1_Instructions.py"
CHUNKING = "pages/2_Chunking.py"
CLUSTERS = "pages/3_Clusters.py"
SEARCH = "pages/4_Search.py"
EVALUATE = "pages/5_Evaluate.py"
BENCHMARK = "pages/6_Benchmark.py"
SERVER_CHECK = "pages/7_Server_check.py"


def open_page(script: str = HOME, timeout: float = 120) -> AppTest:
    """`script` (a path from the project root, e.g. SEARCH) run once: the page as a user first sees it.

    `timeout` bounds each later run of the page too (a click that embeds or maps takes a while).
    """
    return AppTest.from_file(str(ROOT / script), default_timeout=timeout).run()
