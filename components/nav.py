"""The list of pages for the home page, read from pages/ so new pages appear by themselves."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
SERVER_CHECK_PAGE = "pages/7_Server_check.py"  # linked from the served-model banner and Home


@dataclass(frozen=True)
class PageEntry:
    path: str  # relative to the app root, as st.page_link expects
    title: str
    summary: str


def _title(file: Path) -> str:
    return file.stem.split("_", 1)[-1].replace("_", " ")


def _summary(tree: ast.Module) -> str:
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc else ""


@functools.lru_cache(maxsize=4)
def page_entries(pages_dir: Path = PAGES_DIR) -> tuple[PageEntry, ...]:
    """Each page's title (from its file name) and first docstring line, in menu order.

    Read once per process: every rerun of every page draws the menu from it.
    """
    entries = []
    for file in sorted(pages_dir.glob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        entries.append(PageEntry(f"pages/{file.name}", _title(file), _summary(tree)))
    return tuple(entries)


def extract_page_texts(fileobj, keywords, comment_tags, options):  # noqa: ARG001 - Babel's signature
    """Babel extraction method (babel.cfg) for app.py and pages/*.py: the menu title made from the
    file name, the docstring's summary line and the title passed to `page.setup`, which are
    translated where they are drawn but are not `_()` calls themselves."""
    tree = ast.parse(fileobj.read().decode("utf-8"))
    path = Path(getattr(fileobj, "name", "app.py"))
    if path.parent.name == "pages":
        yield 1, None, _title(path), []
    if summary := _summary(tree):
        yield 1, None, summary, []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setup"
                and node.args and isinstance(node.args[0], ast.Constant)):
            yield node.lineno, None, node.args[0].value, []
