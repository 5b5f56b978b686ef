"""The rerank client against a small HTTP server speaking the documented /v1/rerank formats."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from embedlab.rerank import RerankClient, RerankError, apply_rerank, move_label, parse_response
from embedlab.store import Hit


def overlap_score(query: str, doc: str) -> float:
    q = set(query.lower().split())
    return len(q & set(doc.lower().split())) / max(len(q), 1)


class RerankServer:
    """Scores documents by word overlap with the query. `style`: "results" (vLLM/Jina/Cohere)
    or "list" (sglang); `status` forces an error answer."""

    def __init__(self) -> None:
        self.style = "results"
        self.status = 200
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                if self.path != "/v1/rerank":
                    return self._send(404, {"detail": "Not Found"})
                if outer.status != 200:
                    return self._send(outer.status, {"error": "model not loaded"})
                scored = [(i, overlap_score(body["query"], d)) for i, d in enumerate(body["documents"])]
                scored.sort(key=lambda x: -x[1])
                scored = scored[: body.get("top_n") or len(scored)]
                if outer.style == "results":
                    payload = {"id": "rerank-1", "model": body["model"],
                               "results": [{"index": i, "relevance_score": s, "document": {"text": body["documents"][i]}}
                                           for i, s in scored]}
                else:
                    payload = [{"index": i, "score": s, "document": body["documents"][i]} for i, s in scored]
                self._send(200, payload)

            def _send(self, code, payload):
                raw = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = RerankServer()
    yield srv
    srv.close()


DOCS = ["firewall rules for the office", "penetration test approval workflow", "vulnerability scanner list",
        "external team access rules for a penetration test"]


@pytest.mark.parametrize("style", ["results", "list"])
def test_rerank_orders_by_server_score_in_both_formats(server, style):
    server.style = style
    client = RerankClient(server.url + "/v1", model="Qwen/Qwen3-Reranker-0.6B", api_key="k1")
    scores = client.rerank("penetration test workflow", DOCS, top_n=3)
    assert [s.index for s in scores][:2] == [1, 3]
    assert [s.score for s in scores] == pytest.approx([1.0, 2 / 3, 0.0])
    assert len(scores) == 3
    [req] = server.requests
    assert req["path"] == "/v1/rerank" and req["auth"] == "Bearer k1"
    assert req["model"] == "Qwen/Qwen3-Reranker-0.6B" and req["top_n"] == 3 and req["documents"] == DOCS


def test_base_url_without_v1_works(server):
    assert RerankClient(server.url).rerank("scanner list", DOCS)[0].index == 2


def test_errors_are_explained(server):
    server.status = 500
    with pytest.raises(RerankError, match="HTTP 500"):
        RerankClient(server.url).rerank("q", DOCS)
    assert len(server.requests) == 2  # one retry for a server error
    server.status = 200
    with pytest.raises(RerankError, match="no rerank endpoint"):
        RerankClient(server.url + "/api").rerank("q", DOCS)
    from tests.procs import free_port

    with pytest.raises(RerankError, match="Cannot reach the reranker"):
        RerankClient(f"http://127.0.0.1:{free_port()}").rerank("q", DOCS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("<html>", "not answer with JSON"),
        ({"data": []}, "no `results` list"),
        ({"results": [{"index": 7, "relevance_score": 0.5}]}, "invalid document index 7"),
        ({"results": [{"index": 0, "relevance_score": "high"}]}, "invalid score"),
        ([{"index": 0, "score": 0.2}, {"index": 0, "score": 0.1}], "invalid document index 0"),
    ],
)
def test_malformed_answers_are_refused(payload, message):
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    with pytest.raises(RerankError, match=message):
        parse_response(raw, n_documents=2)


def test_apply_rerank_reports_rank_moves():
    hits = [Hit(f"id{i}", DOCS[i], {"source": "s"}, 0.9 - i / 10, i + 1) for i in range(4)]
    scores = parse_response(json.dumps({"results": [
        {"index": 3, "relevance_score": 0.95}, {"index": 1, "relevance_score": 0.9},
        {"index": 0, "relevance_score": 0.1}, {"index": 2, "relevance_score": 0.05}]}), 4)
    top = apply_rerank(hits, scores, k=3)
    assert [(r.hit.id, r.rank, r.embedding_rank, r.move) for r in top] == [
        ("id3", 1, 4, 3), ("id1", 2, 2, 0), ("id0", 3, 1, -2)]
    assert [move_label(r.move) for r in top] == ["↑3", "=", "↓2"]
