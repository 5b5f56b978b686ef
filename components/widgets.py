"""Small widgets shared by pages: literal text, embedding with progress, error display (in the
session's language), downloads."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.i18n import _, tr
from embedlab.backends import EmbeddingError, InputRejected
from embedlab.cache import CachedEmbedder
from embedlab.local_model import LocalEmbedder
from embedlab.messages import LocalizedError, message_of
from embedlab.stores.base import StoreError
from embedlab.tokens import count_tokens

if TYPE_CHECKING:
    from components.page import PageContext

LOCAL_MODEL_BYTES = 2.4e9  # size of the fastembed ONNX export, for the download bar

_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every character Markdown lets a backslash escape
_LINE_BREAK = re.compile(r"\r\n?")
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
# What Streamlit's renderer rewrites in plain text, escapes or not: web addresses and e-mail addresses
# become links (GFM autolinks), :name: becomes an emoji or icon, "->" and friends become arrows.
_REWRITTEN = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?=@)|(?<=:)(?=[\w+-]+:)"
                        r"|(?<=(?<!\S)[<~>-])(?=[->=]\s|[->=]$|->\s|->$)")
WORD_JOINER = "\u2060"  # invisible, no width: splits the patterns above without changing what is seen


def literal(text: object) -> str:
    """`text` for an element that renders Markdown (alerts, captions, st.markdown, titles, labels,
    help, progress and status texts), shown character for character.

    The one way to put untrusted text (user input, file names, CSV headers, instruction and
    collection names, server answers and error bodies, model ids, URLs) into such an element: every
    ASCII punctuation character is backslash-escaped, so no image, link, HTML, LaTeX, emphasis,
    heading, list, table or Streamlit directive can form. The rewrites Streamlit applies to plain
    text after that (web and e-mail addresses to links, :shortcodes: to emoji, "->" to arrows) are
    split by an invisible word joiner (U+2060). Line breaks stay line breaks, and leading spaces stay
    spaces (not an indented code block). Elements that show text as it is (st.text, st.code,
    tables, select options) need no escaping.
    """
    joined = _REWRITTEN.sub(WORD_JOINER, _LINE_BREAK.sub("\n", str(text)))
    escaped = _ASCII_PUNCTUATION.sub(r"\\\1", joined)
    escaped = _INDENT.sub(lambda m: "".join(f"&#{ord(c)};" for c in m.group()), escaped)
    return escaped.replace("\n", "  \n")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def ensure_local_model(embedder: CachedEmbedder) -> bool:
    """Load the in-process model if needed, showing download progress; False on failure."""
    inner = embedder.inner
    if not isinstance(inner, LocalEmbedder) or inner.loaded:
        return True
    errors: list[BaseException] = []

    def load() -> None:
        try:
            inner.load()
        except BaseException as exc:  # noqa: BLE001 - reported below, in the script thread
            errors.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    with st.status(_("Loading Qwen3-Embedding-0.6B in-process (first use downloads 2.4 GB)...")) as box:
        bar = st.progress(0.0)
        start_bytes = _dir_bytes(inner.cache_dir)
        worker.start()
        while worker.is_alive():
            got = _dir_bytes(inner.cache_dir) - start_bytes
            bar.progress(min(got / LOCAL_MODEL_BYTES, 1.0), text=_("{size} GB downloaded").format(size=f"{got / 1e9:.2f}"))
            time.sleep(0.5)
        if errors:
            box.update(label=_("The local model could not be loaded"), state="error")
        else:
            box.update(label=_("Local model loaded"), state="complete")
    if errors:
        show_error(errors[0])  # outside the folded status box, so the way out is seen at once
        return False
    return True


def embed_with_progress(
    ctx: PageContext, texts: Sequence[str], label: str | None = None, names: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Embed through the cache with a progress bar; shows the error and returns None on failure.

    `label` (translated by the caller; default "Embedding") heads the progress bar. `names[i]` says
    what texts[i] is ("document 3"); with them, texts the server refused are listed by name, token
    count and first words.

    Returns:
        float32 (len(texts), dim), rows L2-normalised, or None.
    """
    embedder = ctx.embedder
    if not ensure_local_model(embedder):
        return None
    label = label or _("Embedding")
    bar = st.progress(0.0, text=_("{label}: {done} / {total}").format(label=label, done=0, total=len(texts)))

    def report(done: int, total: int) -> None:
        bar.progress(done / max(total, 1),
                     text=_("{label}: {done} / {total} unique texts").format(label=label, done=done, total=total))

    unsaved = embedder.cache.unsaved
    try:
        vectors = embedder.embed(list(texts), progress=report)
    except EmbeddingError as exc:
        bar.empty()
        ctx.refresh_cache_stats()  # texts accepted before the failure were cached
        _unsaved_warning(embedder, unsaved)
        show_error(exc)
        if isinstance(exc, InputRejected) and exc.indices and names is not None:
            _rejected_table(exc.indices, texts, names)
        return None
    bar.empty()
    ctx.refresh_cache_stats()
    _unsaved_warning(embedder, unsaved)
    return vectors


