"""Names for found clusters and a search over the mapped texts.

Each cluster is named by its most distinctive terms, class-based TF-IDF (as BERTopic's c-TF-IDF):
the texts of a cluster are one document, a term's weight is its share of that cluster's words times
log(1 + average words per cluster / the term's count over all clusters). Chinese runs are cut into
words with jieba (imported when first needed: loading its dictionary takes about a second), other
text into words of letters and digits; stop words and one-character Chinese words are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_][\w'-]*[^\W_]|[^\W\d_]", re.UNICODE)
# Function words that name no topic (jieba keeps them as words of two characters or more).
_CHINESE_STOP_WORDS = """
可以 需要 如果 必须 一次 一直 不要 之内 以上 以下 还有 其他 我们 你们 他们 这个 那个 什么 怎么 为什么 没有 已经 进行 一个 以及 或者 并且 但是 因为 所以
通过 对于 关于 其中 之后 之前 以后 以前 时候 是否 应该 不能 不会 可能 这些 那些 每个 所有 自己 就是 还是
"""
_CHINESE_STOP = frozenset(_CHINESE_STOP_WORDS.split())


def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces loading its dictionary on stderr otherwise
    return jieba


def terms(text: str) -> list[str]:
    """The words of `text` that may name a topic: lower-case Latin (etc.) words of two letters or
    more that are not English stop words, and jieba's Chinese words of two characters or more."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    found: list[str] = []
    rest = _HAN_RUN.sub(" ", text)
    for run in _HAN_RUN.findall(text):
        found += [w for w in _jieba().lcut(run) if len(w) >= 2 and w not in _CHINESE_STOP]
    for word in _WORD.findall(rest.lower()):
        if len(word) >= 2 and not word.isdigit() and word not in ENGLISH_STOP_WORDS:
            found.append(word)
    return found


def cluster_terms(texts: Sequence[str], clusters: np.ndarray, top: int = 4) -> dict[int, list[str]]:
    """The `top` most distinctive terms of each found cluster by class-based TF-IDF.

    Args:
        texts: n texts. clusters: int (n,) cluster ids, -1 = noise (not named).
    Returns:
        cluster id -> its terms, best first (fewer when the cluster has fewer distinct terms).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    clusters = np.asarray(clusters)
    ids = sorted(c for c in set(clusters.tolist()) if c >= 0)
    if not ids:
        return {}
    per_cluster = [" ".join(texts[i] for i in np.flatnonzero(clusters == c)) for c in ids]
    vectorizer = CountVectorizer(analyzer=terms)
    try:
        counts = vectorizer.fit_transform(per_cluster).toarray().astype(np.float64)  # (clusters, vocabulary)
    except ValueError:  # no cluster has a single term (numbers, punctuation)
        return {c: [] for c in ids}
    vocabulary = vectorizer.get_feature_names_out()
    words = counts.sum(axis=1, keepdims=True)
    tf = counts / np.maximum(words, 1.0)
    idf = np.log1p(words.mean() / np.maximum(counts.sum(axis=0), 1.0))
    weights = tf * idf
    named: dict[int, list[str]] = {}
    for row, c in enumerate(ids):
        best = [j for j in np.argsort(-weights[row], kind="stable")[:top] if weights[row, j] > 0]
        named[c] = [str(vocabulary[j]) for j in best]
    return named


def cluster_centres(coords: np.ndarray, clusters: np.ndarray) -> dict[int, np.ndarray]:
    """Where to write each found cluster's name: the median map position of its texts (noise left out).

    Args:
        coords: (n, 2|3) map positions. clusters: int (n,) cluster ids.
    """
    clusters = np.asarray(clusters)
    return {c: np.median(coords[clusters == c], axis=0) for c in sorted(set(clusters.tolist())) if c >= 0}


def search_texts(texts: Sequence[str], query: str) -> np.ndarray:
    """Row indices (int, ascending) of the texts that contain every word of `query`, ignoring case;
    none for an empty query. Chinese has no spaces: a run of characters is matched as typed."""
    words = query.casefold().split()
    if not words:
        return np.zeros(0, dtype=int)
    return np.asarray([i for i, t in enumerate(texts) if all(w in t.casefold() for w in words)], dtype=int)
