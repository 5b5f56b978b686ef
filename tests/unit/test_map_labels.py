"""Exploring a map: clusters named by class-based TF-IDF (jieba for Chinese), their centres, the
search over the mapped texts, and how the figures draw them."""

from __future__ import annotations

import json

import numpy as np

from embedlab import figures
from embedlab.projection.labels import cluster_centres, cluster_terms, search_texts, terms
from embedlab.projection.mapdata import sample_corpus


def test_terms_cut_chinese_with_jieba_and_drop_stop_words():
    words = terms("员工入职满一年后，每年享有十天带薪年假。Use the VPN client before 9am, 2024")
    assert "员工" in words and "带薪" in words  # jieba's words
    assert all(len(w) >= 2 for w in words)  # no single characters
    assert {"vpn", "client", "9am"} <= set(words)
    assert not {"the", "before", "2024"} & set(words)  # stop words and bare numbers
    assert terms("我们可以这个") == []  # only function words


def test_cluster_terms_name_what_sets_a_cluster_apart():
    texts = ["annual leave days", "leave request for sick days", "请假 年假 天数",
             "firewall rules for the vpn", "vpn password reset", "防火墙 规则",
             "shared words everywhere"]
    clusters = np.array([0, 0, 0, 1, 1, 1, -1])
    named = cluster_terms(texts, clusters, top=3)
    assert set(named) == {0, 1}  # noise is not named
    assert named[0][:2] == ["days", "leave"] or named[0][:2] == ["leave", "days"]
    assert named[1][0] == "vpn"
    assert not set(named[0]) & set(named[1])  # a term shared by both would not be distinctive
    assert cluster_terms(["12", "34"], np.array([0, 1])) == {0: [], 1: []}  # nothing to name by
    assert cluster_terms(texts, np.full(len(texts), -1)) == {}


def test_the_bundled_topics_get_their_own_words():
    corpus = sample_corpus(20)
    topics = sorted(set(corpus.labels))
    ids = np.array([topics.index(label) for label in corpus.labels])
    named = {topics[c]: words for c, words in cluster_terms(corpus.texts, ids, top=4).items()}
    assert "leave" in named["HR policy"] or "员工" in named["HR policy"], named
    assert "return" in named["Code"] or "def" in named["Code"], named


def test_centres_are_the_median_of_each_cluster():
    coords = np.array([[0, 0], [1, 1], [2, 2], [10, 10], [11, 12], [50, 50]], dtype=np.float32)
    centres = cluster_centres(coords, np.array([0, 0, 0, 1, 1, -1]))
    assert set(centres) == {0, 1}
    assert np.allclose(centres[0], [1, 1]) and np.allclose(centres[1], [10.5, 11])


def test_search_finds_texts_with_every_word_in_any_case():
    texts = ["Annual Leave rules", "年假规定", "leave it", "ANNUAL report"]
    assert search_texts(texts, "leave annual").tolist() == [0]
    assert search_texts(texts, "LEAVE").tolist() == [0, 2]
    assert search_texts(texts, "年假").tolist() == [1]
    assert search_texts(texts, "  ").tolist() == []
    assert search_texts(texts, "nothing").tolist() == []


def test_figures_name_clusters_and_ring_what_was_found_escaped():
    coords = np.array([[0, 0], [1, 1], [5, 5]], dtype=np.float32)
    fig = figures.umap_map(coords, ["a", "b", "c"], ["x", "x", "y"], "t")
    figures.add_cluster_names(fig, {0: np.array([0.5, 0.5]), 1: np.array([5.0, 5.0])}, {0: "<b>leave</b>", 1: ""})
    figures.add_highlight(fig, coords[[0, 2]], "contains “<i>a</i>”")
    spec = json.loads(fig.to_json())
    [note] = spec["layout"]["annotations"]  # a cluster without terms gets no name
    assert note["text"] == "&lt;b&gt;leave&lt;/b&gt;" and note["x"] == 0.5
    ring = spec["data"][-1]
    assert ring["name"] == "contains “&lt;i&gt;a&lt;/i&gt;”" and list(fig.data[-1].x) == [0.0, 5.0]
    assert "customdata" not in ring and ring["hoverinfo"] == "skip"  # a selection lists each text once
    fig3 = figures.umap_map(np.zeros((2, 3)), ["a", "b"], ["x", "y"], "t")
    figures.add_cluster_names(fig3, {0: np.array([0.0, 1.0, 2.0])}, {0: "leave"})
    assert fig3.layout.scene.annotations[0].z == 2.0
