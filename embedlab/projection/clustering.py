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

from embedlab.messages import N_, InputError, Message
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
    "silhouette": N_("Silhouette of labels (cosine)"),
    "ari": N_("Adjusted Rand index (clusters vs labels)"),
    "nmi": N_("NMI (clusters vs labels)"),
    "knn_agreement": N_("kNN label agreement"),
    "cluster_silhouette": N_("Silhouette of found clusters (cosine)"),
}
TABLE_COLUMNS = (N_("measure"), N_("without instruction"), N_("with instruction"), N_("change"))


def comparison_table(without: Separation, with_: Separation) -> pd.DataFrame:
    """One row per measure: value without and with the instruction, and the change. Measure names
    and column headers are the English msgids (the view translates them)."""
    rows = []
    for attr, name in MEASURES.items():
        a, b = getattr(without, attr), getattr(with_, attr)
        if a is None and b is None:
            continue
        change = b - a if a is not None and b is not None else None
        rows.append(dict(zip(TABLE_COLUMNS, (name, a, b, change), strict=True)))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


TIE = 0.01  # changes smaller than this are noise on a few hundred texts
LABEL_MEASURES = ("silhouette", "ari", "nmi", "knn_agreement")  # higher = topics separate better
SHORT_NAMES = {"silhouette": N_("silhouette"), "ari": "ARI", "nmi": "NMI", "knn_agreement": N_("kNN agreement")}


@dataclass(frozen=True)
class Changes:
    """Which label measures improve, get worse or stay within TIE with the instruction."""

    up: tuple[str, ...]
    down: tuple[str, ...]
    same: tuple[str, ...]
    silhouette: tuple[float, float] | None  # (without, with) when both are known

    @property
    def compared(self) -> int:
        return len(self.up) + len(self.down) + len(self.same)


def measure_changes(without: Separation, with_: Separation, tie: float = TIE) -> Changes:
    """Sort the label measures known on both sides by the direction of their change."""
    pairs = {m: (getattr(without, m), getattr(with_, m)) for m in LABEL_MEASURES}
    pairs = {m: (a, b) for m, (a, b) in pairs.items() if a is not None and b is not None}
    return Changes(
        up=tuple(m for m, (a, b) in pairs.items() if b - a >= tie),
        down=tuple(m for m, (a, b) in pairs.items() if a - b >= tie),
        same=tuple(m for m, (a, b) in pairs.items() if abs(b - a) < tie),
        silhouette=pairs.get("silhouette"),
    )


def name_list(measures: Sequence[str]) -> Message:
    """"a", "a and b", "a, b and c" of the measures' short names, translatable as one Message."""
    names = [Message(SHORT_NAMES[m]) for m in measures]
    if len(names) == 1:
        return names[0]
    listed = Message(N_("{first} and {second}"), {"first": names[-2], "second": names[-1]})
    for name in reversed(names[:-2]):
        listed = Message(N_("{first}, {rest}"), {"first": name, "rest": listed})
    return listed


