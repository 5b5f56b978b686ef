"""The Instruction Lab's comparison: no instruction against an instruction on the same queries and
documents (similarity matrices at display precision, rank shifts, top-1 margins, label metrics and
the tables the page shows).

Conventions: `n` queries, `m` documents; embeddings are float32 (k, dim) with L2-normalised
rows, so cosine similarity is a dot product. `sim[i, j]` is the similarity of query i and
document j. Labels are boolean (n, m) arrays: `labels[i, j]` = document j answers query i.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embedlab.instructions import DEFAULT_TEMPLATE, format_query
from embedlab.messages import N_, Message
from embedlab.ranking import cosine_matrix, rank_order, ranks, reciprocal_rank
from embedlab.significance import PairedTest, paired_test
from embedlab.text import short_labels, shorten
from embedlab.tokens import count_tokens

DISPLAY_DECIMALS = 4  # scores are shown, exported and differenced at this precision


# --- Matrices ------------------------------------------------------------------------------------


def rounded(sim: np.ndarray, decimals: int = DISPLAY_DECIMALS) -> np.ndarray:
    """`sim` at display precision (+0.0 turns -0.0 into 0.0 for clean CSVs)."""
    return np.round(np.asarray(sim, dtype=np.float64), decimals) + 0.0


def difference(with_: np.ndarray, without: np.ndarray, decimals: int = DISPLAY_DECIMALS) -> np.ndarray:
    """with - without, computed from the displayed (rounded) values so that every shown
    difference is exactly the shown "with" minus the shown "without". Shapes (n, m)."""
    return rounded(rounded(with_, decimals) - rounded(without, decimals), decimals)


# --- Rankings ------------------------------------------------------------------------------------


def top1_margin(sim: np.ndarray) -> np.ndarray:
    """margin[i] = best score - second-best score for query i (NaN with fewer than 2 documents).

    A larger margin means the top answer stands out more clearly. Returns float64 (n,).
    """
    sim = np.asarray(sim, dtype=np.float64)
    if sim.shape[1] < 2:
        return np.full(sim.shape[0], np.nan)
    top2 = -np.sort(-sim, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


# --- Label metrics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelMetrics:
    """How well the similarities match relevance labels.

    Attributes:
        mean_relevant: mean similarity over labelled (query, document) pairs.
        mean_irrelevant: mean similarity over the other pairs of the labelled queries.
        separation: mean_relevant - mean_irrelevant (higher = relevant pairs stand out more).
        mrr: mean reciprocal rank of the first relevant document, over labelled queries.
        queries: how many queries have at least one relevant document.
    """

    mean_relevant: float
    mean_irrelevant: float
    separation: float
    mrr: float
    queries: int


def reciprocal_ranks(sim: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """rr[k] = 1 / rank of the first relevant document of the k-th labelled query (n_labelled,).

    `sim` and `labels` are (n, m); queries without a relevant document are left out.
    """
    sim = np.asarray(sim, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    labelled = labels.any(axis=1)
    s, lab = sim[labelled], labels[labelled]
    return np.array([reciprocal_rank(row_labels[row_order]) for row_labels, row_order in zip(lab, rank_order(s), strict=True)],
                    dtype=np.float64)


def label_metrics(sim: np.ndarray, labels: np.ndarray) -> LabelMetrics:
    """Separation and MRR of `sim` (n, m) against boolean `labels` (n, m).

    Queries without any relevant document are left out of every figure (they say nothing
    about ranking); all figures are NaN when no query is labelled.
    """
    sim = np.asarray(sim, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if sim.shape != labels.shape:
        raise ValueError(f"labels {labels.shape} do not match similarities {sim.shape}")
    labelled = labels.any(axis=1)
    if not labelled.any():
        nan = float("nan")
        return LabelMetrics(nan, nan, nan, nan, 0)
    s, lab = sim[labelled], labels[labelled]
    mean_rel = float(s[lab].mean())
    mean_irr = float(s[~lab].mean()) if (~lab).any() else float("nan")
    mrr = float(reciprocal_ranks(sim, labels).mean())
    return LabelMetrics(mean_rel, mean_irr, mean_rel - mean_irr, mrr, int(labelled.sum()))


def labels_from_pairs(
    queries: Sequence[str], documents: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> np.ndarray:
    """Boolean (n, m) labels from (query text, document text) pairs; unknown pairs are ignored.

    Pairs are keyed by text, not position, so labels survive reordering and edits elsewhere.
    """
    wanted = {(q, d) for q, d in pairs}
    return np.array([[(q, d) in wanted for d in documents] for q in queries], dtype=bool).reshape(
        len(queries), len(documents)
    )


# --- Instruction variants and the whole comparison ----------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of embedding a query/document set.

    Attributes:
        name: shown in tables and charts.
        task: the instruction; None or blank = no instruction.
        template: how task and text combine (validated by the caller).
        symmetric: instruct documents too (STS, clustering), not only queries.
    """

    name: str
    task: str | None = None
    template: str = DEFAULT_TEMPLATE
    symmetric: bool = False

    def query_texts(self, queries: Sequence[str]) -> list[str]:
        """The exact strings sent to the model for the queries."""
        return [format_query(self.task or "", q, self.template) for q in queries]

    def document_texts(self, documents: Sequence[str]) -> list[str]:
        """The exact strings sent to the model for the documents."""
        if not self.symmetric:
            return list(documents)
        return [format_query(self.task or "", d, self.template) for d in documents]


