"""Scores of an experiment's configurations from the judgments, their comparison, and how far the
raters agree (the Judge page's results and `python -m embedlab.judge report`).

Definitions (trec_eval's, so that the figures equal trec_eval / ir_measures on the exported qrels
and runs; a test checks it):
- a chunk is relevant when its grade is >= 1; "P@k (grade 2)" counts grade 2 only;
- P@k = relevant chunks in the top k / k (the tuning guide's "share of results judged relevant");
- nDCG@k = DCG@k / IDCG@k with the grade as gain and a log2(rank + 1) discount; the ideal ranking
  sorts every graded chunk of the query (from any configuration or experiment); 0 when no chunk of
  the query is relevant;
- MRR@k = 1 / rank of the first relevant chunk within the top k, else 0;
- an unjudged chunk counts as not relevant (as in trec_eval); judged-coverage@k is the share of a
  configuration's top k that has a grade, and a low one is flagged: its scores are lower bounds;
- means are over the *judged queries* (those with at least one grade), as trec_eval evaluates the
  queries in the qrels; a configuration that retrieved nothing for one scores 0 on it.
Agreement: Cohen's kappa (scikit-learn) for each pair of raters over the pairs both graded, and
Fleiss' kappa over the pairs every person graded (computed from its definition: no installed
library has it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from embedlab.judgments import (
    GRADES,
    LLM,
    PERSON,
    Experiment,
    Judgment,
    config_name,
    raters,
    select_grades,
)
from embedlab.messages import N_, Message
from embedlab.significance import PairedTest, paired_test

METRICS = ("precision", "strict_precision", "ndcg", "mrr")
MAIN_METRIC = "precision"
LOW_COVERAGE = 0.9  # below this share of judged chunks in a top k, the scores are flagged
TIE_TOLERANCE = 1e-9


def metric_label(metric: str, k: int) -> str:
    """"P@5", "P@5 (grade 2)", "nDCG@5", "MRR@5"."""
    return {"precision": f"P@{k}", "strict_precision": f"P@{k} (grade 2)", "ndcg": f"nDCG@{k}",
            "mrr": f"MRR@{k}"}[metric]


def query_scores(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> dict[str, float]:
    """The metrics of one query's ranked chunk keys (best first) given its grades (chunk -> grade)."""
    top = list(ranked[:k])
    gains = [grades.get(c, 0) for c in top]
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    dcg = sum(g / math.log2(r + 1) for r, g in enumerate(gains, start=1))
    first = next((r for r, g in enumerate(gains, start=1) if g >= 1), None)
    return {
        "precision": sum(g >= 1 for g in gains) / k,
        "strict_precision": sum(g >= 2 for g in gains) / k,
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
        "mrr": 1.0 / first if first else 0.0,
    }


@dataclass(frozen=True)
class ConfigScores:
    """One configuration's scores over the judged queries.

    per_query: query text -> metric -> value (judged queries only); judged / retrieved: chunks of
    its top k (over the judged queries) with a grade / in all.
    """

    index: int
    name: str  # "A".."D"
    label: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    judged: int
    retrieved: int

    @property
    def coverage(self) -> float:
        """Judged-coverage@k: the share of its retrieved chunks that have a grade (1.0 when none)."""
        return self.judged / self.retrieved if self.retrieved else 1.0

    @property
    def low_coverage(self) -> bool:
        return self.coverage < LOW_COVERAGE


@dataclass(frozen=True)
class Results:
    """An experiment scored from one source of grades.

    judged_queries: the queries with at least one grade, in experiment order (means are over them).
    """

    experiment: Experiment
    source: str
    grades: dict[tuple[str, str], int]
    judged_queries: tuple[str, ...]
    configs: tuple[ConfigScores, ...]

    @property
    def k(self) -> int:
        return self.experiment.k


