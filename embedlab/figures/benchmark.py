"""The Benchmark page's figures: latency against batch size, throughput against concurrency."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


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
