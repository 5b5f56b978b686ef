"""What a user picks on a Clusters map, drawn over a map from `maps.umap_map`: the texts selected
on one map (ringed on both, the rest dimmed) and a picked text with its nearest neighbours.

The traces added here carry no row ids (customdata) and no hover of their own, so a box, lasso or
click on a map still reaches the texts under them, each once.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from embedlab.figures.hover import hover_text
from embedlab.figures.maps import _scatter

SELECTION_COLOUR = "#111111"
PICK_COLOUR = "#e6007e"  # magenta: no topic colour, and apart from the red search rings
DIMMED = 0.25  # opacity of the texts outside a selection


def text_traces(fig: go.Figure) -> list:
    """The traces of a map that hold texts: their customdata are row indices (>= 0)."""
    return [t for t in fig.data
            if t.customdata is not None and len(t.customdata) and np.min(np.asarray(t.customdata)) >= 0]


def add_selection(fig: go.Figure, points: np.ndarray, name: str) -> None:
    """Ring the selected texts (`points`: (m, 2|3) map positions) in a trace named `name` (user
    text, escaped here) and dim the other texts, so the selection reads at any size."""
    for trace in text_traces(fig):
        trace.marker.opacity = DIMMED
    three_d = points.shape[1] == 3
    marker = ({"size": 5, "color": SELECTION_COLOUR, "symbol": "circle-open"} if three_d else
              {"size": 12, "color": SELECTION_COLOUR, "symbol": "circle-open", "line": {"width": 2}})
    fig.add_trace(_scatter(points, marker, go.Scatter, mode="markers", name=hover_text(name, 60), hoverinfo="skip"))


def add_pick(fig: go.Figure, picked: np.ndarray, neighbours: np.ndarray, picked_name: str,
             neighbours_name: str) -> None:
    """Mark a picked text and its nearest neighbours on a map.

    Args:
        picked: (2|3,) map position of the picked text, drawn as a large diamond.
        neighbours: (k, 2|3) map positions of its neighbours, ringed (k may be 0).
        picked_name, neighbours_name: legend entries (user text allowed: escaped here).
    """
    three_d = picked.shape[0] == 3
    ring = ({"size": 7, "color": PICK_COLOUR, "symbol": "circle-open"} if three_d else
            {"size": 15, "color": PICK_COLOUR, "symbol": "circle-open", "line": {"width": 3}})
    if len(neighbours):
        fig.add_trace(_scatter(neighbours, ring, go.Scatter, mode="markers", name=hover_text(neighbours_name, 40),
                               hoverinfo="skip"))
    big = ({"size": 9, "color": PICK_COLOUR, "symbol": "diamond", "line": {"width": 1, "color": "black"}}
           if three_d else
           {"size": 22, "color": PICK_COLOUR, "symbol": "diamond", "line": {"width": 2, "color": "black"}})
    fig.add_trace(_scatter(picked.reshape(1, -1), big, go.Scatter, mode="markers", name=hover_text(picked_name, 40),
                           hoverinfo="skip"))
