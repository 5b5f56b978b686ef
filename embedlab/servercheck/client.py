"""The server check's raw client: one request as the server answered it, nothing cached, vectors
not re-normalised (the checks look at norms). Requests go through backends.post_embeddings."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from embedlab.backends import (
    BadResponse,
    EmbeddingError,
    EmbeddingsAnswer,
    ServerError,
    ServerUnreachable,
    clean_text,
    openai_client,
    post_embeddings,
    served_models,
)
from embedlab.config import public_url

DEFAULT_TIMEOUT_S = 30.0  # per request


class CheckClient:
    """A small raw client for the checks: float encoding, bounded timeout, no cache.

    Retries once, and only when the server could not be reached or answered 408/429/5xx; a
    timeout is not retried. Nothing is cached: every call is a request to the server.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 connect_timeout_s: float = 3.0) -> None:
        self.base_url = public_url(base_url.rstrip("/"))  # for messages only
        self.model = model
        self.timeout_s = timeout_s
        self._client = openai_client(base_url, api_key, timeout_s, connect_timeout_s)
        self._lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        self._client.close()

    def served_models(self) -> list[str] | None:
        """Ids from GET /v1/models, or None when the server does not offer the list."""
        return served_models(self._client, min(5.0, self.timeout_s))

    def embed(self, texts: Sequence[str], dimensions: int | None = None,
              timeout_s: float | None = None) -> EmbeddingsAnswer:
        """One request with all `texts`; raises the backends' EmbeddingError family."""
        batch = [clean_text(t) for t in texts]
        last: EmbeddingError | None = None
        for attempt in range(2):
            with self._lock:
                self.requests_sent += 1
            try:
                return post_embeddings(self._client, self.base_url, self.model, batch, dimensions,
                                       timeout_s or self.timeout_s)
            except (ServerUnreachable, ServerError) as exc:
                last = exc
            if attempt == 0:
                time.sleep(0.3)
        assert last is not None
        raise last

    def embed_each(self, texts: Sequence[str], dimensions: int | None = None, workers: int = 4) -> np.ndarray:
        """One request per text (a few in flight), so no batching effect can enter the result.

        Returns:
            float32 (len(texts), dim), as sent by the server (not re-normalised).
        """
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(texts)))) as pool:
            answers = list(pool.map(lambda t: self.embed([t], dimensions), texts))
        dims = {a.vectors.shape[1] for a in answers}
        if len(dims) != 1:
            raise BadResponse(f"The server returned vectors of different sizes {sorted(dims)} for one request "
                              "pattern; is more than one model behind the URL?")
        return np.vstack([a.vectors for a in answers])
