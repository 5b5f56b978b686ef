"""The Evaluate page's figures: metrics per configuration, size vs quality, similarity
distributions and threshold metrics of a calibration, per-query rank changes A -> B."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from embedlab.evaluation.metrics import METRICS
from embedlab.figures.hover import hover_text
from embedlab.text import clip


def eval_metric_bars(table: pd.DataFrame) -> go.Figure:
    """Grouped bars: one group per metric, one bar per configuration (rows of results_table)."""
    fig = go.Figure()
    for _, row in table.iterrows():
        name = hover_text(str(row["configuration"]), 120)
        fig.add_bar(
            name=name,
            x=list(METRICS),
            y=[float(row[m]) for m in METRICS],
            hovertemplate=f"{name}<br>%{{x}} = %{{y:.3f}}<extra></extra>",
        )
    fig.update_layout(
        barmode="group",
        title="Retrieval quality per configuration",
        yaxis={"title": "score (mean over queries)", "range": [0, 1.05]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15},
        margin={"t": 50, "b": 10},
        height=460 + 18 * max(0, len(table) - 4),
    )
    return fig


def eval_dimension_line(table: pd.DataFrame, metric: str = "ndcg@10") -> go.Figure:
    """`metric` against the embedding size, one line per otherwise-identical set-up.

    `table` holds rows of results_table; `dimensions` is the size actually used (an int).
    BM25 rows (dimensions 0: no vectors) are left out; mode and precision split lines when present.
    """
    fig = go.Figure()
    keys = ["instruction", "max_tokens", "documents"] + [c for c in ("mode", "precision") if c in table]
    table = table[table["dimensions"].astype(int) > 0]
    for values, group in table.groupby(keys, sort=False):
        group = group.sort_values("dimensions")
        name = hover_text(" · ".join(str(v) for v in values), 120)
        fig.add_scatter(
            x=group["dimensions"].astype(int),
            y=group[metric].astype(float),
            mode="lines+markers",
            name=name,
            hovertemplate=f"{name}<br>%{{x}} dimensions: {metric} = %{{y:.3f}}<extra></extra>",
        )
    sizes = sorted({int(d) for d in table["dimensions"]})
    fig.update_layout(
        title=f"Embedding size (Matryoshka) vs {metric}",
        xaxis={"title": "dimensions", "type": "log", "tickvals": sizes, "ticktext": [str(s) for s in sizes]},
        yaxis={"title": metric, "rangemode": "tozero"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
        margin={"t": 50, "b": 10},
        height=440,
    )
    return fig


RELEVANT_COLOUR, NON_RELEVANT_COLOUR = "#2ca02c", "#d62728"


def similarity_distributions(relevant: np.ndarray, non_relevant: np.ndarray,
                             thresholds: dict[str, float] | None = None, bins: int = 40) -> go.Figure:
    """Overlaid histograms (as shares of each group) of relevant and non-relevant pair
    similarities, with a dashed line per suggested threshold (name -> value, e.g. "best F1")."""
    rel, non = np.asarray(relevant, dtype=float), np.asarray(non_relevant, dtype=float)
    both = np.concatenate([rel, non]) if rel.size + non.size else np.zeros(1)
    edges = np.linspace(float(both.min()), float(both.max()) + 1e-9, bins + 1)
    size = float(edges[1] - edges[0])
    fig = go.Figure()
    for name, values, colour in (("relevant", rel, RELEVANT_COLOUR), ("non-relevant", non, NON_RELEVANT_COLOUR)):
        fig.add_histogram(
            x=values, name=f"{name} ({values.size:,} pairs)", histnorm="probability", opacity=0.6,
            marker_color=colour, xbins={"start": float(edges[0]), "end": float(edges[-1]), "size": size},
            hovertemplate=f"{name}<br>similarity %{{x}}<br>share %{{y:.1%}}<extra></extra>",
        )
    # Labels point away from each other: the lowest threshold's to the left, the others' to the right.
    for i, (label, value) in enumerate(sorted((thresholds or {}).items(), key=lambda kv: kv[1])):
        fig.add_vline(x=value, line_dash="dash", line_color="#444",
                      annotation_text=f"{html.escape(label)}: {value:.3f}",
                      annotation_position="top right" if i else "top left")
    fig.update_layout(barmode="overlay", title="Similarity of relevant vs non-relevant pairs",
                      xaxis={"title": "cosine similarity"}, yaxis={"title": "share of the group's pairs"},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2}, height=420,
                      margin={"t": 50, "b": 10})
    return fig


def threshold_metrics(curve: pd.DataFrame, thresholds: dict[str, float] | None = None) -> go.Figure:
    """Precision, recall and F1 against the threshold (rows of calibration.threshold_curve), with a
    dashed line per suggested threshold."""
    fig = go.Figure()
    for metric, colour in (("precision", "#1f77b4"), ("recall", "#ff7f0e"), ("f1", "#2ca02c")):
        fig.add_scatter(x=curve["threshold"], y=curve[metric], mode="lines", name=metric,
                        line={"color": colour, "shape": "hv"},
                        hovertemplate=f"threshold %{{x:.4f}}<br>{metric} = %{{y:.3f}}<extra></extra>")
    for i, (label, value) in enumerate(sorted((thresholds or {}).items(), key=lambda kv: kv[1])):
        fig.add_vline(x=value, line_dash="dash", line_color="#444",
                      annotation_text=f"{html.escape(label)}: {value:.3f}",
                      annotation_position="bottom right" if i else "bottom left")
    # A short title: the chart often sits in half a page's width, where a long one was cut off.
    fig.update_layout(title="Precision, recall, F1 by threshold",
                      xaxis={"title": "threshold (keep pairs with similarity ≥ it)"},
                      yaxis={"title": "score", "range": [0, 1.05]},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0}, height=420,
                      margin={"t": 80, "b": 50})
    return fig


def rank_change_dumbbell(rows: list[dict], label_a: str, label_b: str, k: int = 100) -> go.Figure:
    """Per query (rows of evaluation.rank_change_table, in their order), the first relevant
    document's rank under A and B joined by a line; ">k" is drawn at k + 1. Green: B fixed it,
    red: B broke it, grey: same."""
    colours = {"fixed": RELEVANT_COLOUR, "broke": NON_RELEVANT_COLOUR, "same": "#999999"}

    def pos(rank: object) -> int:
        return k + 1 if isinstance(rank, str) else int(rank)

    labels = [hover_text(f"{r['query id']} · {clip(' '.join(str(r['query']).split()), 40)}", 80) for r in rows]
    fig = go.Figure()
    for row, label in zip(rows, labels, strict=True):
        fig.add_scatter(x=[pos(row["rank A"]), pos(row["rank B"])], y=[label, label], mode="lines",
                        line={"color": colours[row["result"]], "width": 3}, showlegend=False, hoverinfo="skip")
    for side, symbol in (("A", "circle-open"), ("B", "circle")):
        name = hover_text(label_a if side == "A" else label_b, 100)
        fig.add_scatter(
            x=[pos(r[f"rank {side}"]) for r in rows], y=labels, mode="markers", name=f"{side}: {name}",
            marker={"symbol": symbol, "size": 10, "color": "#333"},
            customdata=[[str(r[f"rank {side}"])] for r in rows],
            hovertemplate=f"%{{y}}<br>{side}: rank %{{customdata[0]}}<extra></extra>",
        )
    fig.update_layout(
        title="First relevant document per query: A → B",
        xaxis={"title": f"rank (log; {k + 1} = beyond {k})", "type": "log"},
        yaxis={"autorange": "reversed", "type": "category"},
        # The legend sits above the plot: below it, it covered the x-axis title.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        height=max(340, 110 + 22 * len(rows)), margin={"t": 80, "b": 50, "l": 10},
    )
    return fig
