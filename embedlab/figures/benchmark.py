"""The Benchmark page's figures: latency against batch size, throughput against concurrency.

Latency spans orders of magnitude between a 16-token text alone and 128 long ones, so its axis is
logarithmic; every tick is written out in plain numbers (no SI suffixes such as "1k").
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go

from embedlab.benchmark import LENGTH_LABELS
from embedlab.messages import N_

Gettext = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _length(name: str, gettext: Gettext) -> str:
    return gettext(LENGTH_LABELS.get(name, name))


def plain_log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis from `low` to `high` (> 0): 1, 2, 5 per decade,
    written as plain numbers with thousands separators ("0.5", "20", "1,000")."""
    values: list[float] = []
    decade = 10.0 ** _floor_log10(low)
    while decade <= high * 10:
        values += [decade * f for f in (1, 2, 5) if low / 2 <= decade * f <= high * 2]
        decade *= 10
    return values, [f"{v:,.10g}" if v >= 1 else f"{v:.10g}" for v in values]


def _floor_log10(value: float) -> int:
    exponent = 0
    while 10.0 ** exponent > value:
        exponent -= 1
    while 10.0 ** (exponent + 1) <= value:
        exponent += 1
    return exponent


def latency_vs_batch(frame: pd.DataFrame, target_ms: float | None = None, percentile: str = "p95_ms",
                     gettext: Gettext = _same) -> go.Figure:
    """Latency percentile per request against batch size (both axes logarithmic), one line per
    (length, concurrency).

    Args:
        frame: embedlab.benchmark.to_frame output (rows that answered at least one request).
        target_ms: draws a dashed horizontal target line (e.g. the "P95 < 50 ms" claim).
        gettext: translates the figure's texts (the page passes the session's language).
    """
    pct = percentile[:3].upper()
    fig = go.Figure()
    for (length, conc), group in frame.sort_values("batch_size").groupby(["length", "concurrency"], sort=False):
        name = gettext(N_("{length}, {n} in flight")).format(length=_length(length, gettext), n=conc)
        fig.add_trace(go.Scatter(
            x=group["batch_size"], y=group[percentile], mode="lines+markers", name=name,
            hovertemplate=name + "<br>" + gettext(N_("batch size {x}")).format(x="%{x}") + "<br>"
            + f"{pct} %{{y:,.1f}} ms<extra></extra>",
        ))
    values = [float(v) for v in frame[percentile] if pd.notna(v) and v > 0]
    if target_ms:
        values.append(float(target_ms))
        # A trace, not a shape: shapes on a log axis take log10 coordinates.
        batches = sorted(frame["batch_size"].unique())
        fig.add_trace(go.Scatter(
            x=[batches[0], batches[-1]] if batches else [], y=[target_ms, target_ms], mode="lines",
            line={"dash": "dash", "color": "crimson"}, hoverinfo="skip",
            name=gettext(N_("target {ms} ms")).format(ms=f"{target_ms:,g}"),
        ))
    if values:
        tickvals, ticktext = plain_log_ticks(min(values), max(values))
        fig.update_yaxes(tickvals=tickvals, ticktext=ticktext)
    fig.update_xaxes(title=gettext(N_("batch size (texts per request)")), type="log",
                     tickvals=sorted(frame["batch_size"].unique()))
    fig.update_yaxes(title=gettext(N_("{pct} latency per request (ms, log scale)")).format(pct=pct), type="log")
    fig.update_layout(title=gettext(N_("Latency vs batch size")), legend_title=gettext(N_("input, requests in flight")),
                      height=420)
    return fig


def throughput_vs_concurrency(frame: pd.DataFrame, metric: str = "texts_per_s", gettext: Gettext = _same) -> go.Figure:
    """Throughput against requests in flight, one line per (length, batch size)."""
    fig = go.Figure()
    label = gettext(N_("texts/s")) if metric == "texts_per_s" else gettext(N_("tokens/s"))
    for (length, batch), group in frame.sort_values("concurrency").groupby(["length", "batch_size"], sort=False):
        name = gettext(N_("{length}, batch {batch}")).format(length=_length(length, gettext), batch=batch)
        fig.add_trace(go.Scatter(
            x=group["concurrency"], y=group[metric], mode="lines+markers", name=name,
            hovertemplate=name + "<br>" + gettext(N_("{x} in flight")).format(x="%{x}") + f"<br>%{{y:,.1f}} {label}"
            + "<extra></extra>",
        ))
    fig.update_xaxes(title=gettext(N_("requests in flight")), type="log", tickvals=sorted(frame["concurrency"].unique()))
    fig.update_yaxes(title=label, rangemode="tozero", tickformat=",~r", exponentformat="none")
    fig.update_layout(title=gettext(N_("Throughput ({unit}) vs requests in flight")).format(unit=label),
                      legend_title=gettext(N_("input, batch size")), height=420)
    return fig