def score(experiment: Experiment, runs: Sequence[Mapping[str, Sequence[str]]],
          grades: Mapping[tuple[str, str], int], source: str = "") -> Results:
    """Every configuration's metrics and coverage from `grades` ((query, chunk) -> grade)."""
    per_query_grades: dict[str, dict[str, int]] = {}
    for (query, chunk), grade in grades.items():
        per_query_grades.setdefault(query, {})[chunk] = grade
    judged = tuple(q for q in experiment.queries if q in per_query_grades)
    configs = []
    for c, cfg in enumerate(experiment.configs):
        run = runs[c]
        per_query = {q: query_scores(run.get(q, []), per_query_grades[q], experiment.k) for q in judged}
        tops = [(q, chunk) for q in judged for chunk in list(run.get(q, []))[: experiment.k]]
        means = {m: float(np.mean([pq[m] for pq in per_query.values()])) if per_query else 0.0 for m in METRICS}
        configs.append(ConfigScores(c, config_name(c), cfg.label, means, per_query,
                                    sum(pair in grades for pair in tops), len(tops)))
    return Results(experiment, source, dict(grades), judged, tuple(configs))


def results_from(experiment: Experiment, runs: Sequence[Mapping[str, Sequence[str]]],
                 judgments: Sequence[Judgment], source: str) -> Results:
    """`score` with the grades of `source` (judgments.PEOPLE, LLM_SOURCE or a rater name)."""
    return score(experiment, runs, select_grades(judgments, source), source)


# -- tables ----------------------------------------------------------------------------------
def results_table(results: Results) -> list[dict[str, object]]:
    """One row per configuration: name, its settings, the metrics and judged-coverage@k."""
    k = results.k
    rows = []
    for scores, cfg in zip(results.configs, results.experiment.configs, strict=True):
        row: dict[str, object] = {"configuration": scores.name}
        row.update({metric_label(m, k): round(scores.metrics[m], 4) for m in METRICS})
        row[f"judged-coverage@{k}"] = round(scores.coverage, 4)
        row["low coverage"] = "yes" if scores.low_coverage else "no"
        row.update({"instruction": cfg.instruction_label, "input length": cfg.length_label,
                    "dimensions": cfg.dimensions_label, "mode": cfg.mode, "rerank": "yes" if cfg.rerank else "no"})
        rows.append(row)
    return rows


def guide_table(results: Results) -> list[dict[str, object]]:
    """The tuning guide's table: configuration, instruction, input length, dimensions and
    accuracy (P@k as a percentage), with the retrieval mode and rerank."""
    rows = []
    for scores, cfg in zip(results.configs, results.experiment.configs, strict=True):
        rows.append({
            "configuration": scores.name,
            "instruction": cfg.instruction_label,
            "input length": cfg.length_label,
            "dimensions": cfg.dimensions_label,
            "retrieval": cfg.mode + (" + rerank" if cfg.rerank else ""),
            f"accuracy (P@{results.k})": f"{scores.metrics['precision']:.0%}",
        })
    return rows


def coverage_warnings(results: Results) -> list[Message]:
    """One sentence per configuration whose judged-coverage@k is below LOW_COVERAGE."""
    out = []
    for s in results.configs:
        if s.low_coverage and s.retrieved:
            out.append(Message(N_(
                "{name}: {missing} of the {retrieved} chunks in its top {k} over the judged queries have no grade "
                "(coverage {coverage}); they count as not relevant, so its scores are lower bounds until they are "
                "judged."), {"name": s.name, "missing": s.retrieved - s.judged, "retrieved": s.retrieved,
                             "k": results.k, "coverage": f"{s.coverage:.0%}"}))
    return out


@dataclass(frozen=True)
class QueryComparison:
    query: str
    a: float
    b: float

    @property
    def change(self) -> float:
        return self.b - self.a

    @property
    def label(self) -> str:
        return "B better" if self.change > TIE_TOLERANCE else "B worse" if self.change < -TIE_TOLERANCE else "same"


