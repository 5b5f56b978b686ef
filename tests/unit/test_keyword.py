"""BM25 keyword search (embedlab.keyword): tokenisation of English, Chinese and mixed text, rankings
on small hand-made corpora checked against the Lucene BM25 formula, and the index cache."""

from __future__ import annotations

import math

import numpy as np

from embedlab.keyword import BM25Index, IndexCache, fingerprint, tokenize


def lucene_bm25(query: list[str], doc: list[str], corpus: list[list[str]], k1: float = 1.5, b: float = 0.75) -> float:
    """The formula of the module docstring, written out for the hand-made cases."""
    avgdl = sum(len(d) for d in corpus) / len(corpus)
    score = 0.0
    for term in dict.fromkeys(query):
        df = sum(term in d for d in corpus)
        if not df:
            continue
        tf = doc.count(term)
        idf = math.log(1 + (len(corpus) - df + 0.5) / (df + 0.5))
        score += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return score


def test_tokenisation_of_english_chinese_and_mixed_text():
    assert tokenize("Reset the PASSWORD, then log-in again!") == ["reset", "the", "password", "then", "log", "in",
                                                                 "again"]
    assert tokenize("渗透测试需要安全部门书面批准") == ["渗透", "测试", "需要", "安全部门", "书面", "批准"]
    assert tokenize("VPN 账号申请流程: see RFC-42") == ["vpn", "账号", "申请", "流程", "see", "rfc", "42"]
    assert tokenize("漏洞扫描器。") == ["漏洞", "扫描器"]  # Chinese punctuation is not a term
    assert tokenize("  ?! ") == [] and tokenize("") == []


ENGLISH = [
    "the cat sat on the mat",
    "a dog chased the cat and the cat ran up a tree",
    "dogs and birds live in the garden",
    "quantum physics lecture notes",
]


def test_english_ranking_matches_the_formula_and_orders_by_hand():
    index = BM25Index(ENGLISH)
    corpus = [tokenize(t) for t in ENGLISH]
    for query in ("cat", "dog tree", "the cat garden"):
        expected = [lucene_bm25(tokenize(query), d, corpus) for d in corpus]
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5)
        by_hand = [i for i in np.argsort(-np.asarray(expected), kind="stable") if expected[i] > 0]
        assert list(index.search(query).indices) == by_hand
    # "cat": doc 1 says it twice (longer doc, still ahead); doc 0 once; the others never.
    hits = index.search("cat")
    assert list(hits.indices) == [1, 0] and hits.scores[0] > hits.scores[1] > 0
    # "dog": only the exact term (no stemming), so "dogs" in doc 2 does not match.
    assert list(index.search("Dog").indices) == [1]
    # A rare term beats a common one: "garden" (1 doc) outranks "the" (3 docs).
    assert list(index.search("the garden").indices)[0] == 2
    assert len(index.search("the cat garden", k=2)) == 2 and len(index.search("the cat garden")) == 3


def test_chinese_and_mixed_corpora_rank_by_shared_words():
    zh = ["渗透测试需要安全部门书面批准", "公司允许使用的漏洞扫描器清单", "防火墙规则变更需要网络组审批",
          "外部团队通过 VPN 账号接入测试环境"]
    index = BM25Index(zh)
    assert list(index.search("渗透测试的审批流程").indices)[0] == 0  # 渗透, 测试 beat 审批 alone
    assert list(index.search("漏洞扫描器有哪些").indices) == [1]
    assert list(index.search("外部团队的vpn账号").indices)[0] == 3  # lower-cased "vpn" meets "VPN"
    corpus = [tokenize(t) for t in zh]
    q = tokenize("测试审批")
    np.testing.assert_allclose(index.scores("测试审批"), [lucene_bm25(q, d, corpus) for d in corpus], rtol=1e-5)


def test_unknown_or_empty_queries_give_an_empty_result_not_an_error():
    index = BM25Index(ENGLISH)
    for query in ("zebra", "", "!!!", "斑马"):
        hits = index.search(query)
        assert len(hits) == 0 and hits.indices.dtype == np.int64
        assert not index.scores(query).any()
    assert index.score_matrix(["cat", "zebra"]).shape == (2, 4)
    empty = BM25Index([])
    assert len(empty.search("cat")) == 0 and empty.scores("cat").shape == (0,)
    punct = BM25Index(["...", "!!"])  # nothing to index at all
    assert len(punct.search("cat")) == 0 and punct.scores("cat").tolist() == [0.0, 0.0]


def test_index_cache_builds_once_per_content_and_evicts_the_oldest():
    cache = IndexCache(size=2)
    first = cache.get("c1", ENGLISH)
    assert cache.get("c1", list(ENGLISH)) is first and cache.builds == 1
    changed = cache.get("c1", ENGLISH[:3])  # content changed: a new index
    assert changed is not first and cache.builds == 2 and changed.size == 3
    cache.get("c2", ENGLISH)
    assert len(cache) == 2
    cache.get("c1", ENGLISH)  # evicted (oldest): built again
    assert cache.builds == 4
    assert fingerprint(["ab", "c"]) != fingerprint(["a", "bc"])  # lengths are part of the digest
    assert cache.get("x", ["a"], build=lambda: "custom") == "custom"
