"""A small HTTP server speaking the documented /v1/rerank formats, scoring by word overlap."""

from __future__ import annotations

from tests.support.jsonserver import JsonServer


def overlap_score(query: str, doc: str) -> float:
    q = set(query.lower().split())
    return len(q & set(doc.lower().split())) / max(len(q), 1)


class RerankServer(JsonServer):
    """Scores documents by word overlap with the query. `style`: "results" (vLLM/Jina/Cohere)
    or "list" (sglang); `status` forces an error answer."""

    def __init__(self) -> None:
        self.style = "results"
        self.status = 200
        self.requests: list[dict] = []
        super().__init__(self._answer)

    def _answer(self, method: str, path: str, body: dict, headers: dict) -> tuple[int, object]:
        self.requests.append({"path": path, "auth": headers.get("Authorization"), **body})
        if method != "POST" or path != "/v1/rerank":
            return 404, {"detail": "Not Found"}
        if self.status != 200:
            return self.status, {"error": "model not loaded"}
        scored = [(i, overlap_score(body["query"], d)) for i, d in enumerate(body["documents"])]
        scored.sort(key=lambda x: -x[1])
        scored = scored[: body.get("top_n") or len(scored)]
        if self.style == "results":
            return 200, {"id": "rerank-1", "model": body["model"],
                         "results": [{"index": i, "relevance_score": s, "document": {"text": body["documents"][i]}}
                                     for i, s in scored]}
        return 200, [{"index": i, "score": s, "document": body["documents"][i]} for i, s in scored]