def input_names(queries: Sequence[str], documents: Sequence[str], variants: Sequence[Variant],
                gettext: Callable[[str], str] = str) -> dict[str, str]:
    """Every distinct string the variants need, in first-seen order, with what it stands for
    (for messages, in the language of `gettext`): {text: "query 2 (HR policy)"}.

    A text sent as it is is named without a variant ("document 3"); the first variant that
    needs a string names it.
    """
    names: dict[str, str] = {}
    for v in variants:
        variant = gettext(v.name) if v.name == NO_INSTRUCTION else v.name
        for (plain_name, named), raw, sent in (
            ((N_("query {i}"), N_("query {i} ({variant})")), queries, v.query_texts(queries)),
            ((N_("document {i}"), N_("document {i} ({variant})")), documents, v.document_texts(documents)),
        ):
            for i, (plain, text) in enumerate(zip(raw, sent, strict=True), start=1):
                if text not in names:
                    names[text] = (gettext(plain_name).format(i=i) if text == plain
                                   else gettext(named).format(i=i, variant=variant))
    return names


def variant_similarity(
    queries: Sequence[str], documents: Sequence[str], variant: Variant, texts: Sequence[str], vectors: np.ndarray
) -> np.ndarray:
    """sim (n, m) for `variant`, looking vectors up by exact text.

    Args:
        texts: the strings that were embedded (the keys of input_names), length k.
        vectors: float32 (k, dim), row i is the embedding of texts[i].
    """
    row = {t: i for i, t in enumerate(texts)}
    q = vectors[[row[t] for t in variant.query_texts(queries)]]
    d = vectors[[row[t] for t in variant.document_texts(documents)]]
    return cosine_matrix(q, d)


def ranking_table(
    queries: Sequence[str],
    documents: Sequence[str],
    sim_without: np.ndarray,
    sim_with: np.ndarray,
    labels: np.ndarray | None = None,
    top_k: int = 5,
) -> pd.DataFrame:
    """Per query, the documents in the top `top_k` without or with the instruction.

    One row per (query, document), ordered by query then rank with the instruction. Columns:
    Query #, Query, Rank with, Rank without, Rank change (positive = moved up), Document #,
    Document, Score with, Score without, Score change, and Relevant when labels are given.
    """
    r_with, r_without = ranks(sim_with), ranks(sim_without)
    rows = []
    for i, q in enumerate(queries):
        shown = np.flatnonzero((r_with[i] <= top_k) | (r_without[i] <= top_k))
        for j in sorted(shown, key=lambda j: r_with[i, j]):
            row = {
                N_("Query #"): i + 1,
                N_("Query"): q,
                N_("Rank with"): int(r_with[i, j]),
                N_("Rank without"): int(r_without[i, j]),
                N_("Rank change"): int(r_without[i, j] - r_with[i, j]),
                N_("Document #"): int(j) + 1,
                N_("Document"): documents[j],
                N_("Score with"): round(float(sim_with[i, j]), DISPLAY_DECIMALS),
                N_("Score without"): round(float(sim_without[i, j]), DISPLAY_DECIMALS),
                N_("Score change"): round(
                    round(float(sim_with[i, j]), DISPLAY_DECIMALS) - round(float(sim_without[i, j]), DISPLAY_DECIMALS),
                    DISPLAY_DECIMALS,
                ),
            }
            if labels is not None:
                row[N_("Relevant")] = bool(labels[i, j])
            rows.append(row)
    return pd.DataFrame(rows)


