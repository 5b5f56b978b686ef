"""Cached resources shared by every session of this process: settings, cache, embedders, store."""

from __future__ import annotations

import logging
import threading

import streamlit as st

from components import state
from components.i18n import _, tr
from components.widgets import literal
from embedlab import served
from embedlab.backends import EmbeddingError, ProbeResult, make_backend
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.config import Settings, read_settings, store_location_message
from embedlab.messages import Message
from embedlab.servercheck.report import CheckResult
from embedlab.stores import open_store
from embedlab.stores.base import VectorStore

log = logging.getLogger(__name__)


def current_settings() -> Settings:
    """Settings for this browser session (env, secrets.toml, then sidebar overrides).

    A value that cannot be used keeps its default, with one warning in the sidebar naming it;
    every other setting still applies.
    """
    state.init_state()
    settings, problems = read_settings(overrides=st.session_state[state.CONN_OVERRIDES])
    for problem in problems:
        st.sidebar.warning(_("Configuration: {problem}").format(problem=literal(tr(problem))), icon=":material/warning:")
    return settings


@st.cache_resource(show_spinner=False)
def get_cache(data_dir: str) -> EmbeddingCache:
    return EmbeddingCache(f"{data_dir}/embeddings.sqlite")


@st.cache_resource(show_spinner=False, max_entries=8)
def get_embedder(settings: Settings) -> CachedEmbedder:
    """The embedder for these settings, wrapped in the shared on-disk cache."""
    return CachedEmbedder(make_backend(settings), get_cache(settings.data_dir))


def probe_now(settings: Settings) -> tuple[ProbeResult | None, Message | None]:
    """(result, None) or (None, error message, to translate with `tr`) for a server, uncached; never raises.

    Uses a short timeout so that a dead or hung server does not stall the page.
    """
    if settings.backend != "server":
        return None, None
    try:
        backend = make_backend(settings, timeout_s=5.0)
        # One retry for a transient error, but a hang costs one timeout only.
        backend.max_attempts = 2
        backend.budget_s = 6.0
        return backend.probe(), None
    except EmbeddingError as exc:
        return None, exc.message


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def probe(settings: Settings, nonce: int) -> tuple[ProbeResult | None, Message | None]:
    """probe_now, cached for a minute so that every rerun does not cost a request.

    `nonce` (bumped by "Test connection" and by applying settings) forces a re-probe.
    """
    return probe_now(settings)


class _Inconclusive(Exception):
    """The identity check reached no verdict; raised so that st.cache_data keeps nothing."""


@st.cache_data(ttl=3600, show_spinner=False, max_entries=16)
def _identity(base_url: str, model: str, api_key: str | None) -> CheckResult:
    # Once per server and model (an hour at most: a server may be relaunched with other weights).
    result = served.identity_check(base_url, model, api_key)
    if result is None:
        raise _Inconclusive
    return result


def model_verdict(settings: Settings, embedder: CachedEmbedder, result: ProbeResult | None) -> served.Verdict | None:
    """What is known about the model behind these settings; None when the server did not answer
    (the sidebar says why). Runs the model card's check once per server and model, and only when
    Qwen3-Embedding-0.6B is configured and nothing already shows another model answering."""
    if settings.backend != "server":
        name = getattr(embedder.inner, "model_name", embedder.model_id)
        return served.assess(name, name)
    if result is None:
        return None
    configured, name = settings.embedding_model, embedder.served_model
    identity = None
    if served.needs_identity(configured, name):
        try:
            identity = _identity(settings.embedding_base_url, configured, settings.embedding_api_key)
        except _Inconclusive:
            log.info("identity check inconclusive for %s", configured)
    return served.assess(configured, name, identity)


@st.cache_resource(show_spinner=False)
def _open_store(milvus_uri: str | None, milvus_token: str | None, chroma_path: str, chroma_host: str | None,
                chroma_port: int) -> VectorStore:
    # One store per location for the whole process: Chroma's PersistentClient must not be opened
    # twice for one path, a Milvus Lite database runs once per process, and a Milvus store keeps
    # which collections it has loaded. Failures raise, so they are not cached.
    return open_store(Settings(milvus_uri=milvus_uri, milvus_token=milvus_token, chroma_path=chroma_path,
                               chroma_host=chroma_host, chroma_port=chroma_port))


def get_store(settings: Settings) -> VectorStore:
    """The vector store for these settings (Milvus if MILVUS_URI is set, else Chroma).

    Raises:
        StoreError: it cannot be opened.
    """
    return _open_store(settings.milvus_uri, settings.milvus_token, str(settings.chroma_dir),
                       settings.chroma_host, settings.chroma_port if settings.chroma_host else 0)


def store_location(settings: Settings) -> str:
    """Where collections live, for captions: the store and its address (never credentials)."""
    return tr(store_location_message(settings))


@st.cache_resource(show_spinner=False)
def start_umap_warmup() -> threading.Thread:
    """Start compiling UMAP's numba code in a background thread, once per server process.

    Called by app.py and by the Clusters page, so whichever a user opens first starts it.
    """

    def run() -> None:
        try:
            from embedlab.projection.umap import warm_up

            seconds = warm_up()
            log.info("UMAP warm-up finished in %.1f s", seconds)
        except Exception:  # noqa: BLE001 - a failing warm-up only means the first map is slow
            log.exception("UMAP warm-up failed")

    thread = threading.Thread(target=run, name="umap-warmup", daemon=True)
    thread.start()
    return thread


def wait_for_warmup() -> None:
    thread = start_umap_warmup()
    if thread.is_alive():
        with st.spinner(_("Preparing UMAP: compiling its numeric code, once per server process (10-40 s)...")):
            thread.join()
