"""Plotly figure builders: pure functions, data in, go.Figure out.

User text shown in hovers or labels must be passed through `hover_text` (plotly renders HTML
tags in hover labels, so raw user text could inject markup).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from embedlab.text import clip


def hover_text(text: str, limit: int = 300) -> str:
    """User text made safe and short for a plotly hover label (escaped, newlines as <br>)."""
    return html.escape(clip(text, limit)).replace("\n", "<br>")


# --- Instruction Lab --------------------------------------------------------------------------


def wrapped_hover(text: str, width: int = 80, limit: int = 2000) -> str:
    """Full user text for a hover label: escaped, hard-wrapped to ~`width` characters per line
    (plotly does not wrap hover labels), cut only past `limit` characters."""
    import textwrap

    short = clip(text, limit)
    lines = [
        part
        for line in short.splitlines() or [""]
        for part in (textwrap.wrap(line, width) if len(line) > width else [line])
    ]
    return "<br>".join(html.escape(line) for line in lines)


def similarity_heatmap(
    sim: object,
    queries: list[str],
    documents: list[str],
    title: str,
    zmin: float,
    zmax: float,
    colorscale: str = "Viridis",
    zmid: float | None = None,
    value_label: str = "similarity",
    show_query_labels: bool = True,
) -> go.Figure:
    """Heatmap of a (n, m) query x document matrix, queries as rows (Q1 at the top).

    Axis labels are unique shortened texts; the hover shows both full texts (escaped) and the
    value to 4 decimals. Pass the same zmin/zmax to heatmaps that must share a colour scale;
    `show_query_labels=False` hides the row labels of a heatmap drawn right of an identical one.
    """
    import numpy as np

    from embedlab.text import short_labels

    z = np.asarray(sim, dtype=np.float64)
    q_hover = [wrapped_hover(q) for q in queries]
    d_hover = [wrapped_hover(d) for d in documents]
    custom = np.array([[[q_hover[i], d_hover[j]] for j in range(len(documents))] for i in range(len(queries))],
                      dtype=object).reshape(len(queries), len(documents), 2)
    x = [html.escape(s) for s in short_labels(documents, "D", 12)]
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
                "<b>Query</b><br>%{customdata[0]}<br><br><b>Document</b><br>%{customdata[1]}"
                f"<br><br><b>{value_label}</b>: %{{z:.4f}}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    # Explicit tick lists: plotly would otherwise skip crowded category labels.
    fig.update_yaxes(autorange="reversed", tickfont={"size": 11}, tickmode="array", tickvals=y, ticktext=y,
                     showticklabels=show_query_labels)
    fig.update_xaxes(tickangle=-60, tickfont={"size": 9}, tickmode="array", tickvals=x, ticktext=x)
    fig.update_layout(
        title={"text": html.escape(title), "font": {"size": 15}},
        height=220 + 26 * len(queries) + 6 * min(len(documents), 30),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        hoverlabel={"align": "left"},
    )
    return fig


def shared_range(*matrices: object) -> tuple[float, float]:
    """(min, max) over every matrix, for heatmaps that share one colour scale."""
    import numpy as np

    values = np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in matrices])
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo - 0.01, hi + 0.01)


def difference_heatmap(
    diff: object, queries: list[str], documents: list[str], title: str, show_query_labels: bool = True
) -> go.Figure:
    """Heatmap of with - without on a diverging scale centred on 0 (red = instruction raised it)."""
    import numpy as np

    limit = float(np.abs(np.asarray(diff, dtype=np.float64)).max()) or 0.01
    return similarity_heatmap(diff, queries, documents, title, -limit, limit, colorscale="RdBu_r",
                              zmid=0.0, value_label="with − without", show_query_labels=show_query_labels)


def instruction_comparison_bars(metrics: pd.DataFrame) -> go.Figure:
    """Separation and MRR side by side, one bar per instruction.

    Args:
        metrics: embedlab.comparison.metrics_table output (Instruction, Separation, MRR, ...).
    """
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Separation (relevant − irrelevant)", "MRR"))
    names = [html.escape(str(n)) for n in metrics["Instruction"]]
    for col, metric in enumerate(("Separation", "MRR"), start=1):
        fig.add_trace(
            go.Bar(
                x=names,
                y=metrics[metric],
                marker_color=[qualitative.Set2[i % len(qualitative.Set2)] for i in range(len(names))],
                text=[f"{v:.4f}" for v in metrics[metric]],
                textposition="outside",
                hovertemplate=f"%{{x}}<br>{metric}: %{{y:.4f}}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(range=[0, 1.1], row=1, col=2)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


# --- Chunking ---------------------------------------------------------------------------------


def chunk_size_histogram(token_counts: list[int], max_tokens: int) -> go.Figure:
    """Histogram of chunk sizes in tokens, with the budget as a dashed line."""
    fig = go.Figure(go.Histogram(x=list(token_counts), nbinsx=30, marker_color="#4c78a8", name="chunks"))
    fig.add_vline(x=max_tokens, line_dash="dash", line_color="#d62728", annotation_text=f"budget {max_tokens}")
    fig.update_layout(
        title="Chunk sizes", xaxis_title="tokens per chunk", yaxis_title="chunks", height=300,
        margin={"l": 40, "r": 20, "t": 50, "b": 40}, bargap=0.05,
    )
    return fig


def chunk_similarity_bars(similarities: list[float], previews: list[str], best: int) -> go.Figure:
    """Query-to-chunk similarity, one bar per chunk in document order; the best one in red.

    Args:
        similarities: (n_chunks,) cosine similarities.
        previews: (n_chunks,) chunk texts for the hover (escaped here).
        best: index of the best chunk.
    """
    n = len(similarities)
    colours = ["#d62728" if i == best else "#4c78a8" for i in range(n)]
    fig = go.Figure(
        go.Bar(
            x=list(range(1, n + 1)), y=list(similarities), marker_color=colours,
            customdata=[hover_text(p, 240) for p in previews],
            hovertemplate="chunk %{x}<br>similarity %{y:.3f}<br>%{customdata}<extra></extra>",
        )
    )
    lo, hi = (min(similarities), max(similarities)) if n else (0.0, 1.0)
    pad = max(0.02, (hi - lo) * 0.15)  # zoomed: similarities of one document sit close together
    fig.update_layout(
        title="Similarity along the document", xaxis_title="chunk (document order)", yaxis_title="cosine similarity",
        height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40},
        yaxis_range=[max(-1.0, lo - pad), min(1.0, hi + pad)],
    )
    return fig


def pooling_comparison_bars(scores: dict[str, float]) -> go.Figure:
    """One bar per way of scoring the whole document against the query (label -> cosine)."""
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
        title="Whole document vs chunks for this query", xaxis_title="cosine similarity (zoomed)",
        height=260, margin={"l": 10, "r": 20, "t": 50, "b": 40}, yaxis={"autorange": "reversed"},
    )
    return fig


# --- Clusters ---------------------------------------------------------------------------------

# Qualitative colours for topics and clusters; noise (HDBSCAN's -1) is grey.
MAP_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#e7969c", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#3182bd", "#31a354", "#756bb1", "#636363",
)
NOISE_COLOUR = "#c7c7c7"
SVG_POINT_LIMIT = 1_500  # above this, WebGL traces (SVG makes one DOM node per point)


def group_colours(groups: list[str], noise: str = "noise") -> dict[str, str]:
    """A stable colour per group name (first-seen order), so two maps colour a topic alike."""
    colours: dict[str, str] = {}
    for group in dict.fromkeys(groups):
        colours[group] = NOISE_COLOUR if group == noise else MAP_PALETTE[len(colours) % len(MAP_PALETTE)]
    return colours


def umap_map(
    coords: np.ndarray,
    texts: list[str],
    groups: list[str],
    title: str,
    colours: dict[str, str] | None = None,
    query_coords: np.ndarray | None = None,
    queries: list[str] | None = None,
    details: list[str] | None = None,
) -> go.Figure:
    """A 2-D or 3-D scatter of a UMAP map, one trace per group (legend toggles topics).

    Args:
        coords: (n, 2) or (n, 3) map coordinates.
        texts, groups: length n; groups name the colour (topic or cluster). Both are user text
            and are escaped here.
        title: plain text (escaped here).
        query_coords: (m, 2|3) positions of user queries, drawn as black stars / diamonds.
        details: optional length-n extra hover line per point (plain text, escaped here).

    Every point carries its row index as customdata, so selections map back to the texts;
    query points carry -1 - i.
    """
    three_d = coords.shape[1] == 3
    colours = colours or group_colours(groups)
    groups_arr = np.asarray(groups, dtype=object)
    big = len(texts) > SVG_POINT_LIMIT
    fig = go.Figure()
    present = set(groups)
    # Traces (and legend entries) follow the colour map's order when one is given.
    order = [g for g in colours if g in present] + [g for g in dict.fromkeys(groups) if g not in colours]
    for group in order:
        rows = np.flatnonzero(groups_arr == group)
        hover = [
            hover_text(texts[i]) + "<br><i>" + hover_text(group, 80) + "</i>"
            + (f"<br>{hover_text(details[i], 120)}" if details else "")
            for i in rows
        ]
        common = {
            "mode": "markers",
            "name": hover_text(group, 40),
            "customdata": rows,
            "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>",
        }
        colour = colours.get(group, NOISE_COLOUR)
        if three_d:
            fig.add_trace(go.Scatter3d(
                x=coords[rows, 0], y=coords[rows, 1], z=coords[rows, 2],
                marker={"size": 3, "color": colour, "opacity": 0.8}, **common,
            ))
        else:
            trace = go.Scattergl if big else go.Scatter
            fig.add_trace(trace(
                x=coords[rows, 0], y=coords[rows, 1],
                marker={"size": 6 if big else 8, "color": colour, "opacity": 0.8}, **common,
            ))
    if query_coords is not None and queries and len(query_coords):
        labels = [hover_text(q, 30) for q in queries]
        common = {
            "mode": "markers+text",
            "name": "your queries",
            "text": labels,
            "textposition": "top center",
            "customdata": -1 - np.arange(len(queries)),
            "hovertext": ["Query: " + hover_text(q) for q in queries],
            "hovertemplate": "%{hovertext}<extra></extra>",
        }
        if three_d:
            fig.add_trace(go.Scatter3d(
                x=query_coords[:, 0], y=query_coords[:, 1], z=query_coords[:, 2],
                marker={"size": 7, "color": "black", "symbol": "diamond"}, **common,
            ))
        else:
            fig.add_trace(go.Scatter(
                x=query_coords[:, 0], y=query_coords[:, 1],
                marker={"size": 18, "color": "black", "symbol": "star", "line": {"width": 1, "color": "white"}},
                **common,
            ))
    axis = {"showticklabels": False, "title": "", "showgrid": False, "zeroline": False}
    fig.update_layout(
        title=hover_text(title, 120),
        height=560,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.02, "itemsizing": "constant"},
        hoverlabel={"align": "left"},
        uirevision=title,  # keep zoom and legend toggles across reruns of the same map
    )
    if three_d:
        fig.update_layout(scene={"xaxis": axis, "yaxis": axis, "zaxis": axis})
    else:
        fig.update_layout(xaxis=axis, yaxis=axis, dragmode="select")  # box; lasso is in the modebar
    return fig


def silhouette_by_k(scores: dict[int, float], chosen: int, title: str) -> go.Figure:
    """Bar chart of the cosine silhouette for each k tried by the k search; the chosen k stands out."""
    ks = sorted(scores)
    fig = go.Figure(go.Bar(
        x=[str(k) for k in ks], y=[scores[k] for k in ks],
        marker_color=["#d62728" if k == chosen else "#9ecae1" for k in ks],
        hovertemplate="k = %{x}<br>silhouette %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title=hover_text(title, 120), xaxis_title="k (clusters)", yaxis_title="cosine silhouette",
        height=260, margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


# --- Search -----------------------------------------------------------------------------------


def search_similarity_bars(labels: list[str], similarities: list[float], threshold: float,
                           texts: list[str]) -> go.Figure:
    """Similarity of each result (best at the top); results under the threshold in grey.

    Args:
        labels: (k,) short labels such as "#1 leave.md"; escaped here.
        similarities: (k,) 1 - cosine distance.
        threshold: the collection's threshold, drawn as a dashed line.
        texts: (k,) chunk texts for the hover; escaped here.
    """
    colours = ["#4c78a8" if s >= threshold else "#c7c7c7" for s in similarities]
    fig = go.Figure(
        go.Bar(
            x=list(similarities),
            y=[html.escape(label) for label in labels],
            orientation="h",
            marker_color=colours,
            customdata=[hover_text(t) for t in texts],
            hovertemplate="%{y}<br>similarity %{x:.3f}<br>%{customdata}<extra></extra>",
        )
    )
    fig.add_vline(x=threshold, line_dash="dash", line_color="#d62728", annotation_text=f"threshold {threshold:.2f}",
                  annotation_position="bottom right")
    low = min([*similarities, threshold]) if similarities else 0.0
    fig.update_layout(
        title="Similarity of each result", xaxis_title="similarity (1 - cosine distance)",
        xaxis_range=[max(-1.0, low - 0.05), 1.0], yaxis_autorange="reversed",
        height=120 + 28 * max(len(labels), 1), margin={"l": 10, "r": 20, "t": 50, "b": 40},
    )
    return fig


def search_rank_moves(rows: list[tuple[str, int | None, int | None]], left: str, right: str) -> go.Figure:
    """Slope chart of rank changes between two rankings (e.g. embedding -> rerank).

    Args:
        rows: (label, rank on the left or None, rank on the right or None); labels escaped here.
            An item missing on one side is drawn at the bottom, hollow.
    """
    ranks = [r for _, a, b in rows for r in (a, b) if r is not None]
    bottom = (max(ranks) if ranks else 1) + 1
    fig = go.Figure()
    for label, a, b in rows:
        ys = [a if a is not None else bottom, b if b is not None else bottom]
        moved = a is not None and b is not None and a != b
        fig.add_trace(
            go.Scatter(
                x=[left, right], y=ys, mode="lines+markers",
                line={"color": "#d62728" if moved else "#9aa0a6", "width": 2},
                marker={"size": 9, "symbol": ["circle" if a is not None else "circle-open",
                                              "circle" if b is not None else "circle-open"]},
                name=html.escape(label[:40]), showlegend=False,
                hovertemplate=hover_text(label, 160) + "<br>rank %{y}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Rank moves: {html.escape(left)} → {html.escape(right)}",
        yaxis={"autorange": "reversed", "title": "rank", "dtick": 1},
        height=360, margin={"l": 40, "r": 20, "t": 50, "b": 40},
    )
    return fig


# --- Evaluate ---------------------------------------------------------------------------------

EVAL_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def eval_metric_bars(table: pd.DataFrame) -> go.Figure:
    """Grouped bars: one group per metric, one bar per configuration (rows of results_table)."""
    fig = go.Figure()
    for _, row in table.iterrows():
        name = hover_text(str(row["configuration"]), 120)
        fig.add_bar(
            name=name,
            x=list(EVAL_METRICS),
            y=[float(row[m]) for m in EVAL_METRICS],
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


# --- Benchmark --------------------------------------------------------------------------------


def latency_vs_batch(frame: pd.DataFrame, target_ms: float | None = None, percentile: str = "p95_ms") -> go.Figure:
    """Latency percentile per request against batch size, one line per (length, concurrency).

    Args:
        frame: embedlab.benchmark.to_frame output.
        target_ms: draws a dashed horizontal target line (e.g. the "P95 < 50 ms" claim).
    """
    fig = go.Figure()
    for (length, conc), group in frame.sort_values("batch_size").groupby(["length", "concurrency"], sort=False):
        fig.add_trace(go.Scatter(
            x=group["batch_size"], y=group[percentile], mode="lines+markers",
            name=f"{length}, {conc} in flight",
            hovertemplate=f"{length} · concurrency {conc}<br>batch %{{x}}<br>{percentile[:3].upper()} %{{y:.1f}} ms<extra></extra>",
        ))
    if target_ms:
        fig.add_hline(y=target_ms, line_dash="dash", line_color="crimson",
                      annotation_text=f"target {target_ms:g} ms", annotation_position="top left")
    fig.update_xaxes(title="batch size (texts per request)", type="log", tickvals=sorted(frame["batch_size"].unique()))
    fig.update_yaxes(title=f"{percentile[:3].upper()} latency per request (ms)", rangemode="tozero")
    fig.update_layout(title="Latency vs batch size", legend_title="input, concurrency", height=420)
    return fig


def throughput_vs_concurrency(frame: pd.DataFrame, metric: str = "texts_per_s") -> go.Figure:
    """Throughput against requests in flight, one line per (length, batch size)."""
    fig = go.Figure()
    label = "texts/s" if metric == "texts_per_s" else "tokens/s"
    for (length, batch), group in frame.sort_values("concurrency").groupby(["length", "batch_size"], sort=False):
        fig.add_trace(go.Scatter(
            x=group["concurrency"], y=group[metric], mode="lines+markers",
            name=f"{length}, batch {batch}",
            hovertemplate=f"{length} · batch {batch}<br>concurrency %{{x}}<br>%{{y:,.1f}} {label}<extra></extra>",
        ))
    fig.update_xaxes(title="requests in flight", type="log", tickvals=sorted(frame["concurrency"].unique()))
    fig.update_yaxes(title=label, rangemode="tozero")
    fig.update_layout(title=f"Throughput ({label}) vs concurrency", legend_title="input, batch", height=420)
    return fig


# --- Server check -------------------------------------------------------------------------------


def identity_heatmaps(measured: object, reference: object, queries: list[str], documents: list[str]) -> go.Figure:
    """The server's query x document scores beside the published ones, on one colour scale.

    Args:
        measured, reference: (n_queries, n_documents) cosine similarities.
        queries, documents: the texts (shown shortened on the axes, whole in the hover).
    """
    from plotly.subplots import make_subplots

    from embedlab.text import short_labels

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


# --- Retrieval levers: threshold calibration, per-query rank changes -----------------------------

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
