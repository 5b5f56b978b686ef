"""The Clusters page's figures: UMAP maps (2-D or 3-D, one trace per group) and the k search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from embedlab.figures.hover import hover_text

# Qualitative colours for topics and clusters; noise (HDBSCAN's -1) is grey.
MAP_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#e7969c", "#637939", "#8c6d31", "#843c39", "#7b4173",
    "#3182bd", "#31a354", "#756bb1", "#636363",
)
NOISE_COLOUR = "#c7c7c7"
SVG_POINT_LIMIT = 1_500  # above this, WebGL traces (SVG makes one DOM node per point)


def group_colours(groups: list[str], noise: str = "noise", other: str | None = None) -> dict[str, str]:
    """A stable colour per group name (first-seen order), so two maps colour a topic alike; the
    `noise` group and the merged `other` group (see mapdata.top_groups) are grey."""
    colours: dict[str, str] = {}
    palette = iter(MAP_PALETTE * (len(groups) // len(MAP_PALETTE) + 1))
    for group in dict.fromkeys(groups):
        colours[group] = NOISE_COLOUR if group in (noise, other) else next(palette)
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
    queries_name: str = "your queries",
    query_prefix: str = "Query: ",
) -> go.Figure:
    """A 2-D or 3-D scatter of a UMAP map, one trace per group (legend toggles topics).

    Args:
        coords: (n, 2) or (n, 3) map coordinates.
        texts, groups: length n; groups name the colour (topic or cluster). Both are user text
            and are escaped here.
        title: plain text (escaped here).
        query_coords: (m, 2|3) positions of user queries, drawn as black stars / diamonds.
        details: optional length-n extra hover line per point (plain text, escaped here).
        queries_name, query_prefix: the queries' legend entry and hover prefix (translated by the caller).

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
        hover = point_hovers(texts, group, details, rows)
        colour = colours.get(group, NOISE_COLOUR)
        marker = {"size": 3 if three_d else 6 if big else 8, "color": colour, "opacity": 0.8}
        fig.add_trace(_scatter(coords[rows], marker, go.Scattergl if big else go.Scatter, mode="markers",
                               name=hover_text(group, 40), customdata=rows, hovertext=hover,
                               hovertemplate="%{hovertext}<extra></extra>"))
    if query_coords is not None and queries and len(query_coords):
        marker = ({"size": 7, "color": "black", "symbol": "diamond"} if three_d else
                  {"size": 18, "color": "black", "symbol": "star", "line": {"width": 1, "color": "white"}})
        fig.add_trace(_scatter(query_coords, marker, go.Scatter, mode="markers+text", name=queries_name,
                               text=[hover_text(q, 30) for q in queries],
                               textposition=label_positions(query_coords, coords),
                               customdata=-1 - np.arange(len(queries)),
                               hovertext=[query_prefix + hover_text(q) for q in queries],
                               hovertemplate="%{hovertext}<extra></extra>"))
        if not three_d:
            fig.data[-1].cliponaxis = False  # a label may reach past the axes into the margin
    _map_layout(fig, title, three_d)
    return fig


def label_positions(points: np.ndarray, coords: np.ndarray, edge: float = 0.2) -> list[str]:
    """Where each query's label goes so that it stays inside the map: above the star, below it in
    the top tenth, and towards the middle when the star sits in the outer `edge` share left or right.

    Args:
        points: (m, 2|3) query positions. coords: (n, 2|3) the map's points (they set the axes).
    """
    everything = np.vstack([coords[:, :2], points[:, :2]]) if len(coords) else points[:, :2]
    low, high = everything.min(axis=0), everything.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    share = (points[:, :2] - low) / span
    positions = []
    for x, y in share:
        vertical = "bottom" if y > 0.9 else "top"
        horizontal = "right" if x < edge else "left" if x > 1 - edge else "center"
        positions.append(f"{vertical} {horizontal}")
    return positions
HOVER_BUDGET = 6_000_000  # characters of point text one map sends for its hover labels, at most


