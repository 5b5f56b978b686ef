"""The Chunking page's figures: chunk sizes, similarity along the document, whole vs chunks."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go

from embedlab.figures.hover import hover_text
from embedlab.messages import N_


def chunk_size_histogram(token_counts: list[int], max_tokens: int, gettext: Callable[[str], str] = str) -> go.Figure:
    """Histogram of chunk sizes in tokens, with the budget as a dashed line; labels in the language of `gettext`."""
    chunks = gettext(N_("chunks"))
    fig = go.Figure(go.Histogram(
        x=list(token_counts), nbinsx=30, marker_color="#4c78a8", name=chunks,
        hovertemplate=gettext(N_("%{x} tokens: %{y} chunks")) + "<extra></extra>"))
    fig.add_vline(x=max_tokens, line_dash="dash", line_color="#d62728",
                  annotation_text=gettext(N_("budget {n}")).format(n=max_tokens))
    fig.update_layout(
        title=gettext(N_("Chunk sizes")), xaxis_title=gettext(N_("tokens per chunk")), yaxis_title=chunks, height=300,
        margin={"l": 40, "r": 20, "t": 50, "b": 40}, bargap=0.05,
    )
    return fig


def chunk_similarity_bars(similarities: list[float], previews: list[str], best: int,
                          gettext: Callable[[str], str] = str) -> go.Figure:
    """Query-to-chunk similarity, one bar per chunk in document order; the best one in red.

    Args:
        similarities: (n_chunks,) cosine similarities.
        previews: (n_chunks,) chunk texts for the hover (escaped here).
        best: index of the best chunk.
        gettext: translates the titles and the hover's words.
    """
    n = len(similarities)
    colours = ["#d62728" if i == best else "#4c78a8" for i in range(n)]
    fig = go.Figure(
        go.Bar(
            x=list(range(1, n + 1)), y=list(similarities), marker_color=colours,
            customdata=[hover_text(p, 240) for p in previews],
            hovertemplate=gettext(N_("chunk %{x}<br>similarity %{y:.3f}")) + "<br>%{customdata}<extra></extra>",
        )
    )
    lo, hi = (min(similarities), max(similarities)) if n else (0.0, 1.0)
    pad = max(0.02, (hi - lo) * 0.15)  # zoomed: similarities of one document sit close together
    fig.update_layout(
        title=gettext(N_("Similarity along the document")), xaxis_title=gettext(N_("chunk (document order)")),
        yaxis_title=gettext(N_("cosine similarity")),
        height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40},
        yaxis_range=[max(-1.0, lo - pad), min(1.0, hi + pad)],
    )
    return fig


def pooling_comparison_bars(scores: dict[str, float], gettext: Callable[[str], str] = str) -> go.Figure:
    """One bar per way of scoring the whole document against the query (label -> cosine, labels
    already in the page's language); title and axis in the language of `gettext`."""
    labels, values = list(scores), list(scores.values())
    fig = go.Figure(
        go.Bar(
            x=values, y=[hover_text(label, 80) for label in labels], orientation="h",
            marker_color=["#9e9e9e", "#72b7b2", "#54a24b", "#d62728"][: len(labels)],
            text=[f"{v:.3f}" for v in values], textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.02, (hi - lo) * 0.3)
    fig.update_layout(
        xaxis_range=[max(-1.0, lo - pad), min(1.0, hi + pad)],
        title=gettext(N_("Whole document vs chunks for this query")),
        xaxis_title=gettext(N_("cosine similarity (zoomed)")),
        height=260, margin={"l": 10, "r": 20, "t": 50, "b": 40}, yaxis={"autorange": "reversed"},
    )
    return fig
