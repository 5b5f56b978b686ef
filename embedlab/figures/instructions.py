"""The Instruction Lab's figures: query x document heatmaps (shared or diverging colour scales)
and the label metrics of several instructions."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from embedlab.figures.hover import wrapped_hover
from embedlab.messages import N_
from embedlab.text import short_labels

# A hover label must fit inside the narrowest heatmap of the page (about 480 px at 1440 px wide):
# ~44 Latin or ~24 CJK characters a line, at most HOVER_LIMIT characters of each text.
HOVER_WIDTH = 44
HOVER_LIMIT = 360
DENSE_COLUMNS = 16  # past this many documents the x labels are the numbers only (D1, D2, ...), on end


def _hover(text: str) -> str:
    """`text` wrapped for a hover label, narrower when most characters are double-width (CJK)."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    width = HOVER_WIDTH // 2 + 2 if wide > len(text) / 3 else HOVER_WIDTH
    return wrapped_hover(text, width, HOVER_LIMIT)


def _hover_pairs(queries: list[str], documents: list[str]) -> np.ndarray:
    """The hover texts of each cell: shape (n queries, m documents, 2), [query text, document text]."""
    q_hover = [_hover(q) for q in queries]
    d_hover = [_hover(d) for d in documents]
    return np.array([[[q_hover[i], d_hover[j]] for j in range(len(documents))] for i in range(len(queries))],
                    dtype=object).reshape(len(queries), len(documents), 2)


def similarity_heatmap(
    sim: object,
    queries: list[str],
    documents: list[str],
    title: str,
    zmin: float,
    zmax: float,
    colorscale: str = "Viridis",
    zmid: float | None = None,
    value_label: str | None = None,
    show_query_labels: bool = True,
    gettext: Callable[[str], str] = str,
) -> go.Figure:
    """Heatmap of a (n, m) query x document matrix, queries as rows (Q1 at the top).

    Axis labels are unique shortened texts (document numbers only past DENSE_COLUMNS documents);
    the hover shows both texts (escaped, wrapped to fit the chart) and the value to 4 decimals.
    Pass the same zmin/zmax to heatmaps that must share a colour scale; `show_query_labels=False`
    hides the row labels of a heatmap drawn right of an identical one. `title` and `value_label`
    come translated; `gettext` translates the hover's words.
    """
    z = np.asarray(sim, dtype=np.float64)
    value_label = html.escape(value_label if value_label is not None else gettext(N_("similarity")))
    custom = _hover_pairs(queries, documents)
    dense = len(documents) > DENSE_COLUMNS
    x = [f"D{j}" for j in range(1, len(documents) + 1)] if dense else [html.escape(s) for s in short_labels(documents, "D", 12)]
    y = [html.escape(s) for s in short_labels(queries, "Q", 24)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            customdata=custom,
            zmin=zmin,
            zmax=zmax,
            zmid=zmid,
            colorscale=colorscale,
            colorbar={"title": {"text": value_label}, "thickness": 12},
            hovertemplate=(
                f"<b>{html.escape(gettext(N_('Query')))}</b><br>%{{customdata[0]}}<br><br>"
                f"<b>{html.escape(gettext(N_('Document')))}</b><br>%{{customdata[1]}}"
                f"<br><br><b>{value_label}</b>: %{{z:.4f}}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    # Explicit tick lists: plotly would otherwise skip crowded category labels.
    fig.update_yaxes(autorange="reversed", tickfont={"size": 11}, tickmode="array", tickvals=y, ticktext=y,
                     showticklabels=show_query_labels)
    # Dense: upright numbers would run into each other, so they stand on end (one per column).
    fig.update_xaxes(tickangle=-90 if dense else -60, tickfont={"size": 11}, tickmode="array", tickvals=x, ticktext=x)
    fig.update_layout(
        title={"text": html.escape(title), "font": {"size": 15}},
        height=220 + 26 * len(queries) + 6 * min(len(documents), 30),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hoverlabel={"align": "left"},
    )
    return fig


def shared_range(*matrices: object) -> tuple[float, float]:
    """(min, max) over every matrix, for heatmaps that share one colour scale."""
    values = np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in matrices])
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.01, hi + 0.01)


def difference_heatmap(
    diff: object, queries: list[str], documents: list[str], title: str, show_query_labels: bool = True,
    gettext: Callable[[str], str] = str,
) -> go.Figure:
    """Heatmap of with - without on a diverging scale centred on 0 (red = instruction raised it)."""
    limit = float(np.abs(np.asarray(diff, dtype=np.float64)).max()) or 0.01
    return similarity_heatmap(diff, queries, documents, title, -limit, limit, colorscale="RdBu_r",
                              zmid=0.0, value_label=gettext(N_("with − without")),
                              show_query_labels=show_query_labels, gettext=gettext)


def instruction_comparison_bars(metrics: pd.DataFrame, names: list[str] | None = None,
                                gettext: Callable[[str], str] = str) -> go.Figure:
    """Separation and MRR side by side, one bar per instruction.

    Args:
        metrics: embedlab.comparison.metrics_table output (Instruction, Separation, MRR, ...).
        names: the instructions' names as shown (the baseline's translated), default metrics["Instruction"].
        gettext: translates the subplot titles and the hover.
    """
    separation = gettext(N_("Separation (relevant − irrelevant)"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=(html.escape(separation), "MRR"))
    names = [html.escape(str(n)) for n in (names if names is not None else metrics["Instruction"])]
    for col, metric in enumerate(("Separation", "MRR"), start=1):
        fig.add_trace(
            go.Bar(
                x=names,
                y=metrics[metric],
                marker_color=[qualitative.Set2[i % len(qualitative.Set2)] for i in range(len(names))],
                text=[f"{v:.4f}" for v in metrics[metric]],
                textposition="outside",
                hovertemplate=f"%{{x}}<br>{html.escape(gettext(metric))}: %{{y:.4f}}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(range=[0, 1.1], row=1, col=2)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
