"""Bundled labelled query/document sets for the Instruction Lab, and the text-list format.

The sets live in `embedlab/data/instruction_sets/*.json` (original texts written for this
project). Each has queries, documents, `relevant` (for each query, the 1-based numbers of the
documents that answer it), a mode (`symmetric`), and optionally the name of its suggested
instruction (`instruction`) and up to MAX_ALTERNATIVES further instruction names to compare it
with (`alternatives`); instruction names are those of the presets in embedlab.instructions.
The picker lists the sets in file-name order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedlab.backends import Embedder
from embedlab.comparison import NO_INSTRUCTION, Variant, compare, input_names, labels_from_pairs
from embedlab.instructions import DEFAULT_TEMPLATE, PRESETS

SETS_DIR = Path(__file__).parent / "data" / "instruction_sets"
MAX_ALTERNATIVES = 3  # the Instruction Lab compares up to three further instructions on the labels
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
    alternatives: tuple[str, ...] = ()  # instruction names to compare with `instruction`


def _load(path: Path) -> SampleSet:
    raw = json.loads(path.read_text(encoding="utf-8"))
    queries, documents = tuple(raw["queries"]), tuple(raw["documents"])
    relevant = raw.get("relevant", [])
    if len(relevant) not in (0, len(queries)):
        raise ValueError(f"{path.name}: 'relevant' needs one list per query")
    if any(not 1 <= j <= len(documents) for docs in relevant for j in docs):
        raise ValueError(f"{path.name}: 'relevant' numbers documents from 1 to {len(documents)}")
    alternatives = tuple(raw.get("alternatives", ()))
    if len(alternatives) > MAX_ALTERNATIVES or not all(isinstance(a, str) for a in alternatives):
        raise ValueError(f"{path.name}: 'alternatives' is a list of at most {MAX_ALTERNATIVES} instruction names")
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
        alternatives=alternatives,
    )


def sample_sets() -> dict[str, SampleSet]:
    """Every bundled set by name, in file-name order (the order of the page's picker)."""
    sets = (_load(p) for p in sorted(SETS_DIR.glob("*.json")))
    return {s.name: s for s in sets}


def instruction_variants(sample: SampleSet, template: str = DEFAULT_TEMPLATE) -> list[Variant]:
    """The set's suggested instruction, then its alternatives, as variants in the set's mode.

    Raises KeyError for a name that is not a preset.
    """
    tasks = {p.name: p.task for p in PRESETS}
    names = [n for n in (sample.instruction, *sample.alternatives) if n]
    return [Variant(n, tasks[n], template, sample.symmetric) for n in dict.fromkeys(names)]


def measure(sample: SampleSet, embedder: Embedder, template: str = DEFAULT_TEMPLATE) -> pd.DataFrame:
    """How each configuration the page offers for `sample` ranks its labelled documents.

    One row per configuration: no instruction, then `instruction_variants(sample)`, each
    compared with no instruction by `similarity.compare`. Columns: Instruction, MRR,
    Separation (mean similarity of relevant - irrelevant pairs), Top-1 changed (queries whose
    top document differs from no instruction), Queries.
    """
    labels = labels_from_pairs(sample.queries, sample.documents, sample.pairs)
    if not labels.any():
        raise ValueError(f"{sample.name}: no query has a relevant document, so there is nothing to measure")
    baseline = Variant(NO_INSTRUCTION)
    variants = instruction_variants(sample, template)
    texts = list(input_names(sample.queries, sample.documents, [baseline, *variants]))
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    rows = []
    for variant in [baseline, *variants]:
        result = compare(sample.queries, sample.documents, labels, variant, [], texts, vectors)
        assert result.metrics is not None  # labels.any() was checked above
        [row] = result.metrics[result.metrics["Instruction"] == variant.name].to_dict("records")
        rows.append({"Instruction": variant.name, "MRR": row["MRR"], "Separation": row["Separation"],
                     "Top-1 changed": result.top1_changed, "Queries": len(sample.queries)})
    return pd.DataFrame(rows)


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
