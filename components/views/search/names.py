"""Display names of the Search page's choices, headers and cells (marked N_, translated where drawn),
and the helpers that draw a table's headers and cells in the session's language."""

from __future__ import annotations

import pandas as pd

from components.i18n import _, tr
from embedlab.messages import N_
from embedlab.stores.base import (
    CALIBRATED,
    SET_BY_HAND,
    UNCALIBRATED,
)

TABS = [N_("Search"), N_("Add documents"), N_("Manage")]  # drawn translated: a tab's value is its label
MODES = {"dense": N_("Dense only (vector store)"), "hybrid": N_("Dense + BM25 + hybrid, one list under the other")}
FUSIONS = {"rrf": N_("reciprocal rank (RRF, k={k})"), "weighted": N_("weighted scores (α · dense + (1 − α) · BM25)")}
INGEST_SOURCES = {"Upload files": N_("Upload files"), "Paste text": N_("Paste text"),
                  "Sample corpus": N_("Sample corpus")}  # the stored values are the English names
STAGES = {"embedding": N_("embedding"), "writing": N_("writing")}  # embedlab.ingest progress stages
THRESHOLD_FROM = {UNCALIBRATED: N_("not calibrated"), CALIBRATED: N_("calibrated in Evaluate"),
                  SET_BY_HAND: N_("set by hand")}
MODE_COLUMNS = ["rank", "from", "dense rank", "bm25 rank", "score", "source", "text"]  # the export has all
# Every column header the page shows, translated where drawn (exports keep the English names).
HEADERS = {
    "rank": N_("rank"), "similarity": N_("similarity"), "above threshold": N_("above threshold"),
    "source": N_("source"), "chunk": N_("chunk"), "text": N_("text"), "rank with": N_("rank with"),
    "rank without": N_("rank without"), "embedding rank": N_("embedding rank"), "move": N_("move"),
    "rerank score": N_("rerank score"), "score": N_("score"), "from": N_("from"), "dense rank": N_("dense rank"),
    "bm25 rank": N_("bm25 rank"), "bm25 score": N_("bm25 score"), "collection": N_("collection"),
    "chunks": N_("chunks"), "model": N_("model"), "dimension": N_("dimension"), "instruction": N_("instruction"),
    "threshold": N_("threshold"), "threshold from": N_("threshold from"), "description": N_("description"),
    "usable now": N_("usable now"), "file": N_("file"), "read as": N_("read as"), "documents": N_("documents"),
}
CELLS = {"yes": N_("yes"), "no": N_("no"), "both": N_("both"), "dense": N_("dense"), "(none)": N_("(none)")}
EVALUATE_PAGE = "pages/5_Evaluate.py"
JUDGE_PAGE = "pages/5_Judge.py"


def translated_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with its headers and its yes/no/origin cells in the session's language."""
    cells = {k: _(v) for k, v in CELLS.items()}
    out = frame.copy()
    for column in ("above threshold", "from", "instruction"):
        if column in out.columns:
            out[column] = out[column].map(lambda v: cells.get(v, v) if isinstance(v, str) else v)
    return out.rename(columns={c: _(HEADERS[c]) for c in out.columns if c in HEADERS})


def collections_shown(table: pd.DataFrame) -> pd.DataFrame:
    out = table.assign(**{"usable now": table["usable now"].map(tr),
                          "threshold from": table["threshold from"].map(lambda k: _(THRESHOLD_FROM.get(k, k)))})
    return translated_table(out)
