"""The Search page's figures: similarity of each hit against the threshold, rank moves.

Visible labels are English msgids passed through the `gettext` the view gives (its session's
language); the builders stay pure.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import plotly.graph_objects as go

from embedlab.figures.hover import hover_text
from embedlab.messages import N_

Gettext = Callable[[str], str]


def _same(text: str) -> str:
    return text


def search_similarity_bars(labels: list[str], similarities: list[float], threshold: float | None,
                           texts: list[str], gettext: Gettext = _same) -> go.Figure:
    """Similarity of each result (best at the top); with a threshold, results under it in grey.

    Args:
        labels: (k,) short labels such as "#1 leave.md"; escaped here.
        similarities: (k,) 1 - cosine distance.
        threshold: the collection's threshold, drawn as a dashed line; None while it is
            uncalibrated (no line, nothing greyed).
        texts: (k,) chunk texts for the hover; escaped here.
        gettext: translates the figure's own labels.
    """
    colours = ["#4c78a8" if threshold is None or s >= threshold else "#c7c7c7" for s in similarities]
    fig = go.Figure(
        go.Bar(
            x=list(similarities),
            y=[html.escape(label) for label in labels],
            orientation="h",
            marker_color=colours,
            customdata=[hover_text(t) for t in texts],
            hovertemplate="%{y}<br>" + html.escape(gettext(N_("similarity"))) + " %{x:.3f}<br>%{customdata}<extra></extra>",
        )
    )
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#d62728",
                      annotation_text=html.escape(gettext(N_("threshold {value:.2f}")).format(value=threshold)),
                      annotation_position="bottom right")
    low = min([*similarities, *([] if threshold is None else [threshold])], default=0.0)
    fig.update_layout(
        title=gettext(N_("Similarity of each result")), xaxis_title=gettext(N_("similarity (1 - cosine distance)")),
        xaxis_range=[max(-1.0, low - 0.05), 1.0], yaxis_autorange="reversed",
        height=120 + 28 * max(len(labels), 1), margin={"l": 10, "r": 20, "t": 50, "b": 40},
    )
    return fig


def search_rank_moves(rows: list[tuple[str, int | None, int | None]], left: str, right: str,
                      gettext: Gettext = _same) -> go.Figure:
    """Slope chart of rank changes between two rankings (e.g. embedding -> rerank).

    Args:
        rows: (label, rank on the left or None, rank on the right or None); labels escaped here.
            An item missing on one side is drawn at the bottom, hollow.
        left, right: the two rankings' names, already in the page's language; escaped here.
        gettext: translates the figure's own labels.
    """
    ranks = [r for _, a, b in rows for r in (a, b) if r is not None]
    bottom = (max(ranks) if ranks else 1) + 1
    rank_word = html.escape(gettext(N_("rank")))
    fig = go.Figure()
    for label, a, b in rows:
        ys = [a if a is not None else bottom, b if b is not None else bottom]
        moved = a is not None and b is not None and a != b
        fig.add_trace(
            go.Scatter(
                x=[html.escape(left), html.escape(right)], y=ys, mode="lines+markers",
                line={"color": "#d62728" if moved else "#9aa0a6", "width": 2},
                marker={"size": 9, "symbol": ["circle" if a is not None else "circle-open",
                                              "circle" if b is not None else "circle-open"]},
                name=html.escape(label[:40]), showlegend=False,
                hovertemplate=hover_text(label, 160) + f"<br>{rank_word} %{{y}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=html.escape(gettext(N_("Rank moves: {left} → {right}")).format(left=left, right=right)),
        yaxis={"autorange": "reversed", "title": gettext(N_("rank")), "dtick": 1},
        height=360, margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return fig
