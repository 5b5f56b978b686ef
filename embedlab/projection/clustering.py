"""Clusters of embedding vectors (k-means with a chosen or searched k, HDBSCAN) and measures of
how well topics separate (cosine silhouette, ARI, NMI, kNN label agreement), with the sentence
that says which of two settings separates them better.

scikit-learn is imported inside the functions that need it: importing it costs about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from embedlab.messages import N_, InputError
from embedlab.projection.neighbours import cosine_knn, search_space


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # int (n,), -1 = noise (HDBSCAN only)
    method: str  # "k-means" or "HDBSCAN"
    k: int  # clusters found (noise not counted)
    scores: dict[int, float] = field(default_factory=dict)  # k -> cosine silhouette (k search)


SILHOUETTE_SAMPLE = 2_000  # silhouette is O(n^2): score a fixed sample above this size


def silhouette_cosine(vectors: np.ndarray, labels: Sequence, seed: int = 0) -> float | None:
    """Mean cosine silhouette of a labelling (-1 .. 1); None when it is undefined (one group,
    or every point its own group). Samples 2,000 points for large inputs.

    Args:
        vectors: float32 (n, d). labels: length n (noise, -1, is left out by the caller if wanted).
    """
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    groups = len(np.unique(labels))
    if groups < 2 or groups >= len(labels):
        return None
    sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(vectors, labels, metric="cosine", sample_size=sample, random_state=seed))


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels, int (n,). On unit vectors squared distance = 2 - 2 cos, so this groups by
    cosine."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)


def cluster_kmeans(vectors: np.ndarray, k: int | None = None, k_range: range = range(2, 13), seed: int = 0) -> Clustering:
    """k-means with a given k, or with the k in k_range that has the best cosine silhouette.

    Args:
        vectors: float32 (n, d), rows L2-normalised.
    """
    n = vectors.shape[0]
    if k is not None:
        if not 2 <= k < n:
            raise InputError(N_("k must be between 2 and {largest}."), largest=n - 1)
        return Clustering(kmeans(vectors, k, seed), "k-means", k)
    candidates = [c for c in k_range if 2 <= c < n]
    if not candidates:
        raise InputError(N_("Too few texts to cluster."))
    scores: dict[int, float] = {}
    found: dict[int, np.ndarray] = {}
    for c in candidates:
        found[c] = kmeans(vectors, c, seed)
        scores[c] = silhouette_cosine(vectors, found[c], seed) or -1.0
    best = max(scores, key=lambda c: scores[c])
    return Clustering(found[best], "k-means", best, scores)


def cluster_hdbscan(vectors: np.ndarray, min_cluster_size: int = 5) -> Clustering:
    """HDBSCAN (scikit-learn) on the unit vectors; -1 marks noise.

    Args:
        vectors: float32 (n, d), rows L2-normalised (Euclidean order = cosine order).
    """
    from sklearn.cluster import HDBSCAN

    if vectors.shape[0] <= min_cluster_size:
        raise InputError(N_("HDBSCAN needs more than {n} texts."), n=min_cluster_size)
    labels = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(vectors)
    return Clustering(labels, "HDBSCAN", int(len(set(labels.tolist()) - {-1})))


def knn_label_agreement(
    labels: Sequence, k: int = 10, vectors: np.ndarray | None = None, knn: np.ndarray | None = None
) -> float:
    """Mean share of each point's k nearest neighbours (cosine, itself excluded) with its label.

    Args:
        labels: length n.
        vectors: float32 (n, d), rows L2-normalised; or
        knn: int (n, >= k + 1) neighbour indices with each point first, as from `cosine_knn`.
    """
    labels = np.asarray(labels)
    n = len(labels)
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("Need at least 2 points.")
    if knn is None:
        if vectors is None:
            raise ValueError("Pass vectors or knn.")
        knn, _ = cosine_knn(search_space(vectors)[0], k + 1)
    neighbours = knn[:, 1 : k + 1]
    return float((labels[neighbours] == labels[:, None]).mean())


@dataclass(frozen=True)
class Separation:
    """How well one set of vectors separates the topics (None = not computable)."""

    silhouette: float | None  # cosine silhouette of the given labels
    ari: float | None  # adjusted Rand index, found clusters vs labels
    nmi: float | None  # normalised mutual information, found clusters vs labels
    knn_agreement: float | None  # share of k nearest neighbours with the same label
    clusters: int  # clusters found
    cluster_silhouette: float | None  # cosine silhouette of the found clusters (works without labels)


def separation(vectors: np.ndarray, labels: Sequence | None, clusters: np.ndarray, k: int = 10) -> Separation:
    """Measures for one setting.

    Args:
        vectors: float32 (n, d), rows L2-normalised.
        labels: length n topic labels, or None when the data has none.
        clusters: int (n,) found clusters (-1 = noise, left out of the cluster silhouette).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters = np.asarray(clusters)
    kept = clusters >= 0
    cluster_sil = silhouette_cosine(vectors[kept], clusters[kept]) if kept.sum() > 2 else None
    found = int(len(set(clusters[kept].tolist())))
    if labels is None:
        return Separation(None, None, None, None, found, cluster_sil)
    labels = np.asarray([str(x) for x in labels])
    return Separation(
        silhouette=silhouette_cosine(vectors, labels),
        ari=float(adjusted_rand_score(labels, clusters)),
        nmi=float(normalized_mutual_info_score(labels, clusters)),
        knn_agreement=knn_label_agreement(labels, k, vectors=vectors) if len(labels) > 1 else None,
        clusters=found,
        cluster_silhouette=cluster_sil,
    )