def query_summary(
    queries: Sequence[str],
    documents: Sequence[str],
    sim_without: np.ndarray,
    sim_with: np.ndarray,
    labels: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per query: top-1 document without and with, top-1 margins and their change,
    and (with labels) the rank of the first relevant document each way."""
    r_with, r_without = ranks(sim_with), ranks(sim_without)
    m_with, m_without = top1_margin(sim_with), top1_margin(sim_without)
    rows = []
    for i, q in enumerate(queries):
        top_w, top_wo = int(np.argmin(r_with[i])), int(np.argmin(r_without[i]))
        row = {
            N_("Query #"): i + 1,
            N_("Query"): q,
            N_("Top-1 without"): f"D{top_wo + 1} · {shorten(documents[top_wo], 40)}",
            N_("Top-1 with"): f"D{top_w + 1} · {shorten(documents[top_w], 40)}",
            N_("Top-1 changed"): top_w != top_wo,
            N_("Margin without"): round(float(m_without[i]), DISPLAY_DECIMALS),
            N_("Margin with"): round(float(m_with[i]), DISPLAY_DECIMALS),
            N_("Margin change"): round(float(m_with[i] - m_without[i]), DISPLAY_DECIMALS),
            N_("Documents that moved"): int((r_with[i] != r_without[i]).sum()),
        }
        if labels is not None:
            rel = np.flatnonzero(labels[i])
            row[N_("First relevant rank without")] = int(r_without[i, rel].min()) if rel.size else None
            row[N_("First relevant rank with")] = int(r_with[i, rel].min()) if rel.size else None
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_table(named_sims: Sequence[tuple[str, np.ndarray]], labels: np.ndarray) -> pd.DataFrame:
    """Label metrics for each (variant name, sim (n, m)), one row each, in the given order."""
    rows = []
    for name, sim in named_sims:
        m = label_metrics(sim, labels)
        rows.append(
            {
                N_("Instruction"): name,
                N_("Mean sim. relevant"): round(m.mean_relevant, DISPLAY_DECIMALS),
                N_("Mean sim. irrelevant"): round(m.mean_irrelevant, DISPLAY_DECIMALS),
                N_("Separation"): round(m.separation, DISPLAY_DECIMALS),
                N_("MRR"): round(m.mrr, DISPLAY_DECIMALS),
                N_("Labelled queries"): m.queries,
            }
        )
    return pd.DataFrame(rows)


def matrix_frame(sim: np.ndarray, queries: Sequence[str], documents: Sequence[str]) -> pd.DataFrame:
    """A (n, m) matrix as a table for CSV export: the full query, then one column per document
    headed by its unique short label ("D1 · first words…"), values at display precision."""
    frame = pd.DataFrame(rounded(sim), columns=short_labels(documents, "D", 40))
    frame.insert(0, N_("Query"), list(queries))
    return frame


def input_preview(queries: Sequence[str], documents: Sequence[str], variant: Variant) -> pd.DataFrame:
    """The exact strings `variant` sends to the model, with their Qwen token counts.

    Columns: Side ("query" / "document"), #, Sent to the model, Tokens, Instruction tokens
    (tokens added by the instruction compared with the bare text).
    """
    rows = []
    for side, bare, sent in (
        (N_("query"), queries, variant.query_texts(queries)),
        (N_("document"), documents, variant.document_texts(documents)),
    ):
        for i, (b, s) in enumerate(zip(bare, sent, strict=True), start=1):
            n = count_tokens(s)
            rows.append({N_("Side"): side, "#": i, N_("Sent to the model"): s, N_("Tokens"): n,
                         N_("Instruction tokens"): n - count_tokens(b)})
    return pd.DataFrame(rows)


def labels_frame(queries: Sequence[str], documents: Sequence[str], labels: np.ndarray) -> pd.DataFrame:
    """Labels (n, m) as an editable grid: one row per query (unique short label as index), one
    boolean column per document ("D1", "D2", ...)."""
    frame = pd.DataFrame(np.asarray(labels, dtype=bool).reshape(len(queries), len(documents)),
                         columns=[f"D{j}" for j in range(1, len(documents) + 1)])
    frame.index = short_labels(queries, "Q", 40)
    return frame


def pairs_from_frame(queries: Sequence[str], documents: Sequence[str], frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(query text, document text) pairs ticked in a labels_frame-shaped grid (n, m)."""
    grid = frame.to_numpy(dtype=bool)
    if grid.shape != (len(queries), len(documents)):
        raise ValueError(f"label grid {grid.shape} does not match {len(queries)} queries x {len(documents)} documents")
    return [(queries[i], documents[j]) for i, j in zip(*np.nonzero(grid), strict=True)]


# --- The Instruction Lab's comparison ------------------------------------------------------------

NO_INSTRUCTION = N_("No instruction")  # the name of the baseline variant in tables and charts
MAX_TOP_K = 10  # the ranking table shows at most this many documents per query and side


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything the Instruction Lab shows after Compare: "no instruction" against one
    instruction on n queries and m documents, plus label metrics of further instructions.

    Attributes:
        queries: the n queries.
        documents: the m documents.
        instruction: the name of the instruction compared with no instruction.
        without: similarities (n, m) without any instruction, at display precision.
        with_: similarities (n, m) with the instruction, at display precision.
        diff: with_ - without (n, m), from the displayed values (see `difference`).
        labels: boolean (n, m) relevance labels, None when no pair is labelled.
        summary: `query_summary`, one row per query.
        metrics: `metrics_table` of no instruction, the instruction, then each further instruction
            (each name once), None without labels.
        top1_changed: how many queries have another top-1 document with the instruction.
        margin_without: mean top-1 margin (top-1 - top-2) without the instruction.
        margin_with: the same with it.
        mrr_test: the paired test of the per-query reciprocal ranks with against without the
            instruction (b = with, a = without), None without labels.
    """

    queries: tuple[str, ...]
    documents: tuple[str, ...]
    instruction: str
    without: np.ndarray
    with_: np.ndarray
    diff: np.ndarray
    labels: np.ndarray | None
    summary: pd.DataFrame
    metrics: pd.DataFrame | None
    top1_changed: int
    margin_without: float
    margin_with: float
    mrr_test: PairedTest | None = None

    @property
    def max_top_k(self) -> int:
        """The largest k the ranking table offers: up to MAX_TOP_K, at least 1."""
        return max(1, min(MAX_TOP_K, len(self.documents)))

    def ranking(self, top_k: int) -> pd.DataFrame:
        """`ranking_table` of the documents in the top `top_k` without or with the instruction."""
        return ranking_table(self.queries, self.documents, self.without, self.with_, self.labels, top_k)

    def matrices(self) -> dict[str, np.ndarray]:
        """The three (n, m) matrices by export name: "without", "with", "difference"."""
        return {"without": self.without, "with": self.with_, "difference": self.diff}

    def matrix_table(self, name: str) -> pd.DataFrame:
        """One of `matrices()` as a CSV-ready table (`matrix_frame`)."""
        return matrix_frame(self.matrices()[name], self.queries, self.documents)

    def verdict(self) -> tuple[Message, ...]:
        """`mrr_verdict` of this comparison; empty without labels."""
        return mrr_verdict(self.mrr_test) if self.mrr_test is not None else ()

    def label_change(self, column: str) -> tuple[float, float] | None:
        """(value with the instruction, change against no instruction) of a `metrics` column
        ("Separation", "MRR"); None without labels."""
        if self.metrics is None:
            return None
        without, with_ = (float(v) for v in self.metrics[column].iloc[:2])
        return with_, with_ - without


def compare(
    queries: Sequence[str],
    documents: Sequence[str],
    labels: np.ndarray,
    instructed: Variant,
    others: Sequence[Variant],
    texts: Sequence[str],
    vectors: np.ndarray,
) -> Comparison:
    """Compare no instruction with `instructed` (and, on the labels, with `others`).

    Args:
        queries: n queries; documents: m documents.
        labels: boolean (n, m); no True at all means "unlabelled" (no metrics).
        instructed: the instruction compared with no instruction in every matrix and table.
        others: further instructions, compared on the labels only (a repeated name is skipped).
        texts: the strings that were embedded: at least those of
            `input_names(queries, documents, [Variant(NO_INSTRUCTION), instructed, *others])`.
        vectors: float32 (len(texts), dim), row i the L2-normalised embedding of texts[i].
    """
    def sim(variant: Variant) -> np.ndarray:
        return rounded(variant_similarity(queries, documents, variant, texts, vectors))

    without, with_ = sim(Variant(NO_INSTRUCTION)), sim(instructed)
    labels = np.asarray(labels, dtype=bool).reshape(len(queries), len(documents))
    known = labels if labels.any() else None
    metrics, mrr_test = None, None
    if known is not None:
        mrr_test = paired_test(reciprocal_ranks(without, known), reciprocal_ranks(with_, known))
        named = {NO_INSTRUCTION: without, instructed.name: with_}
        for variant in others:
            if variant.name not in named:
                named[variant.name] = sim(variant)
        metrics = metrics_table(list(named.items()), known)
    summary = query_summary(queries, documents, without, with_, known)
    return Comparison(
        queries=tuple(queries),
        documents=tuple(documents),
        instruction=instructed.name,
        without=without,
        with_=with_,
        diff=difference(with_, without),
        labels=known,
        summary=summary,
        metrics=metrics,
        top1_changed=int(summary["Top-1 changed"].sum()) if len(summary) else 0,
        margin_without=float(top1_margin(without).mean()),
        margin_with=float(top1_margin(with_).mean()),
        mrr_test=mrr_test,
    )


def _p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def mrr_verdict(test: PairedTest) -> tuple[Message, ...]:
    """The verdict of with against without the instruction on MRR, in one or two sentences, every
    word of them decided by the numbers of `test` (a = without, b = with, per labelled query).

    Which side is better is said only when the paired permutation test finds the difference
    significant (p < significance.ALPHA); otherwise "no significant difference". MRRs and their
    difference are given at display precision, as in the metrics table.
    """
    # Like every difference the page shows: the shown "with" minus the shown "without".
    with_, without = round(test.mean_b, DISPLAY_DECIMALS), round(test.mean_a, DISPLAY_DECIMALS)
    figures = {"with_": with_, "without": without, "diff": round(with_ - without, DISPLAY_DECIMALS), "n": test.n}
    if test.p_value is None or test.ci_low is None or test.ci_high is None:
        return (Message(N_("MRR is {with_:.4f} with the instruction and {without:.4f} without it: one labelled "
                           "query is too few for a test."), figures),)
    if test.ties == test.n:
        return (Message(N_("No difference: each of the {n} labelled queries ranks its first relevant document "
                           "the same with and without the instruction (MRR {with_:.4f})."), figures),)
    figures |= {"low": test.ci_low, "high": test.ci_high, "p": _p_value(test.p_value)}
    if not test.significant:
        headline = N_("No significant difference in MRR: {with_:.4f} with the instruction against {without:.4f} "
                      "without it, a difference of {diff:+.4f} (95% CI {low:+.4f} to {high:+.4f}; paired "
                      "permutation test over {n} labelled queries, {p}).")
    elif test.diff > 0:
        headline = N_("With the instruction MRR is significantly higher: {with_:.4f} against {without:.4f} "
                      "without it, a difference of {diff:+.4f} (95% CI {low:+.4f} to {high:+.4f}; paired "
                      "permutation test over {n} labelled queries, {p}).")
    else:
        headline = N_("Without the instruction MRR is significantly higher: {without:.4f} against {with_:.4f} "
                      "with it, a difference of {diff:+.4f} (95% CI {low:+.4f} to {high:+.4f}; paired "
                      "permutation test over {n} labelled queries, {p}).")
    counts = Message(N_("With the instruction {better} of {n} labelled queries rank their first relevant document "
                        "higher, {worse} lower and {ties} the same."),
                     {"better": test.better, "worse": test.worse, "ties": test.ties, "n": test.n})
    return Message(headline, figures), counts
