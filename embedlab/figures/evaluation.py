"""The Evaluate page's figures: metrics per configuration, size vs quality, similarity
distributions and threshold metrics of a calibration, per-query rank changes A -> B."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from embedlab.evaluation.metrics import METRICS
from embedlab.figures.hover import hover_text
from embedlab.messages import N_
from embedlab.text import clip

Gettext = Callable[[str], str]

# 48 distinct colours, one per configuration of the largest grid a run allows (form.MAX_CONFIGS).
CONFIG_PALETTE: tuple[str, ...] = (*qualitative.Dark24, *qualitative.Light24)


def _same(text: str) -> str:
    return text


def config_colour(index: int) -> str:
    """The colour of configuration `index` (its position in the run), the same in every chart."""
    return CONFIG_PALETTE[index % len(CONFIG_PALETTE)]


def zoomed_range(values: Sequence[float], pad: float = 0.03) -> tuple[float, float]:
    """A y range around `values` (scores in [0, 1]) with a little room, on 0.05 steps: from 0 only
    when the data come near it, up to at most 1.05."""
    low, high = float(min(values)), float(max(values))
    bottom = max(0.0, math.floor((low - pad) * 20) / 20)
    top = min(1.05, math.ceil((high + pad) * 20) / 20)
    return bottom, max(top, bottom + 0.05)


def eval_metric_bars(table: pd.DataFrame, colours: Sequence[str] | None = None,
                     gettext: Gettext = _same) -> go.Figure:
    """Grouped bars: one group per metric, one bar per configuration (rows of results_table, in
    the table's order; `colours[i]` for row i, by default config_colour(i)). The y-axis is zoomed
    to the data (see `zoomed_range`), and its title says so when it does not start at 0."""
    fig = go.Figure()
    for i, (_, row) in enumerate(table.iterrows()):
        name = hover_text(str(row["configuration"]), 120)
        fig.add_bar(
            name=name,
            x=list(METRICS),
            y=[float(row[m]) for m in METRICS],
            marker_color=colours[i] if colours is not None else config_colour(i),
            hovertemplate=f"{name}<br>%{{x}} = %{{y:.3f}}<extra></extra>",
        )
    low, high = zoomed_range([float(v) for m in METRICS for v in table[m]] or [0.0, 1.0])
    title = (gettext(N_("mean score, axis zoomed: from {low}")).format(low=f"{low:.2f}")
             if low > 0 else gettext(N_("score (mean over queries)")))
    fig.update_layout(
        barmode="group",
        title=gettext(N_("Retrieval quality per configuration")),
        yaxis={"title": title, "range": [low, high]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15},
        margin={"t": 50, "b": 10},
        height=460 + 18 * max(0, len(table) - 4),
    )
    return fig


def eval_dimension_line(table: pd.DataFrame, metric: str = "ndcg@10", gettext: Gettext = _same) -> go.Figure:
    """`metric` against the embedding size, one line per otherwise-identical set-up.

    `table` holds rows of results_table; `dimensions` is the size actually used (an int).
    BM25 rows (dimensions 0: no vectors) are left out; mode and precision split lines when present.
    """
    fig = go.Figure()
    dims = gettext(N_("dimensions"))
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
            hovertemplate=f"{name}<br>%{{x}} {dims}: {metric} = %{{y:.3f}}<extra></extra>",
        )
    sizes = sorted({int(d) for d in table["dimensions"]})
    fig.update_layout(
        title=gettext(N_("Embedding size (Matryoshka) vs {metric}")).format(metric=metric),
        xaxis={"title": dims, "type": "log", "tickvals": sizes, "ticktext": [str(s) for s in sizes]},
        yaxis={"title": metric, "rangemode": "tozero"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
        margin={"t": 50, "b": 10},
        height=440,
    )
    return fig


RELEVANT_COLOUR, NON_RELEVANT_COLOUR = "#2ca02c", "#d62728"


def similarity_distributions(relevant: np.ndarray, non_relevant: np.ndarray,
                             thresholds: dict[str, float] | None = None, bins: int = 40,
                             gettext: Gettext = _same) -> go.Figure:
    """Overlaid histograms (as shares of each group) of relevant and non-relevant pair
    similarities, with a dashed line per suggested threshold (name -> value, e.g. "best F1")."""
    rel, non = np.asarray(relevant, dtype=float), np.asarray(non_relevant, dtype=float)
    both = np.concatenate([rel, non]) if rel.size + non.size else np.zeros(1)
    edges = np.linspace(float(both.min()), float(both.max()) + 1e-9, bins + 1)
    size = float(edges[1] - edges[0])
    fig = go.Figure()
    groups = ((gettext(N_("relevant")), rel, RELEVANT_COLOUR), (gettext(N_("non-relevant")), non, NON_RELEVANT_COLOUR))
    similarity, share = gettext(N_("similarity")), gettext(N_("share"))
    for name, values, colour in groups:
        fig.add_histogram(
            x=values, name=gettext(N_("{group} ({n} pairs)")).format(group=name, n=f"{values.size:,}"),
            histnorm="probability", opacity=0.6,
            marker_color=colour, xbins={"start": float(edges[0]), "end": float(edges[-1]), "size": size},
            hovertemplate=f"{name}<br>{similarity} %{{x}}<br>{share} %{{y:.1%}}<extra></extra>",
        )
    # Labels point away from each other: the lowest threshold's to the left, the others' to the right.
    for i, (label, value) in enumerate(sorted((thresholds or {}).items(), key=lambda kv: kv[1])):
        fig.add_vline(x=value, line_dash="dash", line_color="#444",
                      annotation_text=f"{html.escape(label)}: {value:.3f}",
                      annotation_position="top right" if i else "top left")
    fig.update_layout(barmode="overlay", title=gettext(N_("Similarity of relevant vs non-relevant pairs")),
                      xaxis={"title": gettext(N_("cosine similarity"))},
                      yaxis={"title": gettext(N_("share of the group's pairs"))},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2}, height=420,
                      margin={"t": 50, "b": 10})
    return fig


def threshold_metrics(curve: pd.DataFrame, thresholds: dict[str, float] | None = None,
                      gettext: Gettext = _same) -> go.Figure:
    """Precision, recall and F1 against the threshold (rows of calibration.threshold_curve), with a
    dashed line per suggested threshold."""
    fig = go.Figure()
    names = {"precision": gettext(N_("precision")), "recall": gettext(N_("recall")), "f1": "F1"}
    threshold = gettext(N_("threshold"))
    for metric, colour in (("precision", "#1f77b4"), ("recall", "#ff7f0e"), ("f1", "#2ca02c")):
        fig.add_scatter(x=curve["threshold"], y=curve[metric], mode="lines", name=names[metric],
                        line={"color": colour, "shape": "hv"},
                        hovertemplate=f"{threshold} %{{x:.4f}}<br>{names[metric]} = %{{y:.3f}}<extra></extra>")
    for i, (label, value) in enumerate(sorted((thresholds or {}).items(), key=lambda kv: kv[1])):
        fig.add_vline(x=value, line_dash="dash", line_color="#444",
                      annotation_text=f"{html.escape(label)}: {value:.3f}",
                      annotation_position="bottom right" if i else "bottom left")
    # A short title: the chart often sits in half a page's width, where a long one was cut off.
    fig.update_layout(title=gettext(N_("Precision, recall, F1 by threshold")),
                      xaxis={"title": gettext(N_("threshold (keep pairs with similarity ≥ it)"))},
                      yaxis={"title": gettext(N_("score")), "range": [0, 1.05]},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0}, height=420,
                      margin={"t": 80, "b": 50})
    return fig


def rank_change_dumbbell(rows: list[dict], label_a: str, label_b: str, k: int = 100,
                         gettext: Gettext = _same) -> go.Figure:
    """Per query (rows of evaluation.rank_change_table, in their order), the first relevant
    document's rank under A and B joined by a line; ">k" is drawn at k + 1. Green: B fixed it,
    red: B broke it, grey: same."""
    colours = {"fixed": RELEVANT_COLOUR, "broke": NON_RELEVANT_COLOUR, "same": "#999999"}

    def pos(rank: object) -> int:
        return k + 1 if isinstance(rank, str) else int(rank)

    rank = gettext(N_("rank"))
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
            hovertemplate=f"%{{y}}<br>{side}: {rank} %{{customdata[0]}}<extra></extra>",
        )
    fig.update_layout(
        title=gettext(N_("First relevant document per query: A → B")),
        xaxis={"title": gettext(N_("rank (log; {beyond} = beyond {k})")).format(beyond=k + 1, k=k), "type": "log"},
        yaxis={"autorange": "reversed", "type": "category"},
        # The legend sits above the plot: below it, it covered the x-axis title.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        height=max(340, 110 + 22 * len(rows)), margin={"t": 80, "b": 50, "l": 10},
    )
    return fig
