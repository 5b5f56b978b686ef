"""The connection panel drawn in the sidebar of every page."""

from __future__ import annotations

import contextlib
import dataclasses

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitInvalidLayoutContextError

from components import resources, state
from components.i18n import tr
from components.widgets import ensure_local_model, error_text, literal
from embedlab.backends import ProbeResult
from embedlab.cache import CachedEmbedder, CacheError, EmbeddingCache
from embedlab.config import Settings, dimension_range, public_url, same_destination
from embedlab.local_model import LocalEmbedder
from embedlab.messages import Message

_BACKENDS = {"server": "OpenAI-compatible server", "local": "Local model (in-process)"}


def _apply(settings: Settings, values: dict) -> None:
    """Keep `values` as this session's overrides. A key typed earlier belongs to the URL it was
    typed with: pointing the session at another server without a new key forgets it."""
    overrides = dict(st.session_state[state.CONN_OVERRIDES])
    new_url = values.get("embedding_base_url")
    if (new_url is not None and "embedding_api_key" not in values
            and not same_destination(new_url, settings.embedding_base_url, api=True)):
        overrides.pop("embedding_api_key", None)
    overrides.update(values)
    st.session_state[state.CONN_OVERRIDES] = overrides
    st.session_state[state.CONN_PROBE_NONCE] += 1


def _dimensions_input(settings: Settings) -> int:
    """The dimensions box of the connection form (0 = full size)."""
    # The bounds of the model in use (Qwen3-Embedding 0.6B: 32 to 1024); for other models only
    # the server knows, and asking for more than it has gives its full size with a warning.
    low, high = dimension_range(settings.vector_model)
    return st.number_input(
        "Dimensions (0 = full)",
        min_value=0,
        max_value=high,
        step=32,
        value=settings.embedding_dimensions or 0,
        key="conn.dimensions",
        help=(f"Matryoshka truncation: {settings.vector_model} allows {low} to {high}." if high else
              "Matryoshka truncation; more than the model has gives its full size."),
    )


def _settings_form(settings: Settings) -> None:
    locked = settings.connection_locked
    # The address as it may be shown: without user name, password or query.
    shown_url = public_url(settings.embedding_base_url) if settings.embedding_base_url else ""
    with st.form("conn.form", border=False):
        if locked:
            st.caption("The backend, base URL and API key are fixed for this deployment "
                       "(PLAYGROUND_LOCK_CONNECTION).", help="Model name and dimensions can still be changed.")
        backend = st.radio(
            "Backend",
            list(_BACKENDS),
            format_func=_BACKENDS.get,
            index=0 if settings.backend == "server" else 1,
            key="conn.backend",
            disabled=locked,
        )
        base_url = st.text_input(
            "Base URL",
            value=shown_url,
            placeholder="http://localhost:30000/v1",
            key="conn.base_url",
            disabled=locked,
            help="Any server with OpenAI's /v1/embeddings: sglang, vLLM, TEI, Ollama, Infinity.",
        )
        model = st.text_input("Model", value=settings.embedding_model, key="conn.model")
        api_key = st.text_input(
            "API key",
            type="password",
            value="",  # never echo a configured key back into the page
            placeholder="configured" if settings.embedding_api_key else "none",
            key=f"conn.api_key.{st.session_state[state.CONN_KEY_BOX]}",
            disabled=locked,
            help="Sent only to the base URL above. The configured key goes only to the configured server: "
                 "another base URL needs its own key here.",
        )
        dims = _dimensions_input(settings)
        if st.form_submit_button("Apply", type="primary"):
            values: dict = {"embedding_model": model.strip() or None, "embedding_dimensions": int(dims)}
            if not locked:
                if backend == "server" and not base_url.strip():
                    st.error("A server backend needs a base URL.")
                    return
                url = base_url.strip() if backend == "server" else ""
                # The shown (redacted) address left as it was means the current one, credentials and all.
                if backend != settings.backend or url != shown_url:
                    values["embedding_base_url"] = url
                if api_key:
                    values["embedding_api_key"] = api_key
            _apply(settings, values)
            st.session_state[state.CONN_KEY_BOX] += 1  # the key belongs to this URL: a fresh, empty box
            st.rerun()


def _status(settings: Settings, embedder: CachedEmbedder, result: ProbeResult | None, error: Message | None) -> None:
    if settings.backend == "server":
        if error:
            st.error(literal(tr(error)), icon=":material/power_off:")
        elif result:
            st.success(f"Connected: **{literal(result.model_id)}**", icon=":material/check_circle:")
            if result.dimensions_note:
                st.warning(literal(tr(result.dimensions_note)), icon=":material/warning:")
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
            st.success(f"Local model loaded: **{literal(inner.model_name)}**", icon=":material/check_circle:")
        else:
            st.info(
                f"Local model **{literal(inner.model_name)}** loads on first use (2.4 GB download, "
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
                literal(
                    f"Running without the disk cache: {cache.path} cannot be used ({tr(cache.open_error) if cache.open_error else ''}). "
                    "Vectors are kept in memory until the app restarts."
                ),
                icon=":material/warning:",
            )
            box.caption(f"Embedding cache (in memory): {len(cache):,} vectors · {hits}")
            return
        unsaved = f" · {cache.unsaved:,} not saved ({tr(cache.write_error) if cache.write_error else ''})" if cache.unsaved else ""
        box.caption(
            f"Embedding cache: {len(cache):,} vectors · {cache.size_bytes() / 1e6:.1f} MB · {hits}"
            + literal(unsaved)
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
        st.caption(f"Vector store: {literal(resources.store_location(settings))}")
        if st.button("Clear cache", key="conn.clear_cache"):
            try:
                embedder.cache.clear()
            except CacheError as exc:
                st.error(literal(error_text(exc)), icon=":material/error:")
            else:
                st.toast("Embedding cache cleared")
                st.rerun()
    return settings, embedder, slot
