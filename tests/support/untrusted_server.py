"""An OpenAI-compatible embedding server on loopback that puts a payload into everything it says,
and records every request (path and Authorization header): the other end of the security tests.

It lists one model whose id is the payload, answers embeddings with 8-d vectors that depend on the
text, and, when told to fail, answers HTTP 400 with the payload as the error body. It also serves
/x.png, so a Markdown image pointing at it would show up in `requests`.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

from tests.support.jsonserver import JsonServer

PROBE_TEXT = "connection test"  # what the sidebar's connection test embeds
DIM = 8


def vector(text: str) -> list[float]:
    """A unit vector that depends only on `text` (so searches return something sensible)."""
    row = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM)
    return (row / np.linalg.norm(row)).round(6).tolist()


class UntrustedServer:
    """Attributes:
        url: the server root; `url + "/v1"` is its OpenAI base URL.
        requests: (method, path, Authorization header or None) of every request, in order.
        fail_probe: answer the connection test with HTTP 400 and the payload.
        fail_requests: answer every other embedding (and rerank) request so, except single texts
            starting with one of `spared` (the Benchmark's warm-up, by default).
    """

    def __init__(self, payload: str) -> None:
        self.payload = payload
        self.fail_probe = False
        self.fail_requests = False
        self.spared: tuple[str, ...] = ("warm-up ",)
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._server = JsonServer(self._answer)
        self.url = self._server.url

    def _answer(self, method: str, path: str, body: dict, headers: dict) -> tuple[int, object]:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        with self._lock:
            self.requests.append((method, path, auth))
        if path.startswith("/v1/models"):
            return 200, {"object": "list", "data": [{"id": self.payload, "object": "model"}]}
        if path.startswith("/v1/embeddings"):
            texts = body.get("input", [])
            texts = texts if isinstance(texts, list) else [texts]
            spared = len(texts) == 1 and str(texts[0]).startswith(self.spared)
            failing = self.fail_probe if texts == [PROBE_TEXT] else self.fail_requests and not spared
            if failing:
                return 400, {"error": {"message": self.payload}}
            data = [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(texts)]
            return 200, {"object": "list", "data": data, "model": self.payload,
                         "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}
        if path.startswith("/v1/rerank"):
            return 400, {"error": {"message": self.payload}}
        return 404, {"error": {"message": f"no route {path}"}}

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [p for _m, p, _a in self.requests if p.startswith(prefix)]

    def keys_seen(self) -> set[str | None]:
        """The Authorization headers received (None: a request without one)."""
        with self._lock:
            return {a for _m, _p, a in self.requests}

    def close(self) -> None:
        self._server.close()
