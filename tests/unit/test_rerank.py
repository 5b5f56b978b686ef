"""The rerank client against a small HTTP server speaking the documented /v1/rerank formats."""

from __future__ import annotations

import json

import pytest

from embedlab.rerank import RerankClient, RerankError, apply_rerank, move_label, parse_response
from embedlab.stores.base import Hit
from tests.support.rerank_server import RerankServer


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
    from tests.support.procs import free_port

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
