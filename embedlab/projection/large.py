"""Maps of a stored collection of up to 100,000 chunks on two cores: its vectors read from the store
(not embedded again), a UMAP map fitted on a sample with the other points placed on it, clusters
found on a sample and every point given the cluster of its nearest centre (k-means) or sampled
neighbour (HDBSCAN), and the separation measures on a sample. Up to LARGE_MAP points everything is
computed on every point, exactly as for a small map.

All vectors are float32 with L2-normalised rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedlab.messages import N_, Message
from embedlab.projection.clustering import (
    Clustering,
    Separation,
    cluster_hdbscan,
    cluster_kmeans,
    separation,
    silhouette_cosine,
)
from embedlab.projection.neighbours import cosine_knn, search_space
from embedlab.projection.umap import FIT_SAMPLE, LARGE_MAP, Projection, UmapParams, fit_umap
from embedlab.stores.base import VectorStore

MEASURE_SAMPLE = 2_000  # points whose 10 nearest neighbours (among all) give the kNN label agreement

Progress = Callable[[Message, float], None]
"""Called as progress(what is being done, share done 0..1)."""


def _sample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample of min(size, n) of n rows."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def cluster_large(vectors: np.ndarray, method: str, k: int | None = None, min_cluster_size: int = 5, *,
                  sample_above: int = LARGE_MAP, sample_size: int = FIT_SAMPLE, seed: int = 0) -> Clustering:
    """k-means ("k-means": a given k, or the best cosine silhouette) or HDBSCAN ("HDBSCAN") clusters.

    Up to `sample_above` rows, on every row (clustering.cluster_kmeans / cluster_hdbscan). Above,
    on a seeded sample of `sample_size` rows; every row then gets the cluster whose mean direction
    is nearest (k-means) or the cluster of its nearest sampled row (HDBSCAN, noise included).

    Args:
        vectors: float32 (n, d), rows L2-normalised.

    Returns:
        Clustering with labels int (n,), one per row.
    """
    n = vectors.shape[0]
    fit = cluster_hdbscan if method == "HDBSCAN" else cluster_kmeans
    arg = min_cluster_size if method == "HDBSCAN" else k
    if n <= sample_above:
        return fit(vectors, arg)
    rows = _sample(n, sample_size, seed)
    found = fit(vectors[rows], arg)
    if method == "HDBSCAN":
        space, _ = search_space(vectors, fit_rows=rows)
        nearest, _ = cosine_knn(space[rows], 1, queries=space)
        labels = found.labels[nearest[:, 0]]
    else:
        ids = np.unique(found.labels)
        centres = np.stack([vectors[rows][found.labels == c].mean(axis=0) for c in ids])
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        labels = ids[_argmax_blocks(vectors, centres)]
    return Clustering(labels.astype(np.int64), found.method, found.k, found.scores)


def _argmax_blocks(vectors: np.ndarray, centres: np.ndarray, block: int = 8192) -> np.ndarray:
    """int (n,): the row of `centres` (c, d) with the highest cosine to each vector (n, d)."""
    out = np.empty(vectors.shape[0], dtype=np.int64)
    for start in range(0, vectors.shape[0], block):
        out[start : start + block] = np.argmax(vectors[start : start + block] @ centres.T, axis=1)
    return out


def separation_large(vectors: np.ndarray, labels: Sequence | None, clusters: np.ndarray, k: int = 10, *,
                     sample_above: int = LARGE_MAP, sample_size: int = MEASURE_SAMPLE,
                     seed: int = 0) -> Separation:
    """clustering.separation; above `sample_above` rows the kNN label agreement is the mean over a
    seeded sample of `sample_size` rows of their k nearest neighbours among all rows (searched on a
    PCA reduction fitted on that sample, as for the map). ARI and NMI use every row; silhouettes are sampled in any case.

    Args:
        vectors: float32 (n, d), rows L2-normalised. labels: n topic labels or None.
        clusters: int (n,) found clusters (-1 = noise).
    """
    n = vectors.shape[0]
    if n <= sample_above or labels is None:
        return separation(vectors, labels, clusters, k)
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters = np.asarray(clusters)
    labels = np.asarray([str(x) for x in labels])
    kept = clusters >= 0
    rows = _sample(n, sample_size, seed)
    space, _ = search_space(vectors, fit_rows=rows)
    # Each row finds itself first; blocks of 256 rows keep each product (256 x n) in cache-sized pieces.
    knn, _ = cosine_knn(space, k + 1, queries=space[rows], block=256)
    return Separation(
        silhouette=silhouette_cosine(vectors, labels),
        ari=float(adjusted_rand_score(labels, clusters)),
        nmi=float(normalized_mutual_info_score(labels, clusters)),
        knn_agreement=float((labels[knn[:, 1:]] == labels[rows][:, None]).mean()),
        clusters=int(len(set(clusters[kept].tolist()))),
        cluster_silhouette=silhouette_cosine(vectors[kept], clusters[kept]) if kept.sum() > 2 else None,
    )


@dataclass(frozen=True)
class StoredMap:
    """The map of a stored collection's vectors, with its clusters and measures.

    vectors: float32 (n, dim), the stored vectors, row i for ids[i] (kept for placing queries).
    labels: the metadata field `label_field` of each chunk ("" when absent), or None.
    version: the collection's content version when it was read (a new one means: read again).
    """

    name: str
    version: str | None
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None
    vectors: np.ndarray
    projection: Projection
    clustering: Clustering
    separation: Separation
    seconds: dict[str, float] = field(default_factory=dict)  # "read", "map", "clusters", "measures"

    @property
    def sampled(self) -> bool:
        """Whether the map, clusters and measures were computed on samples (see the module docstring)."""
        return self.projection.sampled > 0


def stored_map(store: VectorStore, name: str, params: UmapParams | None = None, *, method: str = "k-means",
               k: int | None = None, min_cluster_size: int = 5, label_field: str | None = "source",
               progress: Progress | None = None, sample_above: int = LARGE_MAP,
               sample_size: int = FIT_SAMPLE) -> StoredMap:
    """Read the collection `name`'s vectors from `store` and map, cluster and measure them, on
    samples of `sample_size` above `sample_above` chunks (see the module docstring).

    Raises:
        StoreError: the collection cannot be read. ValueError: too few chunks for a map.
    """
    def report(message: Message, share: float) -> None:
        if progress:
            progress(message, min(1.0, share))

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    version = store.content_version(name)
    read = store.read_vectors(name, progress=lambda done, total: report(
        Message(N_("Reading the stored vectors: {done:,} of {total:,}"), {"done": done, "total": total}),
        0.3 * done / max(total, 1)))
    labels = tuple(str(m.get(label_field, "")) for m in read.metadatas) if label_field else None
    seconds["read"] = time.perf_counter() - t0
    projection = fit_umap(read.vectors, params or UmapParams(), sample_above=sample_above, sample_size=sample_size,
                          progress=lambda message, done, steps: report(message, 0.3 + 0.5 * done / steps))
    seconds["map"] = projection.seconds
    t1 = time.perf_counter()
    report(Message(N_("Finding clusters")), 0.8)
    clustering = cluster_large(read.vectors, method, k, min_cluster_size, sample_above=sample_above,
                               sample_size=sample_size)
    t2 = time.perf_counter()
    report(Message(N_("Measuring how well the topics separate")), 0.9)
    measures = separation_large(read.vectors, labels, clustering.labels, sample_above=sample_above,
                                sample_size=min(sample_size, MEASURE_SAMPLE))
    seconds.update(clusters=t2 - t1, measures=time.perf_counter() - t2)
    report(Message(N_("Map ready")), 1.0)
    return StoredMap(name, version, tuple(read.ids), tuple(read.texts), labels, read.vectors, projection,
                     clustering, measures, seconds)
