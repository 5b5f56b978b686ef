"""Bundled labelled query/document sets for the Instruction Lab, and the text-list format.

The sets live in `embedlab/data/instruction_sets/*.json` (original texts written for this
project). Each has queries, documents, an optional suggested instruction and mode, and
`relevant`: for each query, the 1-based numbers of the documents that answer it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

SETS_DIR = Path(__file__).parent / "data" / "instruction_sets"
SEPARATOR = "---"
_SEPARATOR_LINE = re.compile(r"^[ \t]*---[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class SampleSet:
    name: str
    language: str
    description: str
    queries: tuple[str, ...]
    documents: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]  # (query text, relevant document text)
    instruction: str | None = None
    symmetric: bool = False


def _load(path: Path) -> SampleSet:
    raw = json.loads(path.read_text(encoding="utf-8"))
    queries, documents = tuple(raw["queries"]), tuple(raw["documents"])
    relevant = raw.get("relevant", [])
    if len(relevant) not in (0, len(queries)):
        raise ValueError(f"{path.name}: 'relevant' needs one list per query")
    pairs = tuple((queries[i], documents[j - 1]) for i, docs in enumerate(relevant) for j in docs)
    return SampleSet(
        name=raw["name"],
        language=raw.get("language", ""),
        description=raw.get("description", ""),
        queries=queries,
        documents=documents,
        pairs=pairs,
        instruction=raw.get("instruction"),
        symmetric=bool(raw.get("symmetric", False)),
    )


def sample_sets() -> dict[str, SampleSet]:
    """Every bundled set by name, in file-name order."""
    sets = (_load(p) for p in sorted(SETS_DIR.glob("*.json")))
    return {s.name: s for s in sets}


def split_items(text: str) -> list[str]:
    """Texts from a text area: one per line, or, when any line is just `---`, the blocks
    between such lines (so items may span several lines). Blank items are dropped."""
    parts = _SEPARATOR_LINE.split(text) if _SEPARATOR_LINE.search(text) else text.splitlines()
    return [p.strip() for p in parts if p.strip()]


def join_items(items: list[str] | tuple[str, ...]) -> str:
    """The text-area form of `items`, inverse of split_items for stripped, non-empty items."""
    if any("\n" in t for t in items):
        return f"\n{SEPARATOR}\n".join(items)
    return "\n".join(items)
