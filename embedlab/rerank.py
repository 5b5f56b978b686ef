"""The rerank stage: a client for a `/v1/rerank` endpoint and rank moves against embedding order.

Request (vLLM, Jina, Cohere and sglang accept it):
    POST {base}/v1/rerank  {"model": ..., "query": ..., "documents": [str, ...], "top_n": n}
Response, in either documented shape:
    {"results": [{"index": i, "relevance_score": s}, ...]}   vLLM, Jina, Cohere
    [{"index": i, "score": s, ...}, ...]                       sglang (a bare list)
`index` points into the request's documents; results come best first, but are sorted here anyway.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedlab.config import api_root, hide_url_secrets, public_url
from embedlab.messages import N_, LocalizedError, Message
from embedlab.stores.base import Hit

START_HINT = N_(
    "Serve Qwen3-Reranker with sglang or vLLM (both offer /v1/rerank), then set RERANK_BASE_URL "
    "(and RERANK_MODEL) and restart the app."
)


class RerankError(LocalizedError):
    """The reranker failed; str(error) is a message fit to show a user."""


@dataclass(frozen=True)
class RerankScore:
    index: int  # position in the documents sent
    score: float


@dataclass(frozen=True)
class RerankedHit:
    """A hit after reranking: its new rank, the reranker's score and how far it moved."""

    hit: Hit
    rank: int  # 1-based, after reranking
    score: float

    @property
    def embedding_rank(self) -> int:
        return self.hit.rank

    @property
    def move(self) -> int:
        """Places gained by reranking (positive = moved up)."""
        return self.hit.rank - self.rank


class RerankClient:
    """Calls `/v1/rerank` with bounded timeouts; one retry on connection errors and 5xx."""

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.shown_url = public_url(self.base_url)  # for messages: never its credentials
        self.model = model or "Qwen/Qwen3-Reranker-0.6B"
        self.api_key = api_key
        self.timeout_s = timeout_s

    @property
    def url(self) -> str:
        return api_root(self.base_url) + "/rerank"

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankScore]:
        """Scores for `documents` against `query`, best first (at most `top_n`)."""
        import httpx

        if not documents:
            return []
        if not query.strip():
            raise RerankError(N_("The query is empty."))
        body: dict[str, Any] = {"model": self.model, "query": query, "documents": list(documents)}
        if top_n is not None:
            body["top_n"] = int(top_n)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s))
        last = Message("")
        for attempt in range(2):
            try:
                resp = httpx.post(self.url, json=body, headers=headers, timeout=timeout)
            except httpx.TimeoutException:
                raise RerankError(
                    N_("The reranker at {url} did not answer within {seconds} s; try fewer candidates (top N)."),
                    url=self.shown_url, seconds=f"{self.timeout_s:.0f}",
                ) from None
            except httpx.HTTPError as exc:
                why = hide_url_secrets(str(exc), self.url)
                last = Message(N_("Cannot reach the reranker at {url} ({why}). Is it running? {hint}"),
                               {"url": self.shown_url, "why": why, "hint": Message(START_HINT)})
                time.sleep(0.2 * (attempt + 1))
                continue
            if resp.status_code >= 500:
                last = Message(N_("The reranker at {url} answered HTTP {status}: {body}"),
                               {"url": self.shown_url, "status": resp.status_code, "body": resp.text[:300]})
                continue
            if resp.status_code == 404:
                raise RerankError(
                    N_("{url} does not exist (HTTP 404): the server has no rerank endpoint or no "
                       "model {model}. Check RERANK_BASE_URL and RERANK_MODEL."),
                    url=public_url(self.url), model=repr(self.model),
                )
            if resp.status_code >= 400:
                raise RerankError(N_("The reranker refused the request (HTTP {status}): {body}"),
                                  status=resp.status_code, body=resp.text[:300])
            return parse_response(resp.content, len(documents), top_n)
        raise RerankError(last.msgid, **last.params)


def parse_response(content: bytes | str, n_documents: int, top_n: int | None = None) -> list[RerankScore]:
    """Read either documented response shape; RerankError when it is neither."""
    try:
        payload = json.loads(content)
    except ValueError:
        raise RerankError(N_("The reranker did not answer with JSON; is RERANK_BASE_URL a rerank server?")) from None
    items = payload.get("results") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise RerankError(N_("The reranker's answer has no `results` list; is this a /v1/rerank endpoint?"))
    scores: list[RerankScore] = []
    seen: set[int] = set()
    for item in items:
        if not isinstance(item, dict):
            raise RerankError(N_("The reranker returned a result that is not an object."))
        index = item.get("index")
        score = item.get("relevance_score", item.get("score"))
        if not isinstance(index, int) or not 0 <= index < n_documents or index in seen:
            raise RerankError(N_("The reranker returned an invalid document index {index}."), index=repr(index))
        if not isinstance(score, int | float) or not math.isfinite(score):
            raise RerankError(N_("The reranker returned an invalid score {score}."), score=repr(score))
        seen.add(index)
        scores.append(RerankScore(index, float(score)))
    scores.sort(key=lambda s: -s.score)
    return scores[:top_n] if top_n is not None else scores


def apply_rerank(hits: Sequence[Hit], scores: Sequence[RerankScore], k: int) -> list[RerankedHit]:
    """The top `k` hits in reranker order; `scores[i].index` refers to `hits` positions."""
    ordered = sorted(scores, key=lambda s: -s.score)[:k]
    return [RerankedHit(hits[s.index], rank, s.score) for rank, s in enumerate(ordered, start=1)]


def move_label(move: int) -> str:
    """"↑3", "↓2" or "=" for a rank move."""
    if move > 0:
        return f"↑{move}"
    if move < 0:
        return f"↓{-move}"
    return "="
