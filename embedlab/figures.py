"""Plotly figure builders: pure functions, data in, go.Figure out.

User text shown in hovers or labels must be passed through `hover_text` (plotly renders HTML
tags in hover labels, so raw user text could inject markup).
"""

from __future__ import annotations

import html

import plotly.graph_objects as go  # noqa: F401 - used by the builders below


def hover_text(text: str, limit: int = 300) -> str:
    """User text made safe and short for a plotly hover label (escaped, newlines as <br>)."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(short).replace("\n", "<br>")


# --- Instruction Lab --------------------------------------------------------------------------

# --- Chunking ---------------------------------------------------------------------------------

# --- Clusters ---------------------------------------------------------------------------------

# --- Search -----------------------------------------------------------------------------------

# --- Evaluate ---------------------------------------------------------------------------------

# --- Benchmark --------------------------------------------------------------------------------
