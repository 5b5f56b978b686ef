"""The on-disk cache and the caching embedder: the real stand-in server, and hostile inputs on a scripted one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from embedlab.backends import BadResponse, InputRejected, OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from tests.support import fakeserver


def test_second_call_makes_no_request_and_survives_restart(embedding_server, tmp_path):
    path = tmp_path / "cache.sqlite"
    inner = OpenAICompatibleEmbedder(embedding_server, "e5", batch_size=4)
    first = CachedEmbedder(inner, EmbeddingCache(path)).embed(["alpha", "beta", "gamma"])
    sent = inner.requests_sent
    again = CachedEmbedder(inner, EmbeddingCache(path))  # a fresh process would open the same file
    second = again.embed(["gamma", "alpha", "beta"])
    assert inner.requests_sent == sent
    np.testing.assert_array_equal(second, first[[2, 0, 1]])
    assert again.cache.hits == 3 and again.cache.misses == 0


def test_only_missing_texts_are_sent_once_each(embedding_server, tmp_path):
    inner = OpenAICompatibleEmbedder(embedding_server, "e5", batch_size=100)
    emb = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    emb.embed(["one", "two"])
    sent_texts: list[list[str]] = []
    original = inner.embed
    inner.embed = lambda texts, progress=None: sent_texts.append(list(texts)) or original(texts, progress)
    vectors = emb.embed(["two", "three", "three", "one", "four", "three"])
    assert sent_texts == [["three", "four"]]
    assert vectors.shape == (6, 384)
    np.testing.assert_array_equal(vectors[1], vectors[2])


def test_key_includes_model_and_dimensions(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("m1", None, ["t"], np.ones((1, 4), np.float32))
    assert cache.get_many("m2", None, ["t"]) == {}
    assert cache.get_many("m1", 64, ["t"]) == {}
    assert "t" in cache.get_many("m1", None, ["t"])
    assert "t " not in cache.get_many("m1", None, ["t "])  # exact text, whitespace matters


def test_clear_empties_and_resets_counters(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("m", None, ["a", "b"], np.ones((2, 3), np.float32))
    cache.get_many("m", None, ["a", "z"])
    assert len(cache) == 2 and (cache.hits, cache.misses) == (1, 1)
    cache.clear()
    assert len(cache) == 0 and (cache.hits, cache.misses) == (0, 0)


def test_cache_is_thread_safe(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    errors = []

    def work(k: int) -> None:
        try:
            for i in range(50):
                text = f"{k}-{i}"
                cache.put_many("m", None, [text], np.full((1, 4), k, np.float32))
                assert cache.get_many("m", None, [text])[text][0] == k
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) == 300


def test_failed_embedding_writes_nothing(fake_server, tmp_path):
    from tests.support import fakeserver

    fake_server.plan = [fakeserver.status(400, '{"error": "too long"}')]
    emb = CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "m"), EmbeddingCache(tmp_path / "c.sqlite"))
    with pytest.raises(InputRejected):
        emb.embed(["a", "b"])
    assert len(emb.cache) == 0


def test_rejected_text_reported_by_caller_position_and_the_rest_cached(fake_server, tmp_path):
    from tests.support import fakeserver

    def refuse_long(req):
        if any(len(t) > 50 for t in req["input"]):
            return 400, "application/json", b'{"error": "too long"}'
        return fakeserver.ok()(req)

    fake_server.plan = [refuse_long]
    emb = CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "m"), EmbeddingCache(tmp_path / "c.sqlite"))
    long_text = "y" * 80
    with pytest.raises(InputRejected) as info:
        emb.embed(["a", long_text, "b", long_text])
    assert info.value.indices == [1, 3]
    assert len(emb.cache) == 2  # "a" and "b" were kept
    sent = len(fake_server.requests)
    assert emb.embed(["b", "a"]).shape == (2, 8) and len(fake_server.requests) == sent


def test_concurrent_callers_do_not_embed_the_same_text_twice(embedding_server, tmp_path):
    inner = OpenAICompatibleEmbedder(embedding_server, "e5", batch_size=4)
    sent: list[str] = []
    original = inner.embed

    def slow_embed(texts, progress=None):
        sent.extend(texts)
        return original(texts, progress)

    inner.embed = slow_embed
    emb = CachedEmbedder(inner, EmbeddingCache(tmp_path / "c.sqlite"))
    texts = [f"shared workshop text {i}" for i in range(24)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(3)

    def user(k: int) -> None:
        barrier.wait()
        results[k] = emb.embed(texts[k:] + texts[:k])  # same texts, different order

    threads = [threading.Thread(target=user, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sent) == sorted(texts)  # each text sent exactly once across the three users
    for k, vectors in results.items():
        np.testing.assert_array_equal(vectors, results[0][[(i + k) % 24 for i in range(24)]])


def test_a_failed_in_flight_text_is_embedded_by_the_waiting_caller(fake_server, tmp_path):
    from tests.support import fakeserver

    emb = CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "m"), EmbeddingCache(tmp_path / "c.sqlite"))
    mine, theirs = emb._claim(["x"])  # as if another caller had claimed "x" and then failed
    emb._release(mine)
    assert emb._claim(["x"]) == (["x"], {})
    event = threading.Event()
    emb._inflight["x"] = event
    event.set()  # the other caller gives up without storing anything
    fake_server.plan = [fakeserver.ok()]
    assert emb.embed(["x", "y"]).shape == (2, 8)
    assert sorted(t for r in fake_server.requests for t in r["input"]) == ["x", "y"]


# --- hostile and extreme inputs through the caching embedder (scripted fast server) ---


@pytest.fixture
def fake_embedder(fake_server, tmp_path) -> CachedEmbedder:
    return CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "m"), EmbeddingCache(tmp_path / "c.sqlite"))


def test_five_thousand_texts_are_batched_with_progress(fake_embedder, fake_server):
    texts = [f"text {i}" for i in range(5000)]
    seen: list[int] = []
    vectors = fake_embedder.embed(texts, progress=lambda done, total: seen.append(done))
    assert vectors.shape == (5000, 8)
    assert len(fake_server.requests) == 157 and max(len(r["input"]) for r in fake_server.requests) == 32
    assert seen == sorted(seen) and seen[-1] == 5000 and len(seen) > 100


@pytest.mark.parametrize(
    "text",
    [
        "lone \ud83d surrogate",
        "nul \x00 byte",
        "right-to-left \u202eoverride\u202c",
        "emoji 🧪🚀 and 中文",
        "x" * 1_000_000,
        "<script>alert(1)</script>",
    ],
    ids=["surrogate", "nul", "rtl", "emoji", "1MB-line", "script"],
)
def test_unusual_texts_do_not_crash(fake_embedder, fake_server, text):
    vectors = fake_embedder.embed([text, "plain"])
    assert vectors.shape == (2, 8) and np.all(np.isfinite(vectors))
    sent = fake_server.requests[-1]["input"][0]
    assert "\ud83d" not in sent  # lone surrogates are replaced before sending, not crashing the client


def test_empty_and_whitespace_texts_make_no_request(fake_embedder, fake_server):
    with pytest.raises(InputRejected, match="empty or only whitespace"):
        fake_embedder.embed(["ok", " \n\t "])
    assert fake_server.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        fakeserver.status(200, "<html>login</html>", "text/html"),
        lambda req: (200, "application/json", b'{"data": [{"index": 0, "embedding": [NaN, 1]}]}'),
    ],
    ids=["html", "nan"],
)
def test_bad_answers_write_nothing_to_the_cache(fake_embedder, fake_server, answer):
    fake_server.plan = [answer]
    with pytest.raises(BadResponse):
        fake_embedder.embed(["a"])
    assert len(fake_embedder.cache) == 0


# --- a data directory that cannot be written, and a full disk ---


def test_a_read_only_directory_gives_a_cache_in_memory(embedding_server, tmp_path):
    from tests.support.diskfaults import read_only

    with read_only(tmp_path / "data") as data:
        cache = EmbeddingCache(data / "embeddings.sqlite")  # raised sqlite3.OperationalError before
        assert not cache.on_disk and str(cache.open_error) == "writing there is not permitted"
        inner = OpenAICompatibleEmbedder(embedding_server, "e5")
        emb = CachedEmbedder(inner, cache)
        first = emb.embed(["alpha", "beta"])
        sent = inner.requests_sent
        np.testing.assert_array_equal(emb.embed(["beta", "alpha"]), first[[1, 0]])
        assert inner.requests_sent == sent and len(cache) == 2  # cached, in memory
        assert cache.size_bytes() == 0 and list(data.iterdir()) == []
        cache.clear()
        assert len(cache) == 0


def test_a_full_disk_keeps_what_was_stored_and_still_returns_the_vectors(embedding_server, tmp_path, monkeypatch):
    import sqlite3

    from tests.support.diskfaults import cap_sqlite_growth

    path = tmp_path / "embeddings.sqlite"
    inner = OpenAICompatibleEmbedder(embedding_server, "e5")
    stored = CachedEmbedder(inner, EmbeddingCache(path)).embed(["kept one", "kept two"])
    cap_sqlite_growth(monkeypatch, path)
    cache = EmbeddingCache(path)
    assert cache.on_disk
    texts = ["kept two", *(f"new text number {i}" for i in range(40))]
    vectors = CachedEmbedder(inner, cache).embed(texts)  # raised "database or disk is full" before
    np.testing.assert_allclose(vectors, OpenAICompatibleEmbedder(embedding_server, "e5").embed(texts), atol=1e-6)
    assert (cache.unsaved, str(cache.write_error)) == (40, "the disk is full")
    # The failed write was rolled back whole: what was stored is there, intact, and nothing else.
    assert len(cache) == 2
    again = EmbeddingCache(path).get_many(inner.model_id, None, ["kept one", "kept two"])
    np.testing.assert_array_equal(np.stack([again["kept one"], again["kept two"]]), stored)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
