"""Keyword retrieval: BM25 (bm25s, Lucene variant) over a list of texts, Chinese segmented by jieba.

Tokenisation (`tokenize`): runs of Han characters are segmented into words by jieba (its default
dictionary, shipped in the package, loaded once on first use); every other run of letters or
digits is one lower-cased word. Punctuation and white space are dropped, and nothing is stemmed or
removed as a stop word, so "Password" and "passwords" are different terms. Mixed text such as
"VPN 账号申请" gives ["vpn", "账号", "申请"].

Scoring is bm25s's Lucene variant (k1 = 1.5, b = 0.75):
    score(q, d) = sum over distinct query terms t of
        ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
Each distinct query term counts once; a query term absent from the corpus adds nothing.
Rankings use `ranking.rank_order` (ties by corpus order), like every other ranking here.

`IndexCache` keeps a few built indices keyed by (name, content fingerprint) so a collection's index
is built once per content, not once per query.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedlab.ranking import rank_order

K1 = 1.5
B = 0.75

# CJK Unified Ideographs, extension A and compatibility ideographs: the runs handed to jieba.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"([{_HAN}]+)")
_WORD = re.compile(r"\w+")

_JIEBA = None
_JIEBA_LOCK = threading.Lock()


def _segmenter():
    """The jieba tokenizer, initialised once (about 1 s: it loads its dictionary) and quietly."""
    global _JIEBA
    with _JIEBA_LOCK:
        if _JIEBA is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # it logs "Building prefix dict..." at DEBUG/INFO
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _JIEBA = tokenizer
    return _JIEBA


def tokenize(text: str) -> list[str]:
    """BM25 terms of `text`, in order: jieba words for Han runs, lower-cased words elsewhere."""
    terms: list[str] = []
    for i, run in enumerate(_RUNS.split(text)):
        if not run:
            continue
        if i % 2:  # odd pieces of the split are the captured Han runs
            terms.extend(w for w in _segmenter().lcut(run, HMM=True) if _WORD.search(w))
        else:
            terms.extend(w.lower() for w in _WORD.findall(run))
    return terms


def fingerprint(texts: Sequence[str]) -> str:
    """A digest of the texts and their order (which index a cached BM25 index belongs to)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class KeywordHits:
    """A BM25 result: `indices` (int64, (n,)) into the indexed texts, best first, and their
    `scores` (float32, (n,), all > 0). Texts sharing no term with the query are not hits."""

    indices: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


class BM25Index:
    """BM25 over a fixed list of texts (see the module docstring for tokenisation and scoring)."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._retriever = None
        tokens = [tokenize(t) for t in texts]
        self.vocabulary = {t for doc in tokens for t in doc}
        if self.size and self.vocabulary:
            retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
            retriever.index(tokens, show_progress=False)
            self._retriever = retriever

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for `query`: float32 (size,), 0 where no term matches."""
        terms = list(dict.fromkeys(t for t in tokenize(query) if t in self.vocabulary))
        if self._retriever is None or not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def score_matrix(self, queries: Sequence[str]) -> np.ndarray:
        """float32 (len(queries), size): row i = `scores(queries[i])`."""
        if not queries:
            return np.zeros((0, self.size), dtype=np.float32)
        return np.stack([self.scores(q) for q in queries])

    def search(self, query: str, k: int | None = None) -> KeywordHits:
        """The texts matching `query`, best first, at most `k` (all matches when None).

        A query with no known term gives an empty result, not an error.
        """
        scores = self.scores(query)
        order = rank_order(scores[None, :])[0]
        order = order[scores[order] > 0]
        if k is not None:
            order = order[:k]
        return KeywordHits(order.astype(np.int64), scores[order])


class IndexCache:
    """A small thread-safe LRU of built indices keyed by (name, fingerprint of the texts).

    By default an entry is the BM25Index of the texts; `build` makes another kind of entry (the
    Search page keeps a collection's BM25 index with its vectors).
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0  # how many entries were built (cache misses), for tests and benches

    def get(self, name: str, texts: Sequence[str], build: Callable[[], Any] | None = None) -> Any:
        """The entry for `texts` under `name`, built on the first request for this content."""
        key = (name, fingerprint(texts))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        entry = build() if build is not None else BM25Index(texts)  # outside the lock: others go on
        with self._lock:
            self.builds += 1
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._items)


DEFAULT_CACHE = IndexCache()  # shared by the Search page's hybrid search and the evaluation grid
