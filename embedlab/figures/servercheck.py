"""The Server check page's figures: the model card's scores beside the server's, the truncation probe."""

from __future__ import annotations

import html
import math
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from embedlab.figures.hover import wrapped_hover
from embedlab.messages import N_
from embedlab.text import short_labels

Gettext = Callable[[str], str]
CHANGE_FLOOR = 1e-9  # 1 - cos below this is drawn at it: float rounding, not a change
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _same(text: str) -> str:
    return text


def power_of_ten(exponent: int) -> str:
    """10**exponent written plainly: "1", "0.1", "0.01", "0.001", then "10⁻⁴", "10⁻⁵", ..."""
    if -3 <= exponent <= 0:
        return f"{10.0 ** exponent:g}"
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def format_change(value: float | None) -> str:
    """1 − cosine for a table: "" when not measured, "0" below CHANGE_FLOOR, decimals down to
    0.001, then two significant digits times a power of ten ("3.2 × 10⁻⁶")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value < CHANGE_FLOOR:
        return "0"
    if value >= 1e-3:
        return f"{value:.4f}".rstrip("0").rstrip(".")
    exponent = math.floor(math.log10(value))
    mantissa = value / 10.0 ** exponent
    if round(mantissa, 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.1f} × {power_of_ten(exponent)}"


def token_ticks(values: list[int]) -> tuple[list[int], list[str]]:
    """Powers of two covering `values` as x ticks of a log axis, written "256", "1,024", "32,768"."""
    if not values:
        return [], []
    ticks, t = [], 1 << max(0, int(math.log2(max(1, min(values)))))
    while t < max(values) * 2:
        ticks.append(t)
        t *= 2
    return ticks, [f"{t:,}" for t in ticks]


def identity_heatmaps(measured: object, reference: object, queries: list[str], documents: list[str],
                      gettext: Gettext = _same) -> go.Figure:
    """The server's query x document scores beside the published ones, on one colour scale.

    Args:
        measured, reference: (n_queries, n_documents) cosine similarities.
        queries, documents: the texts (shown shortened on the axes, whole in the hover).
        gettext: translates the figure's texts (the page passes the session's language).
    """
    panels = [(gettext(N_("This server")), np.asarray(measured, dtype=float)),
              (gettext(N_("Published (model card)")), np.asarray(reference, dtype=float))]
    score = gettext(N_("score"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.06)
    x = [html.escape(s) for s in short_labels(documents, "D", 24)]
    y = [html.escape(s) for s in short_labels(queries, "Q", 24)]
    hover = [[f"{wrapped_hover(q, 60)}<br>×<br>{wrapped_hover(d, 60)}" for d in documents] for q in queries]
    for col, (name, matrix) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(
            z=matrix, x=x, y=y, zmin=0.0, zmax=1.0, colorscale="Blues", showscale=col == 2,
            text=[[f"{v:.4f}" for v in row] for row in matrix], texttemplate="%{text}", customdata=hover,
            hovertemplate=f"{name}<br>%{{customdata}}<br>{score} %{{z:.4f}}<extra></extra>",
        ), row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(showticklabels=False, row=1, col=2)  # the same queries as on the left
    fig.update_layout(title=gettext(N_("Model-card example: query × document scores")), height=360)
    return fig


def truncation_probe(probes: list[dict], model_context: int, effective_context: int | None = None,
                     gettext: Gettext = _same) -> go.Figure:
    """How much each longer prefix changed the vector (1 − cosine to the previous length).

    Args:
        probes: rows with "tokens", "answer" and "change" (None for refused or first requests).
        model_context: the tokens the model accepts (a dashed line).
        effective_context: where this server stops reading, when found (a red line).
        gettext: translates the figure's texts; `answer` texts are shown as given (the page
            passes them translated).

    Both axes are logarithmic with plain tick labels: token counts as powers of two ("1,024"), the
    change as powers of ten ("0.01", "10⁻⁶"); changes below CHANGE_FLOOR are drawn at it.
    """
    fig = go.Figure()
    embedded = [p for p in probes if p.get("change") is not None]
    refused = [p for p in probes if p.get("refused") or str(p.get("answer", "")).startswith("refused")]
    tokens_word = gettext(N_("{n} tokens"))
    changes = [max(float(p["change"]), CHANGE_FLOOR) for p in embedded]
    fig.add_trace(go.Scatter(
        x=[p["tokens"] for p in embedded], y=changes, mode="markers", name=gettext(N_("embedded")),
        customdata=[[tokens_word.format(n=f"{p['tokens']:,}"), html.escape(str(p["answer"])),
                     format_change(float(p["change"]))] for p in embedded],
        hovertemplate="%{customdata[0]}: %{customdata[1]}<br>1 − cos %{customdata[2]}<extra></extra>",
    ))
    if refused:
        fig.add_trace(go.Scatter(
            x=[p["tokens"] for p in refused], y=[1.0] * len(refused), mode="markers", name=gettext(N_("refused")),
            marker={"symbol": "x", "size": 11, "color": "crimson"},
            customdata=[[tokens_word.format(n=f"{p['tokens']:,}"), html.escape(str(p["answer"]))] for p in refused],
            hovertemplate="%{customdata[0]}: %{customdata[1]}<extra></extra>",
        ))
    fig.add_vline(x=model_context, line_dash="dash", line_color="grey",
                  annotation_text=gettext(N_("model context {n}")).format(n=f"{model_context:,}"),
                  annotation_position="top left")
    if effective_context:
        fig.add_vline(x=effective_context, line_color="crimson",
                      annotation_text=gettext(N_("server reads {n}")).format(n=f"{effective_context:,}"),
                      annotation_position="bottom right")
    xs = [int(p["tokens"]) for p in probes] + [model_context]
    tickvals, ticktext = token_ticks(xs)
    fig.update_xaxes(title=gettext(N_("prefix length (exact Qwen tokens)")), type="log", tickvals=tickvals,
                     ticktext=ticktext)
    low = min([*changes, 1.0])
    exponents = range(math.floor(math.log10(low)), 1)
    fig.update_yaxes(title=gettext(N_("1 − cosine to the previous probe (log scale)")), type="log",
                     tickvals=[10.0 ** e for e in exponents], ticktext=[power_of_ten(e) for e in exponents])
    fig.update_layout(title=gettext(N_("Truncation probe: does a longer input still change the vector?")), height=380)
    return fig
