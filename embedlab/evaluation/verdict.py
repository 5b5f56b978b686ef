"""The Evaluate page's verdict: the best configuration on the main metric and whether it differs
from the baseline, with a confidence interval and a paired test over queries (embedlab.significance).

Every word of the verdict follows from the numbers: the direction from the sign of the mean
difference, "significantly" only when the permutation test's p-value is below ALPHA, and the
interval as computed. When the baseline itself is the best, its runner-up is tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from embedlab.evaluation.grid import ConfigResult
from embedlab.evaluation.metrics import MAIN_METRIC, TIE_TOLERANCE
from embedlab.messages import N_, Message
from embedlab.significance import ALPHA, CONFIDENCE, PairedTest, paired_test

SINGLE = "single"  # one configuration: nothing to compare
ONE_QUERY = "one query"  # a difference, but no test or interval on one query
BETTER, WORSE, NO_DIFFERENCE = "significantly better", "significantly worse", "no significant difference"

TEST_NAME = ("two-sided paired permutation test of the mean difference over queries (scipy.stats.permutation_test); "
             "percentile bootstrap interval (scipy.stats.bootstrap)")


def versus(baseline: ConfigResult, other: ConfigResult, metric: str = MAIN_METRIC) -> PairedTest:
    """Paired test of `other` against `baseline` on `metric` (diff = other - baseline).

    Raises:
        ValueError: the two results cover different queries.
    """
    if set(baseline.per_query) != set(other.per_query):
        raise ValueError("the two results cover different queries")
    queries = list(baseline.per_query)
    return paired_test([baseline.per_query[q][metric] for q in queries], [other.per_query[q][metric] for q in queries])


def query_scores(results: Sequence[ConfigResult], metric: str = MAIN_METRIC) -> tuple[tuple[float, ...], ...]:
    """(n_configs, n_queries) per-query `metric`, queries in the first result's order."""
    queries = list(results[0].per_query) if results else []
    return tuple(tuple(r.per_query[q][metric] for q in queries) for r in results)


def tests_against(scores: Sequence[Sequence[float]], baseline: int) -> list[PairedTest | None]:
    """Per configuration (rows of `query_scores`), its paired test against row `baseline` (None
    for the baseline itself)."""
    return [None if i == baseline else paired_test(scores[baseline], row) for i, row in enumerate(scores)]


def baseline_tests(results: Sequence[ConfigResult], baseline: int,
                   metric: str = MAIN_METRIC) -> list[PairedTest | None]:
    """Per configuration, its paired test against `baseline` (None for the baseline itself)."""
    return [None if i == baseline else versus(results[baseline], r, metric) for i, r in enumerate(results)]


def best_index(results: Sequence[ConfigResult], baseline: int, metric: str = MAIN_METRIC) -> int:
    """The configuration with the highest mean `metric`; the baseline when it ties the highest
    (no other configuration is called best for an equal score), else the first of equals."""
    top = max(r.metrics[metric] for r in results)
    if results[baseline].metrics[metric] >= top - TIE_TOLERANCE:
        return baseline
    return next(i for i, r in enumerate(results) if r.metrics[metric] >= top - TIE_TOLERANCE)


