"""The connection panel drawn in the sidebar of every page."""

from __future__ import annotations

import contextlib
import dataclasses

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitInvalidLayoutContextError

from components import resources, state
from components.widgets import ensure_local_model
from embedlab.backends import LocalEmbedder, ProbeResult
from embedlab.cache import CachedEmbedder, CacheError, EmbeddingCache
from embedlab.config import Settings, dimension_range
from embedlab.text import escape_markdown

_BACKENDS = {"server": "OpenAI-compatible server", "local": "Local model (in-process)"}


def _apply(values: dict) -> None:
    overrides = dict(st.session_state[state.CONN_OVERRIDES])
    overrides.update(values)
    st.session_state[state.CONN_OVERRIDES] = overrides
    st.session_state[state.CONN_PROBE_NONCE] += 1


def _settings_form(settings: Settings) -> None:
    with st.form("conn.form", border=False):
        backend = st.radio(
            "Backend",
            list(_BACKENDS),
            format_func=_BACKENDS.get,
            index=0 if settings.backend == "server" else 1,
            key="conn.backend",
        )
        base_url = st.text_input(
            "Base URL",
            value=settings.embedding_base_url or "",
            placeholder="http://localhost:30000/v1",
            key="conn.base_url",
            help="Any server with OpenAI's /v1/embeddings: sglang, vLLM, TEI, Ollama, Infinity.",
        )
        model = st.text_input("Model", value=settings.embedding_model, key="conn.model")
        api_key = st.text_input(
            "API key",
            type="password",
            value="",  # never echo a configured key back into the page
            placeholder="configured" if settings.embedding_api_key else "none",
            key="conn.api_key",
            help="Leave empty to keep the configured key.",
        )
        # The bounds of the model in use (Qwen3-Embedding 0.6B: 32 to 1024); for other models only
        # the server knows, and asking for more than it has gives its full size with a warning.
        low, high = dimension_range(settings.vector_model)
        dims = st.number_input(
            "Dimensions (0 = full)",
            min_value=0,
            max_value=high,
            step=32,
            value=settings.embedding_dimensions or 0,
            key="conn.dimensions",
            help=(f"Matryoshka truncation: {settings.vector_model} allows {low} to {high}." if high else
                  "Matryoshka truncation; more than the model has gives its full size."),
        )
        if st.form_submit_button("Apply", type="primary"):
            if backend == "server" and not base_url.strip():
                st.error("A server backend needs a base URL.")
                return
            values = {
                "embedding_base_url": base_url.strip() if backend == "server" else "",
                "embedding_model": model.strip() or None,
                "embedding_dimensions": int(dims),
            }
            if api_key:
                values["embedding_api_key"] = api_key
            _apply(values)
            st.rerun()


def _status(settings: Settings, embedder: CachedEmbedder, result: ProbeResult | None, error: str | None) -> None:
    if settings.backend == "server":
        if error:
            st.error(error, icon=":material/power_off:")
        elif result:
            st.success(f"Connected: **{result.model_id}**", icon=":material/check_circle:")
            if result.dimensions_note:
                st.warning(escape_markdown(result.dimensions_note), icon=":material/warning:")
            mode = {
                "server": "server truncates",
                "client": "truncated here (server ignores or refuses `dimensions`)",
                "n/a": "full size",
                "unknown": "unknown",
            }[result.matryoshka]
            st.caption(f"dimension {result.dim} · {result.latency_ms:.0f} ms · Matryoshka: {mode}")
    else:
        inner = embedder.inner
        assert isinstance(inner, LocalEmbedder)
        if inner.loaded:
            st.success(f"Local model loaded: **{inner.model_name}**", icon=":material/check_circle:")
        else:
            st.info(
                f"Local model **{inner.model_name}** loads on first use (2.4 GB download, "
                "needs internet). Or set a server base URL above.",
                icon=":material/computer:",
            )
    if st.button("Test connection", key="conn.test"):
        st.session_state[state.CONN_PROBE_NONCE] += 1
        if settings.backend == "local":
            ensure_local_model(embedder)
        st.rerun()


def draw_cache_stats(slot: DeltaGenerator, cache: EmbeddingCache) -> None:
    """Draw (or redraw, after a page embedded something) the cache figures into `slot`."""
    hits = f"{cache.hits:,} hits / {cache.misses:,} misses"
    # Inside a fragment rerun the sidebar cannot be written; the next full run redraws it.
    with contextlib.suppress(StreamlitInvalidLayoutContextError):
        box = slot.container()
        if not cache.on_disk:
            box.warning(
                escape_markdown(
                    f"Running without the disk cache: {cache.path} cannot be used ({cache.open_error}). "
                    "Vectors are kept in memory until the app restarts."
                ),
                icon=":material/warning:",
            )
            box.caption(f"Embedding cache (in memory): {len(cache):,} vectors · {hits}")
            return
        unsaved = f" · {cache.unsaved:,} not saved ({cache.write_error})" if cache.unsaved else ""
        box.caption(
            f"Embedding cache: {len(cache):,} vectors · {cache.size_bytes() / 1e6:.1f} MB · {hits}"
            + escape_markdown(unsaved)
        )


def connection_panel(settings: Settings) -> tuple[Settings, CachedEmbedder, DeltaGenerator]:
    """Draw the sidebar panel; returns the settings in effect, this session's (cached) embedder and
    the cache-line slot."""
    result, error = None, None
    if settings.backend == "server":
        result, error = resources.probe(settings, st.session_state[state.CONN_PROBE_NONCE])
        if result and result.dimensions_note:
            # The model has fewer dimensions than requested: every page uses its full vectors.
            settings = dataclasses.replace(settings, embedding_dimensions=None)
    embedder = resources.get_embedder(settings)
    with st.sidebar:
        st.subheader("Connection")
        _status(settings, embedder, result, error)
        with st.expander("Settings", expanded=False):
            _settings_form(settings)
        slot = st.empty()
        draw_cache_stats(slot, embedder.cache)
        # Which store Search, Clusters and ingestion use (MILVUS_URI / CHROMA_HOST / CHROMA_PATH).
        st.caption(f"Vector store: {escape_markdown(resources.store_location(settings))}")
        if st.button("Clear cache", key="conn.clear_cache"):
            try:
                embedder.cache.clear()
            except CacheError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.toast("Embedding cache cleared")
                st.rerun()
    return settings, embedder, slot
