"""Hostile and extreme inputs through the caching embedder (scripted fast server)."""

from __future__ import annotations

import numpy as np
import pytest

from embedlab.backends import BadResponse, InputRejected, OpenAICompatibleEmbedder
from embedlab.cache import CachedEmbedder, EmbeddingCache
from tests.support import fakeserver


@pytest.fixture
def embedder(fake_server, tmp_path) -> CachedEmbedder:
    return CachedEmbedder(OpenAICompatibleEmbedder(fake_server.url, "m"), EmbeddingCache(tmp_path / "c.sqlite"))


def test_five_thousand_texts_are_batched_with_progress(embedder, fake_server):
    texts = [f"text {i}" for i in range(5000)]
    seen: list[int] = []
    vectors = embedder.embed(texts, progress=lambda done, total: seen.append(done))
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
def test_unusual_texts_do_not_crash(embedder, fake_server, text):
    vectors = embedder.embed([text, "plain"])
    assert vectors.shape == (2, 8) and np.all(np.isfinite(vectors))
    sent = fake_server.requests[-1]["input"][0]
    assert "\ud83d" not in sent  # lone surrogates are replaced before sending, not crashing the client


def test_empty_and_whitespace_texts_make_no_request(embedder, fake_server):
    with pytest.raises(InputRejected, match="empty or only whitespace"):
        embedder.embed(["ok", " \n\t "])
    assert fake_server.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        fakeserver.status(200, "<html>login</html>", "text/html"),
        lambda req: (200, "application/json", b'{"data": [{"index": 0, "embedding": [NaN, 1]}]}'),
    ],
    ids=["html", "nan"],
)
def test_bad_answers_write_nothing_to_the_cache(embedder, fake_server, answer):
    fake_server.plan = [answer]
    with pytest.raises(BadResponse):
        embedder.embed(["a"])
    assert len(embedder.cache) == 0
