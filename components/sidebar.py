"""The connection panel drawn in the sidebar of every page."""

from __future__ import annotations

import contextlib
import dataclasses

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitInvalidLayoutContextError

from components import resources, state
from components.i18n import _, label_func, tr
from components.widgets import ensure_local_model, error_text, literal
from embedlab.backends import ProbeResult
from embedlab.cache import CachedEmbedder, CacheError, EmbeddingCache
from embedlab.config import Settings, dimension_range, public_url, same_destination
from embedlab.local_model import LocalEmbedder
from embedlab.messages import N_, Message
from embedlab.served import same_model

_BACKENDS = {"server": N_("OpenAI-compatible server"), "local": N_("Local model (in-process)")}
_MATRYOSHKA = {
    "server": N_("server truncates"),
    "client": N_("truncated here (server ignores or refuses `dimensions`)"),
    "n/a": N_("full size"),
    "unknown": N_("unknown"),
}


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
        _("Dimensions (0 = full)"),
        min_value=0,
        max_value=high,
        step=32,
        value=settings.embedding_dimensions or 0,
        key="conn.dimensions",
        help=(_("Matryoshka truncation: {model} allows {low} to {high}.").format(
            model=literal(settings.vector_model), low=low, high=high) if high else
              _("Matryoshka truncation; more than the model has gives its full size.")),
    )


def _settings_form(settings: Settings) -> None:
    locked = settings.connection_locked
    # The address as it may be shown: without user name, password or query.
    shown_url = public_url(settings.embedding_base_url) if settings.embedding_base_url else ""
    with st.form("conn.form", border=False):
        if locked:
            st.caption(_("The backend, base URL and API key are fixed for this deployment "
                         "(PLAYGROUND_LOCK_CONNECTION)."), help=_("Model name and dimensions can still be changed."))
        backend = st.radio(
            _("Backend"),
            list(_BACKENDS),
            format_func=label_func(_BACKENDS),
            index=0 if settings.backend == "server" else 1,
            key="conn.backend",
            disabled=locked,
        )
        base_url = st.text_input(
            _("Base URL"),
            value=shown_url,
            placeholder="http://localhost:30000/v1",
            key="conn.base_url",
            disabled=locked,
            help=_("Any server with OpenAI's /v1/embeddings: sglang, vLLM, TEI, Ollama, Infinity."),
        )
        model = st.text_input(_("Model"), value=settings.embedding_model, key="conn.model")
        api_key = st.text_input(
            _("API key"),
            type="password",
            value="",  # never echo a configured key back into the page
            placeholder=_("configured") if settings.embedding_api_key else _("none"),
            key=f"conn.api_key.{st.session_state[state.CONN_KEY_BOX]}",
            disabled=locked,
            help=_("Sent only to the base URL above. The configured key goes only to the configured server: "
                   "another base URL needs its own key here."),
        )
        dims = _dimensions_input(settings)
        if st.form_submit_button(_("Apply"), type="primary"):
            values: dict = {"embedding_model": model.strip() or None, "embedding_dimensions": int(dims)}
            if not locked:
                if backend == "server" and not base_url.strip():
                    st.error(_("A server backend needs a base URL."))
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
            st.success(_("Connected: **{model}**").format(model=literal(settings.embedding_model)),
                       icon=":material/check_circle:")
            st.caption(served_line(settings.embedding_model, embedder.served_model))
            if result.dimensions_note:
                st.warning(literal(tr(result.dimensions_note)), icon=":material/warning:")
            st.caption(_("dimension {dim} · {ms} ms · Matryoshka: {mode}").format(
                dim=result.dim, ms=f"{result.latency_ms:.0f}", mode=_(_MATRYOSHKA[result.matryoshka])))
    else:
        inner = embedder.inner
        assert isinstance(inner, LocalEmbedder)
        if inner.loaded:
            st.success(_("Local model loaded: **{model}**").format(model=literal(inner.model_name)),
                       icon=":material/check_circle:")
        else:
            st.info(
                _("Local model **{model}** loads on first use (2.4 GB download, needs internet). "
                  "Or set a server base URL above.").format(model=literal(inner.model_name)),
                icon=":material/computer:",
            )
    if st.button(_("Test connection"), key="conn.test"):
        st.session_state[state.CONN_PROBE_NONCE] += 1
        if settings.backend == "local":
            ensure_local_model(embedder)
        st.rerun()


