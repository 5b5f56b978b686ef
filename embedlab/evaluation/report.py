"""An evaluation grid's results as tables and JSON: per configuration, per query, top documents,
and the per-query comparison of two configurations (rank of the first relevant document)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from embedlab.evaluation.datasets import LabelledSet
from embedlab.evaluation.grid import ConfigResult
from embedlab.evaluation.metrics import MAIN_METRIC, METRICS, compare_per_query
from embedlab.significance import CONFIDENCE, PairedTest

# The columns of the paired test against the baseline (on MAIN_METRIC).
DIFF_COLUMN = f"Δ {MAIN_METRIC} vs baseline"
CI_LOW_COLUMN, CI_HIGH_COLUMN = f"{CONFIDENCE:.0%} CI low", f"{CONFIDENCE:.0%} CI high"
P_COLUMN = "p-value"
TEST_COLUMNS = (DIFF_COLUMN, CI_LOW_COLUMN, CI_HIGH_COLUMN, P_COLUMN)


def results_table(results: Sequence[ConfigResult], baseline: int | None = 0,
                  metric: str = MAIN_METRIC, tests: Sequence[PairedTest | None] | None = None,
                  ) -> list[dict[str, object]]:
    """One row per configuration: settings, mean metrics and wins/losses/ties vs `baseline`.

    tests: per configuration, its paired test against the baseline on MAIN_METRIC (see
    verdict.baseline_tests): adds the mean difference, its confidence interval and the p-value
    (empty for the baseline, and the interval and p-value with a single query).
    Settings include mode, precision, dimensions (0 for BM25), bytes per vector and the size of
    1M searched vectors in GB (None for BM25).
    """
    rows = []
    for i, res in enumerate(results):
        # Scores first so they are visible in a narrow table; settings (and the long task text) last.
        row: dict[str, object] = {"configuration": res.config.label}
        row.update({m: round(res.metrics[m], 4) for m in METRICS})
        if tests is not None:
            test = tests[i]
            row[DIFF_COLUMN] = None if test is None else round(test.diff, 4)
            row[CI_LOW_COLUMN] = None if test is None or test.ci_low is None else round(test.ci_low, 4)
            row[CI_HIGH_COLUMN] = None if test is None or test.ci_high is None else round(test.ci_high, 4)
            row[P_COLUMN] = None if test is None or test.p_value is None else round(test.p_value, 4)
        if baseline is not None:
            # The baseline's own counts are left empty (None), not 0 / 0 / n, to avoid misreading.
            cmp = compare_per_query(results[baseline].per_query, res.per_query, metric)
            row.update(cmp if i != baseline else dict.fromkeys(cmp))
            row["baseline"] = i == baseline
        settings = res.config.describe()
        task = settings.pop("instruction_text")
        row.update(settings)
        row["dimensions"] = res.dimensions
        row["bytes per vector"] = res.bytes_per_vector
        gb = res.store_gb_per_million
        row["1M vectors (GB)"] = None if gb is None else round(gb, 3)
        row["instruction_text"] = task
        rows.append(row)
    return rows


def per_query_table(results: Sequence[ConfigResult], dataset: LabelledSet,
                    metric: str = MAIN_METRIC) -> list[dict[str, object]]:
    """One row per query: its text and `metric` under each configuration."""
    rows = []
    for q in dataset.queries:
        row: dict[str, object] = {"query id": q.id, "query": q.text}
        for res in results:
            row[res.config.label] = round(res.per_query[q.id][metric], 4)
        rows.append(row)
    return rows


def top_documents_table(results: Sequence[ConfigResult], dataset: LabelledSet, query_id: str,
                        k: int = 5, preview_chars: int = 60) -> list[dict[str, object]]:
    """Rank by rank, each configuration's document for one query: "✓ id · text" (✓ = relevant)."""
    query = next(q for q in dataset.queries if q.id == query_id)
    texts = {d.id: d.text for d in dataset.documents}
    rows = []
    for rank in range(min(k, len(dataset.documents))):
        row: dict[str, object] = {"rank": rank + 1}
        for res in results:
            doc = res.top_ids[query_id][rank]
            mark = "✓" if query.relevant.get(doc, 0) >= 1 else "✗"
            preview = " ".join(texts[doc].split())[:preview_chars]
            row[res.config.label] = f"{mark} {doc} · {preview}"
        rows.append(row)
    return rows


