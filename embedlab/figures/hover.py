"""User text made safe for plotly: hover labels and legends render HTML tags, so raw user text
could inject markup. Every builder passes user text through these."""

from __future__ import annotations

import html
import textwrap

from embedlab.text import clip


def hover_text(text: str, limit: int = 300) -> str:
    """User text made safe and short for a plotly hover label (escaped, newlines as <br>)."""
    return html.escape(clip(text, limit)).replace("\n", "<br>")


def wrapped_hover(text: str, width: int = 80, limit: int = 2000) -> str:
    """Full user text for a hover label: escaped, hard-wrapped to ~`width` characters per line
    (plotly does not wrap hover labels), cut only past `limit` characters."""
    short = clip(text, limit)
    lines = [
        part
        for line in short.splitlines() or [""]
        for part in (textwrap.wrap(line, width) if len(line) > width else [line])
    ]
    return "<br>".join(html.escape(line) for line in lines)
