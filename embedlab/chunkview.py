"""What the Chunking page shows: the coloured chunk view (like ChunkViz), the token view, and the
sentences about where a document's context marks fall. Every piece of document text is escaped.

The document is cut at every chunk start/end and token mark into segments; a segment covered by
one chunk gets that chunk's colour, one covered by two (an overlap) gets both colours in stripes,
one covered by none (whitespace between chunks) stays plain. The result is a few spans per chunk,
not per token, so 50,000-token documents with hundreds of chunks stay light for the browser.
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Callable, Sequence

from embedlab.chunking import CONTEXT_MARKS, POOLING, WHOLE_DOCUMENT, Chunk
from embedlab.messages import N_, Message

PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")
HIGHLIGHT = "#d62728"


def chunk_colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _background(covering: list[int]) -> str:
    if len(covering) == 1:
        return f"background:{chunk_colour(covering[0])};"
    # Overlap: stripes of the chunks sharing the text.
    stops, width = [], 6
    for k, i in enumerate(covering):
        stops.append(f"{chunk_colour(i)} {k * width}px {(k + 1) * width}px")
    return f"background:repeating-linear-gradient(135deg,{','.join(stops)});"


def _mark_badge(limit: int, gettext: Callable[[str], str]) -> str:
    title = html.escape(gettext(N_("token {limit:,} starts here")).format(limit=limit))
    text = html.escape(gettext(N_("▼ {limit:,} tokens")).format(limit=limit))
    return (
        f'<span class="ev-mark" title="{title}" style="background:{HIGHLIGHT};color:#fff;'
        f'border-radius:3px;padding:0 4px;margin:0 2px;font-size:0.75em;font-weight:600;">{text}</span>'
    )


def chunk_html(
    text: str,
    chunks: Sequence[Chunk],
    marks: dict[int, int] | None = None,
    selected: int | None = None,
    max_height_px: int = 480,
    span: tuple[int, int] | None = None,
    dim_others: bool = True,
    gettext: Callable[[str], str] = str,
) -> str:
    """The document with chunks coloured, overlaps striped and token marks inserted.

    Args:
        text: the document (escaped here; never trusted).
        chunks: spans over `text`, in order.
        marks: token limit -> character offset where that token starts (e.g. {2048: 10234}).
        selected: index of a chunk to highlight (others are dimmed), or None.
        max_height_px: height of the scrolling box.
        span: draw only text[a:b] (e.g. one chunk, with its shared parts striped).
        dim_others: with `selected`, fade the other chunks.
        gettext: translates the marks' labels.
    """
    marks = marks or {}
    lo, hi = span if span is not None else (0, len(text))
    points = {lo, hi, *(c.start for c in chunks), *(c.end for c in chunks), *marks.values()}
    cuts = sorted(p for p in points if lo <= p <= hi)
    mark_at: dict[int, list[int]] = {}
    for limit, pos in sorted(marks.items()):
        mark_at.setdefault(pos, []).append(limit)
    chunk_starts = [c.start for c in chunks]
    parts = [
        f'<div class="ev-chunks" style="white-space:pre-wrap;word-break:break-word;line-height:1.7;'
        f'font-size:0.9rem;max-height:{max_height_px}px;overflow-y:auto;border:1px solid #ddd;'
        f'border-radius:6px;padding:10px;background:#fff;color:#222;">'
    ]
    for a, b in zip(cuts, cuts[1:], strict=False):
        for limit in mark_at.get(a, []):
            parts.append(_mark_badge(limit, gettext))
        if a < b:
            parts.append(_segment_html(text, chunks, chunk_starts, a, b, selected, dim_others))
    for limit in mark_at.get(hi, []) if hi == len(text) else []:
        parts.append(_mark_badge(limit, gettext))
    parts.append("</div>")
    return "".join(parts)


def _segment_html(text: str, chunks: Sequence[Chunk], chunk_starts: list[int], a: int, b: int,
                  selected: int | None, dim_others: bool) -> str:
    """text[a:b], escaped, in the colours of the chunks covering it (plain when none does)."""
    # Starts and ends both increase, so the chunks covering [a, b) are the run just before
    # the first chunk starting after `a`, back to the first that ends by `a`.
    covering, i = [], bisect.bisect_right(chunk_starts, a) - 1
    while i >= 0 and chunks[i].end > a:
        covering.append(i)
        i -= 1
    covering.reverse()
    piece = html.escape(text[a:b])
    if not covering:
        return piece
    style = _background(covering)
    if selected is not None:
        if selected in covering:
            style += f"text-decoration:underline 2px {HIGHLIGHT};text-underline-offset:3px;font-weight:600;"
        elif dim_others:
            style += "opacity:0.35;"
    ids = " ".join(str(i) for i in covering)
    kind = "ev-overlap" if len(covering) > 1 else "ev-chunk"
    return f'<span class="{kind}" data-chunks="{ids}" style="{style}">{piece}</span>'


def tokens_html(pieces: Sequence[str], max_height_px: int = 260) -> str:
    """Tokens side by side in alternating colours (a token view); pieces are escaped here."""
    colours = ("#e8f0fe", "#fde8e8")
    spans = [
        f'<span style="background:{colours[i % 2]};border-radius:2px;">{html.escape(p)}</span>'
        for i, p in enumerate(pieces)
    ]
    return (
        f'<div class="ev-tokens" style="white-space:pre-wrap;word-break:break-word;line-height:1.8;'
        f'font-family:monospace;font-size:0.85rem;max-height:{max_height_px}px;overflow-y:auto;'
        f'border:1px solid #ddd;border-radius:6px;padding:8px;background:#fff;color:#222;">{"".join(spans)}</div>'
    )


def first_token_pieces(text: str, starts: Sequence[int], limit: int = 400) -> list[str]:
    """Text of each of the first `limit` tokens (`starts`: character offset of every token), cut
    at character starts (a character split over several byte tokens is shown once)."""
    n = min(limit, len(starts))
    bounds = [int(s) for s in starts[:n]] + [int(starts[n]) if n < len(starts) else len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def marks_sentence(n_chars: int, marks: dict[int, int], limits: Sequence[int] = CONTEXT_MARKS,
                   gettext: Callable[[str], str] = str) -> str:
    """Markdown saying where each context mark falls, e.g. "token **2,048** starts at character 9,876
    (23% of the text)", or that the text ends before it, in the language of `gettext`.

    Args:
        n_chars: length of the document in characters.
        marks: token limit -> character offset where that token starts (`TokenIndex.marks()`).
        limits: the marks to describe, in order.
    """
    parts = []
    for limit in limits:
        if limit in marks:
            pos = marks[limit]
            parts.append(gettext(N_("token **{limit:,}** starts at character {pos:,} ({share:.0%} of the text)"))
                         .format(limit=limit, pos=pos, share=pos / max(n_chars, 1)))
        else:
            parts.append(gettext(N_("the text ends before token **{limit:,}**")).format(limit=limit))
    separator = gettext(N_("; "))  # between the marks: Chinese uses its own semicolon
    return gettext(N_("Marked in the view below (▼): {marks}.")).format(marks=separator.join(parts))


def length_advice(n_tokens: int) -> tuple[str, Message] | None:
    """("warning" or "info", message) about embedding a text of `n_tokens` as one input; None when short."""
    if n_tokens > 32_768:
        return ("warning", Message(N_("This text is longer than the 32,768 tokens the model accepts as one input: "
                                      "as a whole it would be cut off or rejected.")))
    if n_tokens > 8_192:
        return "warning", Message(N_("Past about 8,192 tokens the beginning and end of a single input fade: split it."))
    if n_tokens > 2_048:
        return "info", Message(N_("Past about 2,048 tokens embedding quality starts to drop: chunking helps."))
    return None


def pooling_verdict(scores: dict[str, float], doc_tokens: int, whole_tokens: int,
                    decimals: int = 4) -> list[Message]:
    """What the four whole-document scores of one match say, every claim decided by the numbers.

    Scores are compared as shown (rounded to `decimals`), so a sentence never contradicts the table.

    Args:
        scores: cosine similarity per pooling, keys as in chunking.POOLING.
        doc_tokens: tokens of the whole document.
        whole_tokens: tokens of the whole-document input (the document cut at the page's limit).
    """
    shown = {k: round(float(scores[k]), decimals) for k in POOLING}
    names = {k: Message(v) for k, v in POOLING.items()}
    names["document"] = Message(WHOLE_DOCUMENT, {"n": whole_tokens})
    top, bottom = max(shown, key=shown.__getitem__), min(shown, key=shown.__getitem__)
    if shown[top] == shown[bottom]:
        sentences = [Message(N_("All four ways score the same here ({score:.4f})."), {"score": shown[top]})]
    else:
        sentences = [Message(N_("Here “{top}” scores highest ({top_score:.4f}) and “{bottom}” lowest ({bottom_score:.4f})."),
                             {"top": names[top], "top_score": shown[top],
                              "bottom": names[bottom], "bottom_score": shown[bottom]})]
    best, mean = shown["best"], shown["mean"]
    gap = {"gap": round(abs(best - mean), decimals), "best": best, "mean": mean}
    if best > mean:
        sentences.append(Message(N_("The best chunk scores {gap:.4f} higher than the mean of the chunk vectors: "
                                    "averaging dilutes the closest passage with the rest of the document."), gap))
    elif mean > best:
        sentences.append(Message(N_("The mean of the chunk vectors scores {gap:.4f} higher than the best chunk: "
                                    "for this query the chunks together come closer than any single passage."), gap))
    else:
        sentences.append(Message(N_("The best chunk and the mean of the chunk vectors score the same ({best:.4f})."),
                                 gap))
    if doc_tokens > whole_tokens:
        sentences.append(Message(N_("The whole-document input is cut at {n:,} tokens: it never sees the last "
                                    "{rest:,} tokens of the text."), {"n": whole_tokens, "rest": doc_tokens - whole_tokens}))
    else:
        sentences.append(Message(N_("The whole document ({n:,} tokens) fits in one input: nothing is cut."),
                                 {"n": whole_tokens}))
    return sentences