@dataclass(frozen=True)
class RankChange:
    """One query's first relevant document in configuration A and in B.

    rank_a / rank_b: 1-based rank, None when it is not within the top k (or not retrieved);
    change: rank_a - rank_b with None counted as k + 1 (positive = B ranks it higher);
    label: "fixed" (B ranks it higher), "broke" (lower) or "same".
    """

    query_id: str
    query: str
    rank_a: int | None
    rank_b: int | None
    change: int
    label: str


def compare_ranks(a: ConfigResult, b: ConfigResult, dataset: LabelledSet, k: int = 100) -> list[RankChange]:
    """Per query, the rank of its first relevant document under A and under B, sorted by change:
    the queries B fixed most first, then the unchanged ones, then those B broke (worst last);
    equal changes keep query order. Raises ValueError when A and B cover different queries."""
    if set(a.first_relevant) != set(b.first_relevant) or set(a.first_relevant) != {q.id for q in dataset.queries}:
        raise ValueError("the two results cover different queries (or were computed without full rankings)")

    def cut(rank: int | None) -> int | None:
        return rank if rank is not None and rank <= k else None

    rows = []
    for q in dataset.queries:
        ra, rb = cut(a.first_relevant[q.id]), cut(b.first_relevant[q.id])
        change = (k + 1 if ra is None else ra) - (k + 1 if rb is None else rb)
        rows.append(RankChange(q.id, q.text, ra, rb, change, "fixed" if change > 0 else "broke" if change < 0 else "same"))
    return sorted(rows, key=lambda r: -r.change)  # stable: equal changes stay in query order


def rank_change_table(changes: Sequence[RankChange], k: int = 100) -> list[dict[str, object]]:
    """Rows of `compare_ranks` for display and export: a rank beyond k shows as ">k"."""
    def shown(rank: int | None) -> object:
        return f">{k}" if rank is None else rank

    return [{"query id": c.query_id, "query": c.query, "rank A": shown(c.rank_a), "rank B": shown(c.rank_b),
             "change": c.change, "result": c.label} for c in changes]


def rank_change_counts(changes: Sequence[RankChange]) -> dict[str, int]:
    """How many queries B fixed, broke and left the same."""
    out = {"fixed": 0, "broke": 0, "same": 0}
    for c in changes:
        out[c.label] += 1
    return out


def result_json(result: ConfigResult) -> dict[str, object]:
    """One configuration as the CLI prints it: mean metrics at top level, the configuration (mode,
    precision, rescore...), vector sizes, per-query metrics and first relevant ranks."""
    return {
        **{m: result.metrics[m] for m in METRICS},
        "config": {**asdict(result.config), "dimensions": result.dimensions},
        "bytes_per_vector": result.bytes_per_vector,
        "store_1m_vectors_gb": result.store_gb_per_million,
        "per_query": result.per_query,
        "first_relevant_rank": result.first_relevant,
    }


def results_json(results: Sequence[ConfigResult], dataset: LabelledSet, model_id: str = "",
                 baseline: int | None = 0, *, verdict: dict[str, object] | None = None,
                 served_model: str | None = None) -> str:
    """The whole grid as JSON text (for the page's export); `verdict`: Verdict.as_dict of the run;
    `served_model`: the model the server said answered."""
    payload = {
        "dataset": dataset.name,
        "documents": len(dataset.documents),
        "queries": len(dataset.queries),
        "model": model_id,
        "served_model": served_model,  # what the server said answered (None: it did not say)
        "baseline": results[baseline].config.label if baseline is not None and results else None,
        "verdict": verdict,
        "results": [{"label": r.config.label, **result_json(r)} for r in results],
    }
    if baseline is not None and results:
        for entry, res in zip(payload["results"], results, strict=True):
            entry["vs_baseline"] = compare_per_query(results[baseline].per_query, res.per_query)
    return json.dumps(payload, ensure_ascii=False, indent=2)