def _unsaved_warning(embedder: CachedEmbedder, before: int) -> None:
    """Say so when the cache could not keep what was just embedded (disk full)."""
    cache = embedder.cache
    if cache.unsaved > before:
        st.warning(literal(_(
            "The embedding cache could not save {n} new vector(s): {reason}. "
            "The results are complete, but those texts will be embedded again next time. Everything the "
            "cache held before is kept; caching resumes once {path} can be written again."
        ).format(n=f"{cache.unsaved - before:,}", reason=tr(cache.write_error) if cache.write_error else "",
                 path=cache.path)), icon=":material/warning:")


def _rejected_table(indices: Sequence[int], texts: Sequence[str], names: Sequence[str]) -> None:
    st.dataframe(pd.DataFrame([
        {_("input"): names[i], _("tokens"): count_tokens(texts[i]), _("starts with"): texts[i][:120]}
        for i in indices
    ]), hide_index=True)


def error_text(exc: BaseException) -> str:
    """The message of `exc` in the session's language: the logic package's errors carry a
    translatable message (embedlab.messages); any other error gives its own (English) text."""
    return tr(message_of(exc))


def show_error(exc: BaseException, context: str = "") -> None:
    """A user-facing error box in the session's language, `context` (what could not be done,
    translated by the caller) first when given, shown literally (messages quote server answers and
    user text). The logic package's errors carry messages written for users already; anything
    else is named as unexpected."""
    if isinstance(exc, LocalizedError):
        text = error_text(exc)
    else:
        text = _("Unexpected error: {error}").format(error=f"{type(exc).__name__}: {exc}")
    if context:
        text = _("{context}: {error}").format(context=context, error=text)
    icon = ":material/database:" if isinstance(exc, StoreError) else ":material/error:"
    st.error(literal(text), icon=icon)


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "export"


def download_table(df: pd.DataFrame, name: str, key: str, label: str | None = None) -> None:
    """A CSV download button for a result table (UTF-8 with BOM so Excel reads Chinese); `label`
    is translated by the caller (default "Download CSV").

    The file is made when the button is clicked, not on every rerun; the click does not rerun the page.
    """
    st.download_button(
        label or _("Download CSV"),
        lambda: df.to_csv(index=False).encode("utf-8-sig"),
        file_name=f"{safe_filename(name)}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def download_figure(fig: go.Figure, name: str, key: str, label: str | None = None) -> None:
    """A standalone interactive HTML download of a plotly figure (plotly.js inlined, works offline);
    `label` is translated by the caller (default "Download HTML").

    The 4-5 MB file is rendered when the button is clicked, not on every rerun.
    """
    st.download_button(
        label or _("Download HTML"),
        lambda: fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8"),
        file_name=f"{safe_filename(name)}.html",
        mime="text/html",
        key=key,
        on_click="ignore",
    )
