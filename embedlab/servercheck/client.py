"""The server check's raw client: one request as the server answered it, nothing cached, vectors
not re-normalised (the checks look at norms)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from embedlab.backends import (
    BadResponse,
    EmbeddingError,
    InputRejected,
    ServerTimeout,
    ServerUnreachable,
    body_text,
    clean_text,
    root_cause,
)
from embedlab.config import api_root
from embedlab.servercheck.report import safe_url

DEFAULT_TIMEOUT_S = 30.0  # per request

@dataclass(frozen=True)
class Answer:
    """One embeddings response as the server sent it."""

    vectors: np.ndarray  # float32 (n_texts, dim), NOT re-normalised: the check looks at norms
    prompt_tokens: int | None  # usage.prompt_tokens, None when the server does not report it
    model: str | None  # the "model" field of the response
    seconds: float


class CheckClient:
    """A small raw client for the checks: official openai client, float encoding, bounded timeout.

    Retries once, and only transient failures (connection refused/reset, 408/429/5xx); a timeout
    is not retried. Nothing is cached: every call is a request to the server.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 connect_timeout_s: float = 3.0) -> None:
        import httpx
        import openai

        self.base_url = safe_url(base_url.rstrip("/")) or ""  # for messages only
        self.model = model
        self.timeout_s = timeout_s
        self._client = openai.OpenAI(
            base_url=api_root(base_url),
            api_key=api_key or "not-needed",
            max_retries=0,
            timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
        )
        self._lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        self._client.close()

    def served_models(self) -> list[str] | None:
        """Ids from GET /v1/models, or None when the server does not offer the list."""
        try:
            return [m.id for m in self._client.models.list(timeout=min(5.0, self.timeout_s))]
        except Exception:  # noqa: BLE001 - the list is optional (some proxies and TEI builds lack it)
            return None

    def embed(self, texts: Sequence[str], dimensions: int | None = None, timeout_s: float | None = None) -> Answer:
        """One request with all `texts`; raises the backends' EmbeddingError family."""
        import openai

        batch = [clean_text(t) for t in texts]
        extra = {"dimensions": dimensions} if dimensions else {}
        last: EmbeddingError | None = None
        for attempt in range(2):
            with self._lock:
                self.requests_sent += 1
            start = time.perf_counter()
            try:
                response = self._client.embeddings.with_raw_response.create(
                    model=self.model, input=batch, encoding_format="float",
                    timeout=timeout_s or self.timeout_s, **extra,
                )
                seconds = time.perf_counter() - start
                return self._parse(response.http_response.content, len(batch), seconds)
            except openai.APITimeoutError:
                raise ServerTimeout(
                    f"The server at {self.base_url} did not answer within {timeout_s or self.timeout_s:.0f} s."
                ) from None
            except openai.APIConnectionError as exc:
                last = ServerUnreachable(
                    f"Cannot reach the embedding server at {self.base_url} ({root_cause(exc)}). Is it "
                    "running, and is the URL right (e.g. http://localhost:30000/v1)?"
                )
            except openai.APIStatusError as exc:
                body = body_text(exc)
                status = exc.status_code
                if status in (408, 429) or status >= 500:
                    last = BadResponse(f"The server at {self.base_url} answered HTTP {status}: {body[:300]}")
                elif status in (401, 403):
                    raise InputRejected(f"The server refused the API key (HTTP {status}). Check "
                                        "EMBEDDING_API_KEY or --api-key.", status=status, body=body) from None
                elif status == 404:
                    raise InputRejected(f"{self.base_url} has no embeddings endpoint or no model "
                                        f"{self.model!r} (HTTP 404): {body[:300]}. Check the URL and "
                                        "EMBEDDING_MODEL.", status=status, body=body) from None
                else:
                    raise InputRejected(f"The server rejected the request (HTTP {status}): {body[:400]}",
                                        status=status, body=body) from None
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

    def _parse(self, content: bytes, expected: int, seconds: float) -> Answer:
        try:
            payload = json.loads(content)
            data = sorted(payload["data"], key=lambda d: d["index"])
            rows = [d["embedding"] for d in data]
            if len(rows) != expected or any(not isinstance(r, list) or not r for r in rows):
                raise ValueError(f"{len(rows)} embeddings for {expected} texts")
            if len({len(r) for r in rows}) != 1:
                raise ValueError("vectors of different lengths in one answer")
            vectors = np.asarray(rows, dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadResponse(f"The server at {self.base_url} did not answer with embeddings in the OpenAI "
                              f"format ({exc}). Is this an embeddings endpoint?") from None
        if not np.all(np.isfinite(vectors)):
            raise BadResponse("The server returned NaN or infinite numbers in an embedding.")
        usage = payload.get("usage") if isinstance(payload, dict) else None
        count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        count = count if isinstance(count, int) and not isinstance(count, bool) else None
        model = payload.get("model") if isinstance(payload.get("model"), str) else None
        return Answer(vectors, count, model, seconds)
