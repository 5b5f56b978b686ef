"""The Server check page's figures: the model card's scores beside the server's, the truncation probe."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from embedlab.figures.hover import wrapped_hover
from embedlab.text import short_labels


def identity_heatmaps(measured: object, reference: object, queries: list[str], documents: list[str]) -> go.Figure:
    """The server's query x document scores beside the published ones, on one colour scale.

    Args:
        measured, reference: (n_queries, n_documents) cosine similarities.
        queries, documents: the texts (shown shortened on the axes, whole in the hover).
    """
    panels = [("This server", np.asarray(measured, dtype=float)), ("Published (model card)", np.asarray(reference, dtype=float))]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.06)
    x = [html.escape(s) for s in short_labels(documents, "D", 24)]
    y = [html.escape(s) for s in short_labels(queries, "Q", 24)]
    hover = [[f"{wrapped_hover(q, 60)}<br>×<br>{wrapped_hover(d, 60)}" for d in documents] for q in queries]
    for col, (name, matrix) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(
            z=matrix, x=x, y=y, zmin=0.0, zmax=1.0, colorscale="Blues", showscale=col == 2,
            text=[[f"{v:.4f}" for v in row] for row in matrix], texttemplate="%{text}", customdata=hover,
            hovertemplate=f"{name}<br>%{{customdata}}<br>score %{{z:.4f}}<extra></extra>",
        ), row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(showticklabels=False, row=1, col=2)  # the same queries as on the left
    fig.update_layout(title="Model-card example: query × document scores", height=360)
    return fig


def truncation_probe(probes: list[dict], model_context: int, effective_context: int | None = None) -> go.Figure:
    """How much each longer prefix changed the vector (1 − cosine to the previous length).

    Args:
        probes: rows with "tokens", "answer" and "change" (None for refused or first requests).
        model_context: the tokens the model accepts (a dashed line).
        effective_context: where this server stops reading, when found (a red line).
    """
    fig = go.Figure()
    embedded = [p for p in probes if p.get("change") is not None]
    refused = [p for p in probes if str(p.get("answer", "")).startswith("refused")]
    fig.add_trace(go.Scatter(
        x=[p["tokens"] for p in embedded], y=[max(float(p["change"]), 1e-9) for p in embedded],
        mode="markers", name="embedded", customdata=[html.escape(str(p["answer"])) for p in embedded],
        hovertemplate="%{x:,} tokens: %{customdata}<br>1 − cos %{y:.2e}<extra></extra>",
    ))
    if refused:
        fig.add_trace(go.Scatter(
            x=[p["tokens"] for p in refused], y=[1.0] * len(refused), mode="markers", name="refused",
            marker={"symbol": "x", "size": 11, "color": "crimson"},
            customdata=[html.escape(str(p["answer"])) for p in refused],
            hovertemplate="%{x:,} tokens: %{customdata}<extra></extra>",
        ))
    fig.add_vline(x=model_context, line_dash="dash", line_color="grey",
                  annotation_text=f"model context {model_context:,}", annotation_position="top left")
    if effective_context:
        fig.add_vline(x=effective_context, line_color="crimson",
                      annotation_text=f"server reads {effective_context:,}", annotation_position="bottom right")
    fig.update_xaxes(title="prefix length (exact Qwen tokens)", type="log")
    fig.update_yaxes(title="1 − cosine to the previous probe", type="log")
    fig.update_layout(title="Truncation probe: does a longer input still change the vector?", height=380)
    return fig
