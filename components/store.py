"""The Chroma client as a cached resource: one per path (or server) per process."""

from __future__ import annotations

import streamlit as st

from embedlab.config import Settings
from embedlab.store import Store, StoreError, open_client


@st.cache_resource(show_spinner=False)
def _client(path: str | None, host: str | None, port: int):
    # Chroma's PersistentClient is not process-safe and must not be opened twice for one path
    # in a process: st.cache_resource shares this one client across sessions and reruns.
    return open_client(path=path, host=host, port=port)


def location(settings: Settings) -> str:
    """Where collections live, for captions: the server address or the embedded path."""
    if settings.chroma_host:
        return f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
    return f"embedded Chroma at {settings.chroma_dir}"


def get_store(settings: Settings) -> Store | None:
    """The Store for these settings, or None after showing why it cannot be opened."""
    try:
        if settings.chroma_host:
            client = _client(None, settings.chroma_host, settings.chroma_port)
        else:
            client = _client(str(settings.chroma_dir), None, 0)
    except StoreError as exc:
        st.error(str(exc), icon=":material/database:")
        return None
    return Store(client)
