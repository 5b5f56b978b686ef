"""Cached resources shared by every session of this process: settings, cache, embedders."""

from __future__ import annotations

import streamlit as st

from components import state
from embedlab.backends import ProbeResult, make_backend
from embedlab.cache import CachedEmbedder, EmbeddingCache
from embedlab.config import Settings, SettingsError, load_settings


def current_settings() -> Settings:
    """Settings for this browser session (env, secrets.toml, then sidebar overrides)."""
    state.init_state()
    try:
        return load_settings(overrides=st.session_state[state.CONN_OVERRIDES])
    except SettingsError as exc:
        st.sidebar.error(f"Configuration problem: {exc}. Falling back to the defaults.")
        st.session_state[state.CONN_OVERRIDES] = {}
        return load_settings(overrides={})


@st.cache_resource(show_spinner=False)
def get_cache(data_dir: str) -> EmbeddingCache:
    return EmbeddingCache(f"{data_dir}/embeddings.sqlite")


@st.cache_resource(show_spinner=False, max_entries=8)
def get_embedder(settings: Settings) -> CachedEmbedder:
    """The embedder for these settings, wrapped in the shared on-disk cache."""
    return CachedEmbedder(make_backend(settings), get_cache(settings.data_dir))


def probe_now(settings: Settings) -> tuple[ProbeResult | None, str | None]:
    """(result, None) or (None, error message) for a server, uncached; never raises.

    Uses a short timeout so that a dead or hung server does not stall the page.
    """
    from embedlab.backends import EmbeddingError

    if settings.backend != "server":
        return None, None
    try:
        backend = make_backend(settings, timeout_s=5.0)
        # One retry for a transient error, but a hang costs one timeout only.
        backend.max_attempts = 2
        backend.budget_s = 6.0
        return backend.probe(), None
    except EmbeddingError as exc:
        return None, str(exc)


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def probe(settings: Settings, nonce: int) -> tuple[ProbeResult | None, str | None]:
    """probe_now, cached for a minute so that every rerun does not cost a request.

    `nonce` (bumped by "Test connection" and by applying settings) forces a re-probe.
    """
    return probe_now(settings)
