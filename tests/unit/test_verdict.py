"""The Evaluate verdict: best configuration, difference to the baseline with its interval and paired
test (cross-checked against ranx), the words following the numbers; the collection a threshold
calibrated on a labelled set is preselected for."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab.evaluation.calibration import holds_set, matching_collection
from embedlab.evaluation.datasets import Document, LabelledSet, Query
from embedlab.evaluation.grid import ConfigResult, EvalConfig
from embedlab.evaluation.metrics import METRICS, mean_metrics, query_metrics
from embedlab.evaluation.report import TEST_COLUMNS, results_json, results_table
from embedlab.evaluation.verdict import (
    BETTER,
    NO_DIFFERENCE,
    ONE_QUERY,
    SINGLE,
    WORSE,
    baseline_tests,
    verdict,
)
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support import ranx_compare


def result(name: str, ndcg: list[float]) -> ConfigResult:
    """A configuration whose per-query scores are `ndcg` on every metric (queries q0, q1, ...)."""
    per_query = {f"q{i}": dict.fromkeys(METRICS, v) for i, v in enumerate(ndcg)}
    return ConfigResult(EvalConfig(instruction=name, instruction_name=name), mean_metrics(per_query), per_query,
                        {q: [] for q in per_query}, 384)


def text(v, labels) -> str:
    return " ".join(str(m) for m in v.sentences(labels))


BASE = [0.40, 0.20, 0.60, 0.40, 0.20, 0.80, 0.40, 0.60, 0.50, 0.30]
UP = [0.80, 0.60, 0.60, 0.80, 0.60, 1.00, 0.40, 1.00, 0.90, 0.70]  # better on 8 queries, never worse


def test_a_significantly_better_configuration_is_named_with_its_interval_and_p_value():
    results = [result("base", BASE), result("up", UP)]
    v = verdict(results, 0)
    labels = [r.config.label for r in results]
    assert (v.best, v.compared, v.outcome) == (1, 1, BETTER)
    assert v.test.p_value < 0.05 and 0 < v.test.ci_low <= v.test.diff <= v.test.ci_high
    sentence = text(v, labels)
    assert sentence.startswith(f"Best: **{labels[1]}**, ndcg@10 {np.mean(UP):.3f}.")
    assert (f"Against the baseline **{labels[0]}**: {v.test.diff:+.3f} (95% confidence interval "
            f"{v.test.ci_low:+.3f} to {v.test.ci_high:+.3f}; paired permutation test over 10 queries, "
            f"p = {v.test.p_value:.4f}).") in sentence
    assert sentence.endswith("Significantly better at the 5% level.")
    # Exports carry the same numbers.
    numbers = v.as_dict(labels)
    assert numbers["difference"] == pytest.approx(np.mean(UP) - np.mean(BASE))
    assert (numbers["ci_low"], numbers["ci_high"], numbers["p_value"]) == (v.test.ci_low, v.test.ci_high,
                                                                           v.test.p_value)
    assert numbers["best"] == labels[1] and numbers["outcome"] == BETTER and numbers["sentence"] == sentence


def test_when_the_baseline_is_best_its_runner_up_is_significantly_worse():
    results = [result("up", UP), result("base", BASE), result("lower", [x - 0.1 for x in BASE])]
    v = verdict(results, 0)
    assert (v.best, v.baseline, v.compared) == (0, 0, 1)  # the runner-up, not the worst
    assert v.outcome == WORSE and v.test.diff < 0 and v.test.ci_high < 0
    sentence = text(v, [r.config.label for r in results])
    assert sentence.startswith("Best: the baseline **up")
    assert "The runner-up **base" in sentence and sentence.endswith("Significantly worse at the 5% level.")


def test_a_small_noisy_difference_is_no_significant_difference():
    noisy = [0.45, 0.15, 0.65, 0.35, 0.25, 0.75, 0.45, 0.55, 0.55, 0.30]  # +0.005 on average, up and down
    v = verdict([result("base", BASE), result("noisy", noisy)], 0)
    assert v.outcome == NO_DIFFERENCE and v.test.p_value >= 0.05
    assert v.test.ci_low < 0 < v.test.ci_high  # the interval holds zero
    assert text(v, ["base", "noisy"]).endswith("No significant difference at the 5% level.")
    assert "significantly" not in text(v, ["base", "noisy"]).lower()


def test_one_query_gives_the_difference_but_no_test_or_interval():
    v = verdict([result("base", [0.2]), result("up", [0.9])], 0)
    assert v.outcome == ONE_QUERY and v.test.p_value is None and v.test.ci_low is None
    assert text(v, ["base", "up"]).endswith("+0.700 on a single query; a test and an interval need two or more "
                                            "queries.")
    table = results_table([result("base", [0.2]), result("up", [0.9])], 0, tests=baseline_tests(
        [result("base", [0.2]), result("up", [0.9])], 0))
    assert [table[1][c] for c in TEST_COLUMNS] == [0.7, None, None, None]


def test_ties_everywhere_are_no_difference_and_the_baseline_stays_best():
    results = [result("base", BASE), result("same", BASE)]
    v = verdict(results, 0)
    assert v.best == 0  # an equal score does not make another configuration "best"
    assert (v.test.diff, v.test.ci_low, v.test.ci_high, v.test.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert (v.test.better, v.test.worse, v.test.ties) == (0, 0, 10)
    assert v.outcome == NO_DIFFERENCE
    single = verdict([result("base", BASE)], 0)
    assert single.outcome == SINGLE and single.compared is None
    assert text(single, ["base"]).endswith("Only one configuration was run: there is nothing to compare it with.")
    with pytest.raises(ValueError):
        verdict(results, 2)


def test_the_json_export_holds_the_verdict():
    import json

    results = [result("base", BASE), result("up", UP)]
    data = LabelledSet("s", (Document("d1", "x"),), tuple(Query(f"q{i}", "q", {"d1": 1}) for i in range(10)))
    labels = [r.config.label for r in results]
    payload = json.loads(results_json(results, data, "m", 0, verdict=verdict(results, 0).as_dict(labels)))
    assert payload["verdict"]["outcome"] == BETTER and payload["verdict"]["p_value"] < 0.05
    assert payload["verdict"]["confidence_level"] == 0.95 and payload["verdict"]["alpha"] == 0.05


def test_p_values_and_ndcg_agree_with_ranx():
    """ranx's Fisher randomization test is the same paired test by random sign flips: with 20,000
    of them its p-value is within sampling error (sd < 0.004) of ours; its nDCG@10 equals ours."""
    rng = np.random.default_rng(7)
    n_queries, n_docs = 12, 30
    qrels = {f"q{i}": {f"d{j}": int(rng.integers(1, 3)) for j in rng.choice(n_docs, 3, replace=False)}
             for i in range(n_queries)}
    runs = {}
    for name, lift in (("a", 0.0), ("b", 1.0), ("c", 0.05)):
        noise = np.random.default_rng(len(name) * 11 + int(lift * 100))
        runs[name] = {q: {f"d{j}": float(noise.random() + (lift * noise.random() if f"d{j}" in qrels[q] else 0))
                          for j in range(n_docs)} for q in qrels}
    per_query = {name: [query_metrics(sorted(run[q], key=run[q].get, reverse=True), qrels[q])["ndcg@10"]
                        for q in qrels] for name, run in runs.items()}
    ranx_ndcg, ranx_p = ranx_compare.compare(qrels, runs, "a", n_permutations=20_000, seed=3)
    results = {name: result(name, scores) for name, scores in per_query.items()}
    for name in runs:
        assert ranx_ndcg[name] == pytest.approx(np.mean(per_query[name]), abs=1e-9)
    p_values = []
    for other in ("b", "c"):
        ours = verdict([results["a"], results[other]], 0).test.p_value
        assert ours == pytest.approx(ranx_p[other], abs=0.015)
        p_values.append(ours)
    assert p_values[0] < 0.05 < p_values[1]  # one significant, one not: both sides of the level agree


def test_the_collection_holding_the_labelled_set_is_the_match(tmp_path):
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    data = LabelledSet("s", (Document("d1", "Badges are returned on the last day. Lost badges cost 20 euros."),
                             Document("d2", "The canteen opens at noon.")), (Query("q1", "badge", {"d1": 1}),))
    vectors = np.eye(2, 4, dtype=np.float32)

    def make(name: str, model: str, sources: list[str], texts: list[str]) -> None:
        store.create(CollectionSpec(name, model, 4))
        store.upsert(name, model, [f"{name}{i}" for i in range(len(texts))], texts,
                     [{"source": s, "chunk": 0} for s in sources], vectors[: len(texts)])

    make("a_other_texts", "m", ["d1", "d2"], ["Something else entirely.", "The canteen opens at noon."])
    make("b_half", "m", ["d1"], ["Lost badges cost 20 euros."])
    make("c_other_model", "other", ["d1", "d2"], ["Badges are returned on the last day.", "The canteen opens at noon."])
    infos = store.list()
    assert not holds_set(store, "a_other_texts", data) and not holds_set(store, "b_half", data)
    assert holds_set(store, "c_other_model", data)
    assert matching_collection(store, infos, data, "m") == "c_other_model"  # the only one holding the set
    make("d_same_model", "m", ["d2", "d1"], ["The canteen opens at noon.", "Lost badges cost 20 euros."])
    assert matching_collection(store, store.list(), data, "m@http://x/v1") == "d_same_model"  # same model first
    store.delete("c_other_model")
    store.delete("d_same_model")
    assert matching_collection(store, store.list(), data, "m") is None


def test_the_bars_give_each_configuration_its_colour_and_zoom_the_axis_saying_so():
    import pandas as pd

    from embedlab import figures
    from embedlab.figures.evaluation import CONFIG_PALETTE, config_colour

    assert len(set(CONFIG_PALETTE)) == 48  # form.MAX_CONFIGS configurations, all distinct
    table = pd.DataFrame([{"configuration": f"c{i}", **dict.fromkeys(METRICS, 0.62 + 0.05 * i)} for i in range(3)])
    bars = figures.eval_metric_bars(table, [config_colour(i) for i in (2, 0, 1)],
                                    gettext=lambda s: s.replace("zoomed", "ZOOMED"))
    assert [t.marker.color for t in bars.data] == [CONFIG_PALETTE[2], CONFIG_PALETTE[0], CONFIG_PALETTE[1]]
    low, high = bars.layout.yaxis.range
    assert 0 < low <= 0.62 - 0.03 and 0.72 + 0.03 <= high <= 1.05
    assert bars.layout.yaxis.title.text == f"mean score, axis ZOOMED: from {low:.2f}"
    near_zero = table.assign(**{m: [0.01, 0.5, 0.9] for m in METRICS})
    plain = figures.eval_metric_bars(near_zero)
    assert tuple(plain.layout.yaxis.range)[0] == 0 and plain.layout.yaxis.title.text == "score (mean over queries)"
