"""A small HTTP server speaking the documented /v1/rerank formats, scoring by word overlap."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