def verdict(without: Separation, with_: Separation, instruction: str = "") -> Message:
    """One sentence computed from the measures: how many improve and how many get worse with the
    instruction (changes below TIE count as unchanged), and which way that points.

    A side is called better only when every measure that changed moved its way and they are at
    least half of those compared; otherwise it says "mixed result" or "no clear difference" (and
    "little difference" only when every change is below TIE), always with the counts. `instruction` is its display name (user text: shown literally by the view).
    """
    c = measure_changes(without, with_)
    if not c.compared:
        return _unlabelled_verdict(without, with_, instruction)
    params: dict = {"instruction": instruction, "total": c.compared, "up": len(c.up), "down": len(c.down)}
    if c.up:
        params["improved"] = name_list(c.up)
    if c.down:
        params["worse"] = name_list(c.down)
    # "" (not a Message: an empty msgid would translate to the catalog's header) when nothing stayed.
    params["unchanged"] = Message(N_(", {same} within ±0.01"), {"same": len(c.same)}) if c.same else ""
    detail = ""
    if c.silhouette is not None:
        params["sil_without"], params["sil_with"] = f"{c.silhouette[0]:.2f}", f"{c.silhouette[1]:.2f}"
        detail = " silhouette"
    clear = 2 * max(len(c.up), len(c.down)) >= c.compared
    if c.up and not c.down and clear:
        msgid = (N_("With the instruction “{instruction}” the topics separate better: {up} of {total} measures "
                    "improve ({improved}){unchanged}; silhouette {sil_without} → {sil_with}.")
                 if detail else
                 N_("With the instruction “{instruction}” the topics separate better: {up} of {total} measures "
                    "improve ({improved}){unchanged}."))
    elif c.down and not c.up and clear:
        msgid = (N_("Without the instruction “{instruction}” the topics separate better: {down} of {total} "
                    "measures are worse with it ({worse}){unchanged}; silhouette "
                    "{sil_without} → {sil_with}.")
                 if detail else
                 N_("Without the instruction “{instruction}” the topics separate better: {down} of {total} "
                    "measures are worse with it ({worse}){unchanged}."))
    elif c.up and c.down:
        msgid = N_("Mixed result with the instruction “{instruction}”: {up} of {total} measures improve "
                   "({improved}), {down} get worse ({worse}){unchanged}.")
    elif c.up:
        msgid = N_("No clear difference with the instruction “{instruction}”: {up} of {total} measures improve "
                   "({improved}){unchanged}.")
    elif c.down:
        msgid = N_("No clear difference with the instruction “{instruction}”: {down} of {total} measures get "
                   "worse ({worse}){unchanged}.")
    else:
        msgid = N_("The instruction “{instruction}” makes little difference: all {total} measures change by "
                   "less than 0.01.")
    return Message(msgid, params)


def _unlabelled_verdict(without: Separation, with_: Separation, instruction: str) -> Message:
    a, b = without.cluster_silhouette, with_.cluster_silhouette
    if a is None or b is None:
        return Message(N_("No labels and no clusters to compare: add a label column to measure topic separation."))
    params = {"instruction": instruction, "without": f"{a:.2f}", "with": f"{b:.2f}"}
    if abs(b - a) < TIE:
        return Message(N_("Without labels only the found clusters can be compared: they are as tight with the "
                          "instruction “{instruction}” as without it (silhouette {without} vs {with})."), params)
    if b > a:
        return Message(N_("Without labels only the found clusters can be compared: they are tighter with the "
                          "instruction “{instruction}” (silhouette {without} → {with})."), params)
    return Message(N_("Without labels only the found clusters can be compared: they are tighter without the "
                      "instruction “{instruction}” (silhouette {without} → {with})."), params)


FOLLOWS_ARI = 0.5  # clusters agree with a field at least this well (ARI) to be said to follow it
FOLLOWS_MARGIN = 0.2  # ... and this much better than with the topic


def cluster_agreement(clusters: np.ndarray, values: Sequence[str]) -> float:
    """Adjusted Rand index of the found clusters, int (n,), against a field's n values."""
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score([str(v) for v in values], np.asarray(clusters)))


def language_note(clusters: np.ndarray, languages: Sequence[str], topics: Sequence[str] | None,
                  setting: str) -> Message | None:
    """A plain sentence when the found clusters follow the texts' language rather than their topic
    (ARI against language >= FOLLOWS_ARI and FOLLOWS_MARGIN above the ARI against topic); None when
    they do not or the texts are in one language. `setting` is the map's (translated) title.

    Args:
        clusters: int (n,) found clusters. languages: n detected languages. topics: n labels or None.
    """
    if len(set(languages)) < 2:
        return None
    by_language = cluster_agreement(clusters, languages)
    if by_language < FOLLOWS_ARI:
        return None
    params = {"setting": setting, "language": f"{by_language:.2f}"}
    if topics is None:
        return Message(N_("{setting}: the clusters found follow the texts' language (ARI {language} against the "
                          "detected language), so they group texts by language, not by meaning."), params)
    by_topic = cluster_agreement(clusters, topics)
    if by_language - by_topic < FOLLOWS_MARGIN:
        return None
    params["topic"] = f"{by_topic:.2f}"
    return Message(N_("{setting}: the clusters found follow the texts' language, not their topic: ARI {language} "
                      "against the detected language, {topic} against the topic labels."), params)