def served_line(configured: str, served_name: str | None) -> str:
    """One line naming the configured model and the one that answered (both shown literally), for
    the sidebar and every results caption."""
    if not served_name:
        return _("Model: {configured} · the server does not name the model that answered").format(
            configured=literal(configured))
    if same_model(configured, served_name):
        return _("Model: {configured} · served as {served}").format(
            configured=literal(configured), served=literal(served_name))
    return _("Model: {configured} configured · {served} answered").format(
        configured=literal(configured), served=literal(served_name))


def draw_cache_stats(slot: DeltaGenerator, cache: EmbeddingCache) -> None:
    """Draw (or redraw, after a page embedded something) the cache figures into `slot`."""
    hits = _("{hits} hits / {misses} misses").format(hits=f"{cache.hits:,}", misses=f"{cache.misses:,}")
    # Inside a fragment rerun the sidebar cannot be written; the next full run redraws it.
    with contextlib.suppress(StreamlitInvalidLayoutContextError):
        box = slot.container()
        if not cache.on_disk:
            box.warning(
                _("Running without the disk cache: {path} cannot be used ({error}). "
                  "Vectors are kept in memory until the app restarts.").format(
                    path=literal(cache.path), error=literal(tr(cache.open_error) if cache.open_error else "")),
                icon=":material/warning:",
            )
            box.caption(_("Embedding cache (in memory): {n} vectors · {hits}").format(n=f"{len(cache):,}", hits=hits))
            return
        line = _("Embedding cache: {n} vectors · {mb} MB · {hits}").format(
            n=f"{len(cache):,}", mb=f"{cache.size_bytes() / 1e6:.1f}", hits=hits)
        if cache.unsaved:
            line += " · " + _("{n} not saved ({error})").format(n=f"{cache.unsaved:,}", error=literal(tr(cache.write_error) if cache.write_error else ""))
        box.caption(line)


def connection_panel(settings: Settings) -> tuple[Settings, CachedEmbedder, DeltaGenerator, ProbeResult | None]:
    """Draw the sidebar panel; returns the settings in effect, this session's (cached) embedder, the
    cache-line slot and the connection test's result (None for the local model or a failed test)."""
    result, error = None, None
    if settings.backend == "server":
        result, error = resources.probe(settings, st.session_state[state.CONN_PROBE_NONCE])
        if result and result.dimensions_note:
            # The model has fewer dimensions than requested: every page uses its full vectors.
            settings = dataclasses.replace(settings, embedding_dimensions=None)
    embedder = resources.get_embedder(settings)
    if result is not None:
        embedder.served_fallback = result.served
    with st.sidebar:
        st.subheader(_("Connection"))
        _status(settings, embedder, result, error)
        with st.expander(_("Settings"), expanded=False):
            _settings_form(settings)
        slot = st.empty()
        draw_cache_stats(slot, embedder.cache)
        # Which store Search, Clusters and ingestion use (MILVUS_URI / CHROMA_HOST / CHROMA_PATH).
        st.caption(_("Vector store: {where}").format(where=literal(resources.store_location(settings))))
        if st.button(_("Clear cache"), key="conn.clear_cache"):
            try:
                embedder.cache.clear()
            except CacheError as exc:
                st.error(literal(error_text(exc)), icon=":material/error:")
            else:
                st.toast(_("Embedding cache cleared"))
                st.rerun()
    return settings, embedder, slot, result