def point_hovers(texts: list[str], group: str, details: list[str] | None, rows: np.ndarray) -> list[str]:
    """The hover labels of `rows` (escaped): text, group and detail line. Each text is cut to
    300 characters, fewer on large maps so that a map's hover text stays within HOVER_BUDGET
    characters (60 at 100,000 points): the figure is sent to the browser on every rerun."""
    limit = max(60, min(300, HOVER_BUDGET // max(len(texts), 1)))
    tail = "<br><i>" + hover_text(group, min(80, limit)) + "</i>"
    if not details:
        return [hover_text(texts[i], limit) + tail for i in rows]
    return [hover_text(texts[i], limit) + tail + "<br>" + hover_text(details[i], min(120, limit)) for i in rows]


def _map_layout(fig: go.Figure, title: str, three_d: bool) -> None:
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


def _scatter(points: np.ndarray, marker: dict, trace_2d: type, **common: object) -> go.Scatter3d | go.Scatter:
    """A scatter trace of (n, 3) points in 3-D, else of (n, 2) points as `trace_2d`."""
    if points.shape[1] == 3:
        return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], marker=marker, **common)
    return trace_2d(x=points[:, 0], y=points[:, 1], marker=marker, **common)


def silhouette_by_k(scores: dict[int, float], chosen: int, title: str, x_title: str = "k (clusters)",
                    y_title: str = "cosine silhouette") -> go.Figure:
    """Bar chart of the cosine silhouette for each k tried by the k search; the chosen k stands out.
    `x_title`, `y_title`: axis titles (translated by the caller, our text: not escaped)."""
    ks = sorted(scores)
    fig = go.Figure(go.Bar(
        x=[str(k) for k in ks], y=[scores[k] for k in ks],
        marker_color=["#d62728" if k == chosen else "#9ecae1" for k in ks],
        hovertemplate="k = %{x}<br>" + y_title + " %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title=hover_text(title, 120), xaxis_title=x_title, yaxis_title=y_title,
        height=260, margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def add_cluster_names(fig: go.Figure, centres: dict[int, np.ndarray], names: dict[int, str]) -> None:
    """Write each found cluster's name (user-derived terms, escaped here) at its centre on a map
    from `umap_map`: annotations on a 2-D map, scene annotations on a 3-D one.

    Args:
        centres: cluster id -> (2,) or (3,) map position. names: cluster id -> its name.
    """
    style = {"showarrow": False, "font": {"size": 12, "color": "#222"}, "bgcolor": "rgba(255,255,255,0.75)",
             "borderpad": 2}
    notes = [{"x": float(centres[c][0]), "y": float(centres[c][1]), "text": hover_text(names[c], 60), **style}
             | ({"z": float(centres[c][2])} if len(centres[c]) == 3 else {})
             for c in centres if names.get(c)]
    if any("z" in n for n in notes):
        fig.update_layout(scene={"annotations": notes})
    else:
        fig.update_layout(annotations=notes)


def add_highlight(fig: go.Figure, points: np.ndarray, name: str) -> None:
    """Ring the `points` ((m, 2|3) map positions, e.g. the texts a search found) on a map from
    `umap_map`, in a trace of their own named `name` (user text, escaped here). The rings carry no
    row ids, so a selection lists each text once, and no hover of their own."""
    # An open symbol is stroked in the marker's colour, as wide as its line.
    marker = {"size": 16, "color": "#d62728", "symbol": "circle-open", "line": {"width": 2.5}}
    if points.shape[1] == 3:
        marker = {"size": 6, "color": "#d62728", "symbol": "circle-open"}
    fig.add_trace(_scatter(points, marker, go.Scatter, mode="markers", name=hover_text(name, 40), hoverinfo="skip"))


# A question's hits over a map: one marker symbol and line dash per retrieval mode (nested open
# shapes, so a chunk several modes retrieve shows each ring), coloured by relevance when known.
HIT_SYMBOLS = {"dense": "circle-open", "bm25": "square-open", "hybrid": "diamond-open"}
HIT_SIZES = {"dense": 20, "bm25": 14, "hybrid": 27}
HIT_DASHES = {"dense": "solid", "bm25": "dot", "hybrid": "dash"}
HIT_COLOURS = {True: "#2ca02c", False: "#d62728", None: "#7f7f7f"}  # relevant, not relevant, not known
RANK_SCALE = "Plasma"  # rank colours when nothing is known about relevance (rank 1 darkest)


@dataclass(frozen=True)
class HitLayer:
    """One retrieval mode's hits on a map (only those the map shows).

    mode: a key of HIT_SYMBOLS; name: its legend entry (translated by the caller);
    points: (m, 2|3) map positions; ranks: (m,) 1-based; relevant: (m,) True / False / None;
    hovers: (m,) plain text per hit (user text: escaped here).
    """

    mode: str
    name: str
    points: np.ndarray
    ranks: Sequence[int]
    relevant: Sequence[bool | None]
    hovers: Sequence[str]


def add_query_hits(fig: go.Figure, query_point: np.ndarray, query: str, layers: Sequence[HitLayer], *,
                   query_name: str, relevance_names: Mapping[bool | None, str] | None, rank_name: str, k: int,
                   webgl: bool = False) -> None:
    """Draw a question and its hits per retrieval mode on a map from `umap_map`.

    Args:
        query_point: (2,) or (3,) the question's map position; query: its text (escaped here), written
            next to a black star (a diamond in 3-D).
        layers: one per retrieval mode: thin lines from the question to each hit (the mode's dash)
            and a ring of the mode's symbol around each hit.
        relevance_names: legend names of the hit colours {True: relevant, False: not relevant,
            None: not known}, or None when nothing is known: the rings are then coloured by rank
            (1..k) with a colour bar titled `rank_name`.
        webgl: draw with WebGL traces (a map drawn with them covers SVG traces).
    The overlay traces carry no row ids (customdata), so a selection on the map lists texts only.
    """
    three_d = len(query_point) == 3
    trace_2d = go.Scattergl if webgl else go.Scatter
    origin = np.asarray(query_point, dtype=float).reshape(1, -1)
    for n, layer in enumerate(layers):
        pts = np.asarray(layer.points, dtype=float).reshape(-1, len(query_point))
        if not len(pts):
            continue
        # Segments query -> hit, separated by gaps (None: plain lists, as a typed array has no gaps).
        axes = [[v for p in pts for v in (float(origin[0, a]), float(p[a]), None)] for a in range(pts.shape[1])]
        line = {"color": "rgba(60,60,60,0.55)", "width": 1.2, "dash": HIT_DASHES[layer.mode]}
        common = {"mode": "lines", "legendgroup": layer.mode, "showlegend": False, "hoverinfo": "skip",
                  "name": hover_text(layer.name, 40), "line": line}
        fig.add_trace(go.Scatter3d(x=axes[0], y=axes[1], z=axes[2], **common) if three_d else
                      trace_2d(x=axes[0], y=axes[1], **common))
        if relevance_names is not None:
            colour: object = [HIT_COLOURS[r] for r in layer.relevant]
            extra: dict = {}
        else:
            colour = list(layer.ranks)
            extra = {"colorscale": RANK_SCALE, "cmin": 1, "cmax": max(k, 2), "showscale": n == 0,
                     "colorbar": {"title": {"text": rank_name}, "len": 0.5, "thickness": 12}}
        size = HIT_SIZES[layer.mode] // (2 if three_d else 1)
        marker = {"symbol": HIT_SYMBOLS[layer.mode], "size": size, "color": colour,
                  "line": {"width": 2.5, "color": colour}, **extra}
        if three_d:
            marker = {"symbol": HIT_SYMBOLS[layer.mode], "size": size, "color": colour, **extra}
        fig.add_trace(_scatter(pts, marker, trace_2d, mode="markers", name=hover_text(layer.name, 40),
                               legendgroup=layer.mode, hovertext=[hover_text(h) for h in layer.hovers],
                               hovertemplate="%{hovertext}<extra></extra>"))
    if relevance_names is not None:  # legend entries for the colours (no points of their own)
        for value, label in relevance_names.items():
            key = {"mode": "markers", "name": hover_text(label, 40), "hoverinfo": "skip",
                   "marker": {"symbol": "circle", "size": 10, "color": HIT_COLOURS[value]}}
            fig.add_trace(go.Scatter3d(x=[None], y=[None], z=[None], **key) if three_d else
                          trace_2d(x=[None], y=[None], **key))
    marker = ({"size": 7, "color": "black", "symbol": "diamond"} if three_d else
              {"size": 20, "color": "black", "symbol": "star", "line": {"width": 1, "color": "white"}})
    fig.add_trace(_scatter(origin, marker, trace_2d, mode="markers+text",
                           name=hover_text(query_name, 40), text=[hover_text(query, 30)],
                           textfont={"color": "#111", "size": 13},
                           textposition=label_positions(origin, _trace_points(fig)),
                           hovertext=[hover_text(query)], hovertemplate="%{hovertext}<extra></extra>"))
    if not three_d and not webgl:
        fig.data[-1].cliponaxis = False


def _trace_points(fig: go.Figure) -> np.ndarray:
    """(n, 2) the x, y of every point of the figure's traces (gaps left out), for label placement."""
    xs = [np.asarray(t.x, dtype=float) for t in fig.data if t.x is not None]
    ys = [np.asarray(t.y, dtype=float) for t in fig.data if t.y is not None]
    if not xs:
        return np.zeros((0, 2))
    points = np.column_stack([np.concatenate(xs), np.concatenate(ys)])
    return points[np.isfinite(points).all(axis=1)]
