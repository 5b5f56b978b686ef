"""A tiny scripted HTTP server for failure tests: each request pops the next planned answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[dict], tuple[int, str, bytes]]  # request body -> (status, content type, body)


def vectors(n: int, dim: int = 8, value: float = 1.0) -> list[list[float]]:
    return [[value + i] + [0.5] * (dim - 1) for i in range(n)]


def ok(dim: int = 8) -> Answer:
    """A well-formed embeddings answer with distinct vectors per input."""

    def answer(req: dict) -> tuple[int, str, bytes]:
        texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
        size = req.get("dimensions") or dim
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors(len(texts), size))]
        body = {"object": "list", "data": data, "model": "fake", "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        return 200, "application/json", json.dumps(body).encode()

    return answer


def status(code: int, body: str = '{"error": {"message": "boom"}}', ctype: str = "application/json") -> Answer:
    return lambda req: (code, ctype, body.encode())


def hang(seconds: float) -> Answer:
    def answer(req: dict) -> tuple[int, str, bytes]:
        time.sleep(seconds)
        return ok()(req)

    return answer


class FakeServer:
    """Serves planned answers in order; the last one repeats. Records every request body."""

    def __init__(self) -> None:
        self.plan: list[Answer] = [ok()]
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._send(200, "application/json", b'{"object":"list","data":[{"id":"fake-model","object":"model"}]}')

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                req = json.loads(raw or b"{}")
                server.requests.append(req)
                answer = server.plan.pop(0) if len(server.plan) > 1 else server.plan[0]
                self._send(*answer(req))

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