def compare(results: Results, a: int, b: int, metric: str = MAIN_METRIC) -> tuple[list[QueryComparison], PairedTest]:
    """Per judged query, `metric` under configuration a and b (sorted: B's largest gains first),
    and the paired test of the difference.

    Raises:
        ValueError: no judged query.
    """
    first, second = results.configs[a], results.configs[b]
    rows = [QueryComparison(q, first.per_query[q][metric], second.per_query[q][metric]) for q in results.judged_queries]
    test = paired_test([r.a for r in rows], [r.b for r in rows])
    return sorted(rows, key=lambda r: -r.change), test


def comparison_table(rows: Sequence[QueryComparison], name_a: str, name_b: str) -> list[dict[str, object]]:
    return [{"query": r.query, name_a: round(r.a, 4), name_b: round(r.b, 4), "change": round(r.change, 4),
             "result": r.label.replace("B", name_b)} for r in rows]


def verdict(test: PairedTest, name_a: str, name_b: str, metric: str) -> Message:
    """One sentence saying whether B beats A on `metric` (a label such as "P@5"), from the test."""
    if test.n < 2 or test.p_value is None:
        return Message(N_("{n} judged query so far: judge at least two queries to compare {a} and {b}."),
                       {"n": test.n, "a": name_a, "b": name_b})
    figures = Message(N_(
        "{metric} {mean_b} vs {mean_a} ({diff}, 95% CI {low} to {high}), paired permutation test p = {p}; {b} "
        "better on {better}, worse on {worse}, the same on {ties} of {n} queries"), {
        "metric": metric, "mean_b": f"{test.mean_b:.2f}", "mean_a": f"{test.mean_a:.2f}", "diff": f"{test.diff:+.2f}",
        "low": f"{test.ci_low:+.2f}", "high": f"{test.ci_high:+.2f}", "p": f"{test.p_value:.3g}", "b": name_b,
        "better": test.better, "worse": test.worse, "ties": test.ties, "n": test.n})
    params = {"a": name_a, "b": name_b, "figures": figures, "level": "5%"}  # a placeholder: "% l" reads as printf
    if test.significant and test.diff > 0:
        return Message(N_("{b} is better than {a}: {figures}. The difference is significant at the {level} level."), params)
    if test.significant and test.diff < 0:
        return Message(N_("{b} is worse than {a}: {figures}. The difference is significant at the {level} level."), params)
    return Message(N_("No significant difference between {a} and {b}: {figures}. Judge more queries to tell them "
                      "apart, or they really perform alike."), params)


# -- agreement -------------------------------------------------------------------------------
KAPPA_SCALE = ((0.2, N_("slight")), (0.4, N_("fair")), (0.6, N_("moderate")), (0.8, N_("substantial")),
               (math.inf, N_("almost perfect")))  # translated where shown


def kappa_label(kappa: float | None) -> str:
    """Landis and Koch's words for a kappa: poor (< 0), slight, fair, moderate, substantial, almost perfect."""
    if kappa is None:
        return N_("undefined")
    if kappa < 0:
        return N_("poor")
    return next(word for upper, word in KAPPA_SCALE if kappa <= upper)


def cohen_kappa(first: Sequence[int], second: Sequence[int], weights: str | None = None) -> float | None:
    """Cohen's kappa of two raters' grades of the same items (scikit-learn); None when undefined
    (fewer than two items, or both gave one and the same grade throughout)."""
    from sklearn.metrics import cohen_kappa_score

    if len(first) < 2:
        return None
    if len(set(first) | set(second)) < 2:
        return None  # chance agreement is 1: kappa is 0 / 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(cohen_kappa_score(list(first), list(second), labels=list(GRADES), weights=weights))
    return value if math.isfinite(value) else None


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa (1971) of items rated by the same number of raters.

    Args:
        counts: (n_items, n_categories) how many raters put each item in each category; every row
            sums to the same number of raters m >= 2.
    Returns:
        (P̄ - P̄e) / (1 - P̄e), where P̄ is the mean over items of the share of agreeing rater pairs
        and P̄e the sum of squared category shares; None when undefined (P̄e = 1, or < 2 items).
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 2:
        return None
    m = table.sum(axis=1)
    if not np.all(m == m[0]) or m[0] < 2:
        raise ValueError("every item needs the same number of raters, at least two")
    n_items, raters = table.shape[0], m[0]
    p_item = (np.sum(table * table, axis=1) - raters) / (raters * (raters - 1))
    shares = table.sum(axis=0) / (n_items * raters)
    p_bar, p_exp = float(p_item.mean()), float(np.sum(shares * shares))
    if p_exp >= 1.0:
        return None
    return (p_bar - p_exp) / (1.0 - p_exp)


