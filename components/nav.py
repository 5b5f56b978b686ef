"""The list of pages for the home page, read from pages/ so new pages appear by themselves."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@dataclass(frozen=True)
class PageEntry:
    path: str  # relative to the app root, as st.page_link expects
    title: str
    summary: str


@functools.lru_cache(maxsize=4)
def page_entries(pages_dir: Path = PAGES_DIR) -> tuple[PageEntry, ...]:
    """Each page's title (from its file name) and first docstring line, in menu order.

    Read once per process: every rerun of every page draws the menu from it.
    """
    entries = []
    for file in sorted(pages_dir.glob("*.py")):
        doc = ast.get_docstring(ast.parse(file.read_text(encoding="utf-8"))) or ""
        title = file.stem.split("_", 1)[-1].replace("_", " ")
        entries.append(PageEntry(f"pages/{file.name}", title, doc.strip().splitlines()[0] if doc else ""))
    return tuple(entries)