@dataclass(frozen=True)
class Verdict:
    """The best configuration and the test of a configuration against the baseline.

    best, baseline, compared: indices into the results; compared is the best, or the runner-up
    when the baseline is the best, or None when only one configuration ran; score: the best's
    mean `metric`; test: compared vs baseline (diff = compared - baseline), None without `compared`.
    """

    metric: str
    best: int
    baseline: int
    compared: int | None
    score: float
    test: PairedTest | None

    @property
    def outcome(self) -> str:
        """SINGLE, ONE_QUERY, BETTER, WORSE or NO_DIFFERENCE (compared against the baseline)."""
        if self.test is None:
            return SINGLE
        if self.test.p_value is None:
            return ONE_QUERY
        if not self.test.significant:
            return NO_DIFFERENCE
        return BETTER if self.test.diff > 0 else WORSE

    def sentences(self, labels: Sequence[str]) -> list[Message]:
        """The verdict as translatable sentences; `labels[i]` names configuration i (the caller
        escapes them for where they are shown)."""
        head = (N_("Best: the baseline **{best}**, {metric} {score}.") if self.best == self.baseline
                else N_("Best: **{best}**, {metric} {score}."))
        out = [Message(head, {"best": labels[self.best], "metric": self.metric, "score": f"{self.score:.3f}"})]
        test = self.test
        if test is None or self.compared is None:
            out.append(Message(N_("Only one configuration was run: there is nothing to compare it with.")))
            return out
        names = {"baseline": labels[self.baseline], "compared": labels[self.compared], "diff": f"{test.diff:+.3f}"}
        runner_up = self.compared != self.best
        if test.p_value is None:
            text = (N_("The runner-up **{compared}** against it: {diff} on a single query; a test and an interval "
                       "need two or more queries.") if runner_up else
                    N_("Against the baseline **{baseline}**: {diff} on a single query; a test and an interval "
                       "need two or more queries."))
            out.append(Message(text, names))
            return out
        text = (N_("The runner-up **{compared}** against it: {diff} ({confidence} confidence interval {low} to "
                   "{high}; paired permutation test over {n} queries, p = {p}).") if runner_up else
                N_("Against the baseline **{baseline}**: {diff} ({confidence} confidence interval {low} to {high}; "
                   "paired permutation test over {n} queries, p = {p})."))
        out.append(Message(text, {**names, "confidence": f"{CONFIDENCE:.0%}", "low": f"{test.ci_low:+.3f}",
                                  "high": f"{test.ci_high:+.3f}", "n": test.n, "p": f"{test.p_value:.4f}"}))
        conclusion = {BETTER: N_("Significantly better at the {level} level."),
                      WORSE: N_("Significantly worse at the {level} level."),
                      NO_DIFFERENCE: N_("No significant difference at the {level} level.")}[self.outcome]
        out.append(Message(conclusion, {"level": f"{ALPHA:.0%}"}))
        return out

    def as_dict(self, labels: Sequence[str]) -> dict[str, object]:
        """The verdict's numbers for the exports (English, machine-readable)."""
        test = self.test
        return {
            "metric": self.metric,
            "best": labels[self.best],
            "best_score": self.score,
            "baseline": labels[self.baseline],
            "compared": None if self.compared is None else labels[self.compared],
            "difference": None if test is None else test.diff,
            "ci_low": None if test is None else test.ci_low,
            "ci_high": None if test is None else test.ci_high,
            "confidence_level": CONFIDENCE,
            "p_value": None if test is None else test.p_value,
            "alpha": ALPHA,
            "outcome": self.outcome,
            "queries": None if test is None else test.n,
            "wins_losses_ties": None if test is None else [test.better, test.worse, test.ties],
            "test": TEST_NAME,
            "sentence": " ".join(str(m) for m in self.sentences(labels)),
        }


def verdict(results: Sequence[ConfigResult], baseline: int, metric: str = MAIN_METRIC,
            tests: Sequence[PairedTest | None] | None = None) -> Verdict:
    """The verdict of a grid's results against `baseline` on `metric`.

    tests: `baseline_tests(results, baseline, metric)` when already computed (reused, not redone).
    Raises:
        ValueError: no results, or a baseline index out of range.
    """
    if not results:
        raise ValueError("no results to judge")
    if not 0 <= baseline < len(results):
        raise ValueError(f"baseline {baseline} is not one of the {len(results)} configurations")
    best = best_index(results, baseline, metric)
    score = results[best].metrics[metric]
    if len(results) == 1:
        return Verdict(metric, best, baseline, None, score, None)
    if best != baseline:
        compared = best
    else:  # the baseline is best: test the runner-up against it
        others = [i for i in range(len(results)) if i != baseline]
        compared = max(others, key=lambda i: (results[i].metrics[metric], -i))
    test = tests[compared] if tests is not None else versus(results[baseline], results[compared], metric)
    return Verdict(metric, best, baseline, compared, score, test)
