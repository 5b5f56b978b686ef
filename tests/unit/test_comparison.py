"""The Instruction Lab's comparison: displayed matrices, rank shifts, margins, label metrics, variants,
its tables and its figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from embedlab import figures
from embedlab.comparison import (
    NO_INSTRUCTION,
    Comparison,
    Variant,
    compare,
    difference,
    input_names,
    input_preview,
    label_metrics,
    labels_frame,
    labels_from_pairs,
    matrix_frame,
    metrics_table,
    mrr_verdict,
    pairs_from_frame,
    query_summary,
    ranking_table,
    reciprocal_ranks,
    rounded,
    top1_margin,
    variant_similarity,
)
from embedlab.figures.instructions import DENSE_COLUMNS, HOVER_LIMIT, HOVER_WIDTH
from embedlab.instructions import DEFAULT_TEMPLATE
from embedlab.significance import paired_test
from embedlab.tokens import count_tokens


def unit(rows):
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_difference_equals_displayed_with_minus_displayed_without():
    rng = np.random.default_rng(1)
    without, with_ = rng.uniform(-1, 1, (20, 30)), rng.uniform(-1, 1, (20, 30))
    diff = difference(with_, without)
    # Every shown difference is exactly the shown "with" minus the shown "without".
    np.testing.assert_array_equal(diff, np.round(rounded(with_) - rounded(without), 4))
    assert np.abs(diff - (with_ - without)).max() <= 1e-4 + 1e-12
    as_text = np.vectorize(lambda x: f"{x:.4f}")
    shown = as_text(rounded(with_)).astype(float) - as_text(rounded(without)).astype(float)
    np.testing.assert_allclose(as_text(diff).astype(float), shown, atol=1e-9)


def test_top1_margin():
    sim = np.array([[0.2, 0.9, 0.6], [0.5, 0.5, 0.1]])
    np.testing.assert_allclose(top1_margin(sim), [0.3, 0.0])
    assert math.isnan(top1_margin(np.array([[0.4]]))[0])


def test_label_metrics_separation_and_mrr():
    sim = np.array([[0.9, 0.2, 0.5], [0.1, 0.3, 0.8], [0.4, 0.4, 0.4]])
    labels = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)  # query 3 unlabelled
    m = label_metrics(sim, labels)
    assert m.queries == 2
    assert m.mean_relevant == pytest.approx((0.9 + 0.1) / 2)
    assert m.mean_irrelevant == pytest.approx((0.2 + 0.5 + 0.3 + 0.8) / 4)
    assert m.separation == pytest.approx(m.mean_relevant - m.mean_irrelevant)
    assert m.mrr == pytest.approx((1 / 1 + 1 / 3) / 2)  # relevant doc ranked 1st, then 3rd


def test_label_metrics_with_several_relevant_and_none():
    sim = np.array([[0.1, 0.7, 0.6]])
    assert label_metrics(sim, np.array([[1, 0, 1]], dtype=bool)).mrr == pytest.approx(0.5)
    empty = label_metrics(sim, np.zeros((1, 3), dtype=bool))
    assert empty.queries == 0 and math.isnan(empty.mrr) and math.isnan(empty.separation)
    with pytest.raises(ValueError, match="do not match"):
        label_metrics(sim, np.zeros((2, 3), dtype=bool))


def test_labels_from_pairs_follow_texts_not_positions():
    labels = labels_from_pairs(["b", "a"], ["x", "y"], [("a", "y"), ("b", "x"), ("gone", "x")])
    np.testing.assert_array_equal(labels, [[True, False], [False, True]])
    assert labels_from_pairs([], ["x"], []).shape == (0, 1)


def test_variants_format_exact_strings_and_share_texts():
    qs, ds = ["q1", "q2"], ["d1"]
    plain = Variant("none")
    asym = Variant("web", "find", DEFAULT_TEMPLATE, symmetric=False)
    sym = Variant("sts", "same", "{task}: {query}", symmetric=True)
    assert plain.query_texts(qs) == qs and asym.document_texts(ds) == ds
    assert asym.query_texts(qs) == ["Instruct: find\nQuery:q1", "Instruct: find\nQuery:q2"]
    assert sym.document_texts(ds) == ["same: d1"]
    texts = list(input_names(qs, ds, [plain, asym, sym]))
    assert texts == ["q1", "q2", "d1", "Instruct: find\nQuery:q1", "Instruct: find\nQuery:q2", "same: q1",
                     "same: q2", "same: d1"]
    rng = np.random.default_rng(2)
    vectors = unit(rng.normal(size=(len(texts), 6)))
    sim = variant_similarity(qs, ds, sym, texts, vectors)
    np.testing.assert_allclose(sim, vectors[[5, 6]] @ vectors[[7]].T, atol=1e-6)


def test_ranking_table_shows_union_of_top_k_with_rank_changes():
    queries, docs = ["q"], ["d1", "d2", "d3", "d4"]
    without = np.array([[0.9, 0.8, 0.1, 0.2]])
    with_ = np.array([[0.5, 0.6, 0.95, 0.1]])
    table = ranking_table(queries, docs, without, with_, labels=np.array([[0, 0, 1, 0]], bool), top_k=2)
    assert list(table["Document"]) == ["d3", "d2", "d1"]  # top 2 with, plus d1 (top 2 without)
    assert list(table["Rank with"]) == [1, 2, 3] and list(table["Rank without"]) == [4, 2, 1]
    assert list(table["Rank change"]) == [3, 0, -2]
    assert list(table["Relevant"]) == [True, False, False]
    assert table["Score change"].iloc[0] == pytest.approx(0.95 - 0.1)


def test_query_summary_margins_and_first_relevant():
    without = np.array([[0.9, 0.8, 0.1]])
    with_ = np.array([[0.5, 0.6, 0.95]])
    s = query_summary(["q"], ["alpha", "beta", "gamma"], without, with_, np.array([[0, 0, 1]], bool)).iloc[0]
    assert s["Top-1 without"] == "D1 · alpha" and s["Top-1 with"] == "D3 · gamma" and s["Top-1 changed"]
    assert s["Margin without"] == pytest.approx(0.1) and s["Margin with"] == pytest.approx(0.35)
    assert s["Margin change"] == pytest.approx(0.25)
    assert (s["First relevant rank without"], s["First relevant rank with"]) == (3, 1)
    assert s["Documents that moved"] == 2  # beta stays 2nd


def test_metrics_table_and_matrix_frame():
    labels = np.array([[1, 0]], bool)
    table = metrics_table([("none", np.array([[0.2, 0.4]])), ("web", np.array([[0.6, 0.1]]))], labels)
    assert list(table["Instruction"]) == ["none", "web"]
    assert list(table["MRR"]) == [0.5, 1.0] and list(table["Separation"]) == [-0.2, 0.5]
    frame = matrix_frame(np.array([[0.123456, -0.00001]]), ["q"], ["doc one", "doc one"])
    assert list(frame.columns) == ["Query", "D1 · doc one", "D2 · doc one"]
    assert frame.iloc[0, 1] == 0.1235 and str(frame.iloc[0, 2]) == "0.0"


def test_input_preview_shows_exact_strings_and_token_counts():
    v = Variant("web", "Find passages", DEFAULT_TEMPLATE, symmetric=False)
    table = input_preview(["what is leave?"], ["Leave is time off."], v)
    assert list(table["Side"]) == ["query", "document"]
    assert table["Sent to the model"][0] == "Instruct: Find passages\nQuery:what is leave?"
    assert table["Tokens"][0] == count_tokens("Instruct: Find passages\nQuery:what is leave?")
    assert table["Instruction tokens"][0] > 0 and table["Instruction tokens"][1] == 0


def test_labels_grid_round_trip():
    qs, ds = ["q1", "q2"], ["a", "b", "c"]
    labels = labels_from_pairs(qs, ds, [("q1", "c"), ("q2", "a")])
    frame = labels_frame(qs, ds, labels)
    assert list(frame.columns) == ["D1", "D2", "D3"] and list(frame.index) == ["Q1 · q1", "Q2 · q2"]
    frame.iloc[1, 1] = True
    assert pairs_from_frame(qs, ds, frame) == [("q1", "c"), ("q2", "a"), ("q2", "b")]
    with pytest.raises(ValueError, match="does not match"):
        pairs_from_frame(qs, ["a"], frame)


# --- figures (AppTest cannot look inside plotly charts, so the builders are tested here) ----------


def test_heatmap_escapes_user_text_everywhere_and_keeps_the_hover_inside_the_chart():
    evil = "<img src=x onerror=alert(1)>"
    short_doc = "word " * 60  # 300 characters: kept whole, wrapped
    long_doc = "word " * 200  # 1,000 characters: cut, so the hover label fits the chart
    chinese = "员工请假需要提前三天在系统中提交申请并由直属主管审批" * 4
    fig = figures.similarity_heatmap(np.array([[0.1, 0.2, 0.3, 0.4]]), [evil], [evil, short_doc, long_doc, chinese],
                                     "t <b>x</b>", 0.0, 1.0)
    trace = fig.data[0]
    assert all("<img" not in s for s in (*trace.x, *trace.y, fig.layout.title.text))
    assert trace.y[0] == "Q1 · &lt;img src=x onerror=alert…"
    assert trace.customdata[0][0][0] == "&lt;img src=x onerror=alert(1)&gt;"
    hovers = [trace.customdata[0][j][1] for j in range(4)]
    assert hovers[1].replace("<br>", " ").split() == short_doc.split() and "<br>" in hovers[1]
    assert hovers[2].endswith("…") and len(hovers[2].replace("<br>", "")) <= HOVER_LIMIT + 1
    for hover in hovers[1:3]:
        assert max(len(line) for line in hover.split("<br>")) <= HOVER_WIDTH
    # Double-width characters: about half as many a line, so the label is no wider.
    assert max(len(line) for line in hovers[3].split("<br>")) <= HOVER_WIDTH // 2 + 2
    assert hovers[3].replace("<br>", "") == chinese
    assert len(set(trace.x)) == 4


def test_a_dense_heatmap_labels_documents_by_number_on_end():
    documents = [f"document number {j} about leave" for j in range(1, DENSE_COLUMNS + 2)]
    fig = figures.similarity_heatmap(np.zeros((2, len(documents))), ["a", "b"], documents, "t", 0.0, 1.0)
    assert list(fig.data[0].x) == [f"D{j}" for j in range(1, len(documents) + 1)]
    assert fig.layout.xaxis.tickangle == -90 and fig.layout.xaxis.tickfont.size == 11
    sparse = figures.similarity_heatmap(np.zeros((2, 3)), ["a", "b"], documents[:3], "t", 0.0, 1.0)
    assert sparse.data[0].x[0].startswith("D1 · document")


def test_heatmap_hover_and_titles_come_in_the_page_language():
    zh = {"Query": "查询", "Document": "文档", "with − without": "加 − 不加"}.get
    fig = figures.difference_heatmap(np.array([[0.1]]), ["q"], ["d"], "差值", gettext=lambda s: zh(s) or s)
    template = fig.data[0].hovertemplate
    assert "<b>查询</b>" in template and "<b>文档</b>" in template and "<b>加 − 不加</b>" in template
    assert fig.data[0].colorbar.title.text == "加 − 不加" and fig.layout.title.text == "差值"


def test_shared_and_diverging_scales():
    a, b = np.array([[0.2, 0.5]]), np.array([[0.1, 0.9]])
    assert figures.shared_range(a, b) == (0.1, 0.9)
    diff = difference(b, a)
    fig = figures.difference_heatmap(diff, ["q"], ["d1", "d2"], "diff", show_query_labels=False)
    t = fig.data[0]
    assert (t.zmin, t.zmid, t.zmax) == (-0.4, 0.0, 0.4) and fig.layout.yaxis.showticklabels is False


def test_comparison_bars_one_bar_per_instruction_per_metric():
    table = metrics_table([("none", np.array([[0.2, 0.4]])), ("<i>web</i>", np.array([[0.6, 0.1]]))],
                          np.array([[1, 0]], bool))
    fig = figures.instruction_comparison_bars(table)
    assert [list(t.y) for t in fig.data] == [[-0.2, 0.5], [0.5, 1.0]]
    assert list(fig.data[0].x) == ["none", "&lt;i&gt;web&lt;/i&gt;"]


def test_input_names_say_what_each_sent_string_is():
    queries, documents = ["leave?", "travel?"], ["Leave is 25 days.", "Travel needs approval."]
    variants = [Variant("No instruction"), Variant("HR", "Find HR policy"), Variant("STS", "Same meaning", symmetric=True)]
    names = input_names(queries, documents, variants)
    assert names["leave?"] == "query 1" and names["Travel needs approval."] == "document 2"
    assert names["Instruct: Find HR policy\nQuery:travel?"] == "query 2 (HR)"
    assert names["Instruct: Same meaning\nQuery:Leave is 25 days."] == "document 1 (STS)"
    zh = {"query {i}": "查询 {i}", "document {i} ({variant})": "文档 {i}（{variant}）"}
    chinese = input_names(queries, documents, variants, gettext=lambda m: zh.get(m, m))
    assert chinese["leave?"] == "查询 1" and chinese["Instruct: Same meaning\nQuery:Leave is 25 days."] == "文档 1（STS）"


# --- the Instruction Lab's comparison --------------------------------------------------------------


def _comparison_inputs():
    queries, documents = ["leave?", "travel?"], ["Leave is 25 days.", "Travel needs approval.", "Canteen at noon."]
    hr, code = Variant("HR", "Find HR policy"), Variant("Code", "Find code")
    texts = list(input_names(queries, documents, [Variant(NO_INSTRUCTION), hr, code]))
    vectors = unit(np.random.default_rng(3).normal(size=(len(texts), 8)))
    return queries, documents, hr, code, texts, vectors


def test_compare_gathers_every_matrix_table_and_figure_of_the_lab():
    queries, documents, hr, code, texts, vectors = _comparison_inputs()
    labels = labels_from_pairs(queries, documents, [("leave?", "Leave is 25 days."), ("travel?", "Travel needs approval.")])
    c = compare(queries, documents, labels, hr, [code, hr], texts, vectors)

    without = rounded(variant_similarity(queries, documents, Variant(NO_INSTRUCTION), texts, vectors))
    with_ = rounded(variant_similarity(queries, documents, hr, texts, vectors))
    np.testing.assert_array_equal(c.without, without)
    np.testing.assert_array_equal(c.with_, with_)
    np.testing.assert_array_equal(c.diff, difference(with_, without))
    assert c.without.shape == (2, 3) and c.instruction == "HR"
    assert list(c.matrices()) == ["without", "with", "difference"]
    assert list(c.matrix_table("difference").columns)[0] == "Query" and c.matrix_table("with").shape == (2, 4)

    # Metrics: baseline, the instruction, then the others, each name once.
    assert list(c.metrics["Instruction"]) == [NO_INSTRUCTION, "HR", "Code"]
    expected = metrics_table([(NO_INSTRUCTION, without), ("HR", with_)], labels)
    assert c.metrics.iloc[:2].equals(expected)
    sep_with, sep_change = c.label_change("Separation")
    assert sep_with == expected["Separation"][1]
    assert sep_change == pytest.approx(expected["Separation"][1] - expected["Separation"][0])

    assert c.summary.equals(query_summary(queries, documents, without, with_, labels))
    assert c.top1_changed == int(c.summary["Top-1 changed"].sum())
    assert c.margin_with == pytest.approx(top1_margin(with_).mean())
    assert c.margin_without == pytest.approx(top1_margin(without).mean())
    assert c.max_top_k == 3
    assert c.ranking(1).equals(ranking_table(queries, documents, without, with_, labels, 1))


def test_compare_without_labels_has_no_metrics_and_unlabelled_tables():
    queries, documents, hr, code, texts, vectors = _comparison_inputs()
    c = compare(queries, documents, np.zeros((2, 3), bool), hr, [code], texts, vectors)
    assert c.labels is None and c.metrics is None and c.label_change("MRR") is None
    assert "Relevant" not in c.ranking(2).columns
    assert "First relevant rank with" not in c.summary.columns


def test_compare_offers_at_most_ten_ranks_and_at_least_one():
    def with_documents(m: int) -> Comparison:
        return Comparison((), tuple(f"d{j}" for j in range(m)), "x", *[np.zeros((0, m))] * 3,
                          None, pd.DataFrame(), None, 0, 0.0, 0.0)

    assert [with_documents(m).max_top_k for m in (1, 4, 30)] == [1, 4, 10]


# --- the verdict: every word decided by the numbers ----------------------------------------------


def _verdict(without: list[float], with_: list[float]) -> str:
    return " ".join(str(m) for m in mrr_verdict(paired_test(without, with_)))


def test_verdict_names_the_instruction_better_when_it_significantly_is():
    test = paired_test([0.5] * 10, [1.0] * 10)
    text = _verdict([0.5] * 10, [1.0] * 10)
    assert text.startswith("With the instruction MRR is significantly higher: 1.0000 against 0.5000 without it")
    assert "a difference of +0.5000" in text and f"(95% CI {test.ci_low:+.4f} to {test.ci_high:+.4f};" in text
    assert f"over 10 labelled queries, p = {test.p_value:.3f})" in text and test.p_value < 0.05
    assert text.endswith("10 of 10 labelled queries rank their first relevant document higher, 0 lower and 0 the same.")


def test_verdict_says_without_is_better_when_the_instruction_significantly_hurts():
    text = _verdict([1.0] * 9 + [0.5], [0.5] * 9 + [0.5])
    assert text.startswith("Without the instruction MRR is significantly higher: 0.9500 against 0.5000 with it")
    assert "a difference of -0.4500" in text and "0 of 10 labelled queries rank" in text and "9 lower and 1 the same" in text
    assert "significantly higher" in text and "No significant" not in text


def test_verdict_says_no_significant_difference_when_the_test_finds_none():
    without, with_ = [1.0, 0.5, 1.0, 0.5, 1.0, 1 / 3], [0.5, 1.0, 1.0, 1.0, 0.5, 1.0]
    test = paired_test(without, with_)
    assert not test.significant and test.diff > 0  # higher with it, yet not significantly
    text = _verdict(without, with_)
    assert text.startswith(f"No significant difference in MRR: {test.mean_b:.4f} with the instruction against "
                           f"{test.mean_a:.4f} without it, a difference of {test.diff:+.4f}")
    assert "significantly higher" not in text and f"p = {test.p_value:.3f}" in text


def test_verdict_when_nothing_moves_or_one_query_is_labelled():
    assert _verdict([0.5, 1.0, 1.0], [0.5, 1.0, 1.0]) == (
        "No difference: each of the 3 labelled queries ranks its first relevant document the same with and "
        "without the instruction (MRR 0.8333).")
    assert _verdict([0.5], [1.0]) == ("MRR is 1.0000 with the instruction and 0.5000 without it: one labelled query "
                                      "is too few for a test.")
    assert "p < 0.001" in _verdict([0.25] * 14, [1.0] * 14)  # 2 / 2^14 sign patterns, sampled


def test_compare_tests_the_reciprocal_ranks_of_the_labelled_queries():
    queries, documents, hr, code, texts, vectors = _comparison_inputs()
    labels = labels_from_pairs(queries, documents, [("leave?", "Canteen at noon."), ("travel?", "Travel needs approval.")])
    c = compare(queries, documents, labels, hr, [code], texts, vectors)
    expected = paired_test(reciprocal_ranks(c.without, labels), reciprocal_ranks(c.with_, labels))
    assert c.mrr_test == expected
    assert c.mrr_test.mean_b == pytest.approx(c.label_change("MRR")[0], abs=1e-4)  # the MRR the page shows
    assert [str(m) for m in c.verdict()] == [str(m) for m in mrr_verdict(expected)]
    unlabelled = compare(queries, documents, np.zeros((2, 3), bool), hr, [], texts, vectors)
    assert unlabelled.mrr_test is None and unlabelled.verdict() == ()