MEASURES = {
    "silhouette": "Silhouette of labels (cosine)",
    "ari": "Adjusted Rand index (clusters vs labels)",
    "nmi": "NMI (clusters vs labels)",
    "knn_agreement": "kNN label agreement",
    "cluster_silhouette": "Silhouette of found clusters (cosine)",
}


def comparison_table(without: Separation, with_: Separation) -> pd.DataFrame:
    """One row per measure: value without and with the instruction, and the change."""
    rows = []
    for attr, name in MEASURES.items():
        a, b = getattr(without, attr), getattr(with_, attr)
        if a is None and b is None:
            continue
        change = b - a if a is not None and b is not None else None
        rows.append({"measure": name, "without instruction": a, "with instruction": b, "change": change})
    return pd.DataFrame(rows, columns=["measure", "without instruction", "with instruction", "change"])


TIE = 0.01  # changes smaller than this are noise on a few hundred texts


def verdict(without: Separation, with_: Separation, instruction: str = "the instruction") -> str:
    """One sentence saying which setting separates the topics better, and by which measures."""
    label_measures = ["silhouette", "ari", "nmi", "knn_agreement"]
    pairs = {
        m: (getattr(without, m), getattr(with_, m))
        for m in label_measures
        if getattr(without, m) is not None and getattr(with_, m) is not None
    }
    if not pairs:
        a, b = without.cluster_silhouette, with_.cluster_silhouette
        if a is None or b is None:
            return "No labels and no clusters to compare: add a label column to measure topic separation."
        if abs(b - a) < TIE:
            return f"Without labels only the found clusters can be compared: equally tight with and without {instruction}."
        better = f"with {instruction}" if b > a else f"without {instruction}"
        return f"Without labels only the found clusters can be compared: they are tighter {better} (silhouette {a:.2f} vs {b:.2f})."
    up = [m for m, (a, b) in pairs.items() if b - a >= TIE]
    down = [m for m, (a, b) in pairs.items() if a - b >= TIE]
    sil = pairs.get("silhouette")
    detail = f"silhouette {sil[0]:.2f} → {sil[1]:.2f}" if sil else ""
    names = {"silhouette": "silhouette", "ari": "ARI", "nmi": "NMI", "knn_agreement": "kNN agreement"}
    if len(up) > len(down):
        return (
            f"With {instruction} the topics separate better: {len(up)} of {len(pairs)} measures improve "
            f"({', '.join(names[m] for m in up)}){'; ' + detail if detail else ''}."
        )
    if len(down) > len(up):
        return (
            f"Without {instruction} the topics separate better: {len(down)} of {len(pairs)} measures are worse "
            f"with it ({', '.join(names[m] for m in down)}){'; ' + detail if detail else ''}."
        )
    if up:  # as many measures improve as get worse
        return (
            f"Mixed result: with {instruction} {', '.join(names[m] for m in up)} improve but "
            f"{', '.join(names[m] for m in down)} get worse{' (' + detail + ')' if detail else ''}."
        )
    return f"{instruction[0].upper() + instruction[1:]} makes little difference to how the topics separate" + (
        f" ({detail})." if detail else "."
    )
