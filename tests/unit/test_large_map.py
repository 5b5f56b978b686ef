"""Maps, clusters and measures of large inputs (fitted on samples, the rest placed or assigned),
checked on small inputs with small thresholds; and the map of a stored collection read from a real
embedded Chroma store."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from embedlab import figures
from embedlab.figures.maps import HOVER_BUDGET
from embedlab.projection import neighbours
from embedlab.projection.clustering import knn_label_agreement
from embedlab.projection.large import cluster_large, separation_large, stored_map
from embedlab.projection.umap import UmapParams, fit_umap
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client

PARAMS = UmapParams(n_neighbors=10, seed=0, n_epochs=60)


def blobs(per: int, centres: int = 4, dim: int = 24, spread: float = 0.12, seed: int = 0):
    """Unit vectors around `centres` random directions, shuffled: (vectors (per*centres, dim), blob of each)."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim))
    labels = rng.permutation(np.repeat(np.arange(centres), per))
    x = middle[labels] / np.linalg.norm(middle[labels], axis=1, keepdims=True)
    x = x + spread * rng.standard_normal(x.shape)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def nearest_share(coords: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float:
    """Share of `rows` whose nearest other point on the map has their label."""
    d = np.linalg.norm(coords[rows][:, None] - coords[None], axis=2)
    d[np.arange(len(rows)), rows] = np.inf
    return float((labels[d.argmin(axis=1)] == labels[rows]).mean())


def test_above_the_threshold_the_map_is_fitted_on_a_sample_and_places_every_other_point():
    x, labels = blobs(per=60)
    stages = []
    proj = fit_umap(x, PARAMS, sample_above=150, sample_size=100,
                    progress=lambda message, done, steps: stages.append((message.msgid, done, steps)))
    assert proj.sampled == 100 and proj.coords.shape == (240, 2) and proj.coords.dtype == np.float32
    assert np.isfinite(proj.coords).all()
    assert [done for _, done, _ in stages] == [0, 1, 2, 3] and {steps for *_, steps in stages} == {3}
    assert "sample" in stages[1][0] and "other" in stages[2][0]
    # The placed points (the 140 not in the sample) land among their own topic.
    assert nearest_share(proj.coords, labels, np.arange(240)) > 0.9
    again = fit_umap(x, PARAMS, sample_above=150, sample_size=100)
    assert np.array_equal(proj.coords, again.coords)  # seeded sample, layout and placement

    exact = fit_umap(x, PARAMS, sample_above=240, sample_size=100, progress=lambda *a: stages.append(a))
    assert exact.sampled == 0 and exact.coords.shape == (240, 2) and len(stages) == 4  # no steps reported
    assert fit_umap(x, PARAMS, sample_above=100, sample_size=240).sampled == 0  # a sample of all: exact


def test_the_sampled_map_searches_neighbours_on_the_pca_reduction(monkeypatch):
    monkeypatch.setattr(neighbours, "LARGE_N", 50)
    monkeypatch.setattr(neighbours, "SEARCH_DIMS", 8)
    x, labels = blobs(per=50, dim=32)
    proj = fit_umap(x, PARAMS, sample_above=120, sample_size=80)
    assert proj.sampled == 80 and proj.coords.shape == (200, 2)
    assert nearest_share(proj.coords, labels, np.arange(200)) > 0.9


@pytest.mark.parametrize("method", ["k-means", "HDBSCAN"])
def test_clusters_found_on_a_sample_are_given_to_every_point(method):
    x, labels = blobs(per=80, spread=0.08)
    found = cluster_large(x, method, k=4 if method == "k-means" else None, min_cluster_size=8,
                          sample_above=200, sample_size=120)
    assert found.labels.shape == (320,) and found.method == method
    assert adjusted_rand_score(labels, found.labels) > 0.9
    searched = cluster_large(x, "k-means", None, sample_above=200, sample_size=120)
    assert searched.k == 4 and set(searched.scores) == set(range(2, 13))
    small = cluster_large(x[:150], "k-means", 4, sample_above=200)  # at or under the threshold: every point
    assert adjusted_rand_score(labels[:150], small.labels) > 0.9


def test_sampled_measures_estimate_the_full_ones():
    x, labels = blobs(per=100, spread=0.3, seed=1)
    names = [f"topic {b}" for b in labels]
    full = separation_large(x, names, labels, sample_above=1_000)
    sampled = separation_large(x, names, labels, sample_above=100, sample_size=150)
    assert full.knn_agreement == pytest.approx(knn_label_agreement(names, 10, vectors=x))
    assert sampled.knn_agreement == pytest.approx(full.knn_agreement, abs=0.06)
    assert (sampled.ari, sampled.nmi, sampled.clusters) == (full.ari, full.nmi, full.clusters) == (1.0, 1.0, 4)
    assert separation_large(x, None, labels, sample_above=100).silhouette is None


def test_a_stored_collection_is_mapped_from_its_stored_vectors(tmp_path):
    store = ChromaStore(open_client(path=str(tmp_path / "chroma")))
    x, labels = blobs(per=40)
    store.create(CollectionSpec("tech_doc_v2", "some-model", x.shape[1]))
    ids = [f"c{i}" for i in range(len(x))]
    store.upsert("tech_doc_v2", "some-model", ids, [f"text {i}" for i in ids],
                 [{"source": f"doc{b}.md", "chunk": i} for i, b in enumerate(labels)], x)
    shares = []
    out = stored_map(store, "tech_doc_v2", PARAMS, k=4, sample_above=100, sample_size=60,
                     progress=lambda message, share: shares.append(share))
    assert sorted(out.ids) == sorted(ids)  # one point per stored chunk
    rows = [ids.index(i) for i in out.ids]
    np.testing.assert_allclose(out.vectors, x[rows], atol=1e-6)  # the stored vectors, nothing embedded
    assert out.projection.coords.shape == (160, 2) and out.sampled and out.projection.sampled == 60
    assert out.labels == tuple(f"doc{labels[r]}.md" for r in rows)
    assert out.clustering.labels.shape == (160,) and adjusted_rand_score(labels[rows], out.clustering.labels) > 0.9
    assert out.separation.knn_agreement > 0.9 and out.version == store.content_version("tech_doc_v2")
    assert shares == sorted(shares) and shares[-1] == 1.0 and set(out.seconds) == {"read", "map", "clusters", "measures"}
    small = stored_map(store, "tech_doc_v2", PARAMS, k=4, label_field=None)
    assert not small.sampled and small.labels is None and small.separation.knn_agreement is None


def test_a_large_map_is_drawn_with_webgl_and_bounded_hover_labels():
    n = 40_000
    rng = np.random.default_rng(0)
    coords = rng.standard_normal((n, 2)).astype(np.float32)
    texts = [f"<b>chunk {i}</b> " + "word " * 200 for i in range(n)]
    groups = [f"doc{i % 7}.md" for i in range(n)]
    fig = figures.umap_map(coords, texts, groups, "map", details=[f"cluster {i % 3}" for i in range(n)])
    assert {type(t).__name__ for t in fig.data} == {"Scattergl"} and sum(len(t.x) for t in fig.data) == n
    hovers = [h for t in fig.data for h in t.hovertext]
    assert sum(len(h) for h in hovers) < HOVER_BUDGET + n * 60  # the texts' share, plus group and detail
    first = next(h for t in fig.data for h in t.hovertext if h.startswith("&lt;b&gt;chunk 0&lt;"))
    assert len(first.split("<br>")[0]) < 200 and "…" in first and "cluster 0" in first
    small = figures.umap_map(coords[:50], texts[:50], groups[:50], "map")
    assert {type(t).__name__ for t in small.data} == {"Scatter"}
    assert max(len(h.split("<br>")[0]) for t in small.data for h in t.hovertext) > 250  # small maps keep 300