@dataclass(frozen=True)
class PairAgreement:
    """Two raters over the pairs both graded: raw agreement, Cohen's kappa and its linearly
    weighted form (a 0 vs 2 disagreement counts twice a 0 vs 1)."""

    rater_a: str
    rater_b: str
    items: int
    agreement: float
    kappa: float | None
    weighted_kappa: float | None


@dataclass(frozen=True)
class GroupAgreement:
    """Fleiss' kappa of `raters` over the `items` pairs every one of them graded."""

    raters: tuple[str, ...]
    items: int
    kappa: float | None


def _pair(name_a: str, name_b: str, a: Mapping, b: Mapping) -> PairAgreement:
    common = sorted(set(a) & set(b))
    x, y = [a[p] for p in common], [b[p] for p in common]
    agree = sum(u == v for u, v in zip(x, y, strict=True)) / len(common) if common else 0.0
    return PairAgreement(name_a, name_b, len(common), agree, cohen_kappa(x, y), cohen_kappa(x, y, "linear"))


CONSENSUS = N_("people (median)")  # translated where shown


def agreement(judgments: Sequence[Judgment], pairs: set[tuple[str, str]] | None = None
              ) -> tuple[list[PairAgreement], GroupAgreement | None]:
    """Pairwise agreement of every two raters (people and LLM judges) sharing at least one graded
    pair, each LLM judge against the people's median grade, and Fleiss' kappa of the people.

    Args:
        pairs: only these (query, chunk) pairs (an experiment's pools); all when None.
    """
    by_rater: dict[str, dict[tuple[str, str], int]] = {}
    kinds: dict[str, str] = {}
    for j in judgments:
        if pairs is None or (j.query, j.chunk) in pairs:
            by_rater.setdefault(j.rater, {})[(j.query, j.chunk)] = j.grade
            kinds[j.rater] = j.kind
    names = list(by_rater)
    out = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            found = _pair(first, second, by_rater[first], by_rater[second])
            if found.items:
                out.append(found)
    people = [n for n in names if kinds[n] == PERSON]
    if people:
        consensus = select_grades([j for j in judgments if j.rater in people and
                                   (pairs is None or (j.query, j.chunk) in pairs)])
        for name in (n for n in names if kinds[n] == LLM):
            found = _pair(name, CONSENSUS, by_rater[name], consensus)
            if found.items:
                out.append(found)
    group = None
    if len(people) >= 3:  # two people: Cohen's kappa of the pair says it
        common = set.intersection(*(set(by_rater[n]) for n in people))
        counts = np.zeros((len(common), len(GRADES)), dtype=np.int64)
        for row, pair in enumerate(sorted(common)):
            for name in people:
                counts[row, by_rater[name][pair]] += 1
        group = GroupAgreement(tuple(people), len(common), fleiss_kappa(counts) if len(common) else None)
    return out, group


def agreement_table(pairs: Sequence[PairAgreement]) -> list[dict[str, object]]:
    def shown(kappa: float | None) -> object:
        return None if kappa is None else round(kappa, 3)

    return [{"rater A": p.rater_a, "rater B": p.rater_b, "pairs both graded": p.items,
             "same grade": f"{p.agreement:.0%}", "Cohen's kappa": shown(p.kappa),
             "weighted kappa (linear)": shown(p.weighted_kappa), "reading": kappa_label(p.kappa)} for p in pairs]


def agreement_sentence(group: GroupAgreement | None, pairs: Sequence[PairAgreement],
                       people: Sequence[str] = ()) -> Message:
    """What the agreement figures say, from the figures; `people` names the raters who are people."""
    if group is None and not pairs:
        return Message(N_("Agreement needs two or more raters who graded the same chunks."))
    two = [p for p in pairs if p.rater_a in people and p.rater_b in people]
    if group is None and len(two) == 1:
        p = two[0]
        value = (Message(N_("undefined (one grade only)")) if p.kappa is None else
                 Message(N_("{kappa} ({reading} agreement)"), {"kappa": f"{p.kappa:.2f}",
                                                                "reading": Message(kappa_label(p.kappa))}))
        return Message(N_("Cohen's kappa of {a} and {b} over the {n} chunks both graded: {value}; same grade on "
                          "{same}."), {"a": p.rater_a, "b": p.rater_b, "n": p.items, "value": value,
                                       "same": f"{p.agreement:.0%}"})
    if group is not None and group.kappa is not None:
        return Message(N_("Fleiss' kappa of the {raters} people over the {n} chunks they all graded: {kappa} "
                          "({reading} agreement, Landis and Koch)."),
                       {"raters": len(group.raters), "n": group.items, "kappa": f"{group.kappa:.2f}",
                        "reading": Message(kappa_label(group.kappa))})
    if group is not None:
        return Message(N_("The {raters} people graded {n} chunk(s) in common: too few, or one grade only, for "
                          "Fleiss' kappa."), {"raters": len(group.raters), "n": group.items})
    if not two:
        return Message(N_("One person so far: the table compares the LLM judge with them."))
    return Message(N_("The table compares each pair of raters over the chunks both graded."))


# -- report ----------------------------------------------------------------------------------
def report(results: Results, judgments: Sequence[Judgment], a: int = 0, b: int = 1,
           metric: str = MAIN_METRIC) -> dict[str, object]:
    """Everything the results show, as one JSON-ready dict (the CLI's `report --format json` and
    the page's JSON download): configurations with their metrics, coverage and per-query scores,
    the comparison of configuration a with b on `metric`, and the raters' agreement."""
    exp, k = results.experiment, results.k
    configs = []
    for scores, cfg in zip(results.configs, exp.configs, strict=True):
        configs.append({
            "name": scores.name, "label": scores.label, "instruction": cfg.instruction_label,
            "instruction_text": cfg.instruction, "input_length": cfg.max_tokens, "dimensions": cfg.dimensions,
            "mode": cfg.mode, "rerank": cfg.rerank,
            **{metric_label(m, k): scores.metrics[m] for m in METRICS},
            f"judged-coverage@{k}": scores.coverage, "low_coverage": scores.low_coverage,
            "per_query": scores.per_query,
        })
    payload: dict[str, object] = {
        "collection": exp.collection,
        "experiment": {"id": exp.id, "name": exp.name, "k": k, "model": exp.model, "created_at": exp.created_at},
        "grades_from": results.source,
        "queries": len(exp.queries),
        "judged_queries": len(results.judged_queries),
        "configurations": configs,
        "coverage_warnings": [str(w) for w in coverage_warnings(results)],
    }
    if results.judged_queries and a != b:
        rows, test = compare(results, a, b, metric)
        label = metric_label(metric, k)
        payload["comparison"] = {
            "a": config_name(a), "b": config_name(b), "metric": label, "queries": test.n,
            "mean_a": test.mean_a, "mean_b": test.mean_b, "difference": test.diff,
            "ci95": [test.ci_low, test.ci_high], "p_value": test.p_value, "significant": test.significant,
            "better": test.better, "worse": test.worse, "same": test.ties,
            "verdict": str(verdict(test, config_name(a), config_name(b), label)),
            "per_query": comparison_table(rows, config_name(a), config_name(b)),
        }
    pairs, group = agreement([j for j in judgments if j.query in exp.queries])
    payload["agreement"] = {
        "pairs": agreement_table(pairs),
        "fleiss": None if group is None else {"raters": list(group.raters), "items": group.items, "kappa": group.kappa},
        "summary": str(agreement_sentence(group, pairs, [r for r, k in raters(judgments).items() if k == PERSON])),
    }
    return payload
