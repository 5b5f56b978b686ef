"""UMAP maps of embedding vectors, clustering, and measures of how well topics separate.

Neighbour search is done here with exact cosine top-k (blocked matrix products) and handed to
UMAP as a precomputed kNN graph. UMAP's own search (pynndescent) recompiles its numba code in
every process, which costs minutes on a small machine; the code UMAP still compiles (graph
construction and layout) is warmed once per process by `warm_up`. Queries are placed on an
existing map with UMAP's transform procedure (`place_queries`), against the same exact search.

umap is imported inside the functions that need it: importing it costs seconds.

All vectors are float32 with L2-normalised rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

# Above this many points the neighbour search runs on a PCA reduction of the vectors (exact
# top-k over 20,000 x 1024 would take close to a minute on two cores).
LARGE_N = 4096
SEARCH_DIMS = 128
# Serialises numba work in this process: two fits at once only thrash two cores, and the
# warm-up compile should finish once rather than run twice side by side.
_NUMBA_LOCK = threading.RLock()


@dataclass(frozen=True)
class UmapParams:
    """Parameters of one UMAP map (hashable, so usable as a cache key)."""

    n_components: int = 2
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int | None = 42  # None: parallel layout, not reproducible, faster on 2 cores
    n_epochs: int | None = None  # None: `auto_epochs`


@dataclass(frozen=True)
class Projection:
    """A fitted map: coordinates plus what `place_queries` needs to add points to it.

    Small (no vectors, no UMAP object), so it is cheap to cache and copy.
    """

    coords: np.ndarray  # float32 (n, n_components)
    a: float  # UMAP's curve parameters for min_dist
    b: float
    n_neighbors: int  # the effective k (at most n - 1)
    params: UmapParams = field(default_factory=UmapParams)
    seconds: float = 0.0  # time the fit took


def auto_epochs(n: int) -> int:
    """Layout epochs for n points: UMAP's default is 500 below 10,000 points, which is more than
    a map needs to settle; the layout cost grows with epochs x edges, so large maps get fewer."""
    if n <= 2_000:
        return 300
    if n <= 10_000:
        return 200
    return 120


def _search_space(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The vectors used for the neighbour search, and PCA coordinates for large inputs.

    Up to LARGE_N points (or SEARCH_DIMS dimensions) the vectors are searched as given and the
    second item is None. Above, the search runs on the top SEARCH_DIMS principal components,
    re-normalised (neighbour sets change a little), and the PCA coordinates (n, SEARCH_DIMS),
    strongest component first, are returned to start the layout from.
    """
    n, d = vectors.shape
    if n <= LARGE_N or d <= SEARCH_DIMS:
        return vectors, None
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    # Eigenvectors of the d x d covariance: cheaper than an SVD of the n x d matrix.
    _, eigvecs = np.linalg.eigh(centred.T @ centred)
    pcs = centred @ eigvecs[:, ::-1][:, :SEARCH_DIMS]
    reduced = pcs / np.maximum(np.linalg.norm(pcs, axis=1, keepdims=True), 1e-12)
    return reduced.astype(np.float32), pcs


def _pca_init(pcs: np.ndarray, n_components: int, seed: int | None) -> np.ndarray:
    """A layout start from the leading principal components, scaled as UMAP scales its own
    initialisations (max |x| = 10) with a little noise so no two points coincide."""
    coords = pcs[:, :n_components].astype(np.float64)
    coords *= 10.0 / max(np.abs(coords).max(), 1e-12)
    coords += np.random.default_rng(seed).normal(scale=1e-4, size=coords.shape)
    return coords.astype(np.float32)


def cosine_knn(
    vectors: np.ndarray, k: int, queries: np.ndarray | None = None, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine similarity.

    Args:
        vectors: float32 (n, d), rows L2-normalised.
        k: neighbours per row, at most n.
        queries: float32 (m, d), rows L2-normalised; None means the vectors themselves, and then
            each point is its own first neighbour (distance 0), as UMAP expects.
        block: rows per matrix product (bounds memory to block x n floats).

    Returns:
        (indices int32 (m, k), distances float32 (m, k)), nearest first; distance = 1 - cosine,
        clipped at 0.
    """
    n = vectors.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and {n}, got {k}")
    own = queries is None
    rows = vectors if own else queries
    m = rows.shape[0]
    indices = np.empty((m, k), dtype=np.int32)
    dists = np.empty((m, k), dtype=np.float32)
    for start in range(0, m, block):
        sims = rows[start : start + block] @ vectors.T  # (b, n)
        if own:
            span = np.arange(start, start + sims.shape[0])
            sims[span - start, span] = np.inf  # self first, even among duplicates
        if k < n:
            part = np.argpartition(sims, n - k, axis=1)[:, n - k :]  # the k largest, unordered
        else:
            part = np.tile(np.arange(n), (len(sims), 1))
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        indices[start : start + len(sims)] = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        if own:
            top[:, 0] = 1.0
        dists[start : start + len(sims)] = np.clip(1.0 - top, 0.0, 2.0)
    return indices, dists


def fit_umap(vectors: np.ndarray, params: UmapParams = UmapParams()) -> Projection:
    """A UMAP map of the vectors (cosine neighbourhoods).

    Args:
        vectors: float32 (n, d), rows L2-normalised, n >= 4.

    Returns:
        Projection with coords float32 (n, params.n_components).
    """
    import umap

    enable_numba_disk_cache()
    n = vectors.shape[0]
    if n < 4:
        raise ValueError("A map needs at least 4 texts.")
    if params.n_components not in (2, 3):
        raise ValueError("Maps are 2-D or 3-D.")
    start = time.perf_counter()
    k = max(2, min(params.n_neighbors, n - 1))
    space, pcs = _search_space(vectors)
    knn = cosine_knn(space, k)
    # Spectral initialisation solves an eigenproblem on the kNN graph that takes tens of seconds
    # for large or weakly structured inputs on two cores; a PCA start gives comparable maps
    # (Kobak & Linderman 2021) at no cost, since the components are already computed.
    init = "spectral" if pcs is None else _pca_init(pcs, params.n_components, params.seed)
    reducer = umap.UMAP(
        n_components=params.n_components,
        n_neighbors=k,
        min_dist=params.min_dist,
        metric="cosine",
        n_epochs=params.n_epochs or auto_epochs(n),
        random_state=params.seed,
        n_jobs=1 if params.seed is not None else -1,
        precomputed_knn=knn,
        init=init,
        low_memory=True,
    )
    with _NUMBA_LOCK, warnings.catch_warnings():
        # "transform unavailable" (we place queries ourselves) and "n_jobs overridden by seed".
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(vectors)
    return Projection(
        coords=np.asarray(coords, dtype=np.float32),
        a=float(reducer._a),
        b=float(reducer._b),
        n_neighbors=k,
        params=params,
        seconds=time.perf_counter() - start,
    )


def place_queries(projection: Projection, vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Coordinates for new points on an existing map, by UMAP's transform procedure.

    Each query is linked to its k nearest mapped points (fuzzy membership weights), starts at
    their weighted mean and is then moved by a short layout run with the map held fixed.

    Args:
        vectors: float32 (n, d), the vectors the map was fitted on (same order as coords).
        queries: float32 (m, d), rows L2-normalised.

    Returns:
        float32 (m, n_components).
    """
    import scipy.sparse
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import (
        compute_membership_strengths,
        init_graph_transform,
        make_epochs_per_sample,
        smooth_knn_dist,
    )

    if len(queries) == 0:
        return np.zeros((0, projection.coords.shape[1]), dtype=np.float32)
    enable_numba_disk_cache()
    n = vectors.shape[0]
    k = projection.n_neighbors
    indices, dists = cosine_knn(vectors, k, queries=queries)
    with _NUMBA_LOCK:
        # local_connectivity 1 for the fit means 0 here: a query is not its own neighbour.
        sigmas, rhos = smooth_knn_dist(dists, float(k), local_connectivity=0.0)
        rows, cols, vals, _ = compute_membership_strengths(indices, dists, sigmas, rhos, bipartite=True)
        graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(queries), n))
        csr = graph.tocsr()
        csr.eliminate_zeros()
        placed = init_graph_transform(csr, projection.coords)
        n_epochs = 100 if n <= 10_000 else 30
        graph.data[graph.data < graph.data.max() / n_epochs] = 0.0
        graph.eliminate_zeros()
        seed = projection.params.seed if projection.params.seed is not None else 42
        rng_state = np.random.RandomState(seed).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
        placed = optimize_layout_euclidean(
            np.asarray(placed, dtype=np.float32),
            projection.coords.astype(np.float32, copy=True),
            graph.row,
            graph.col,
            n_epochs,
            n,
            make_epochs_per_sample(graph.data, n_epochs),
            projection.a,
            projection.b,
            rng_state,
            1.0,  # repulsion strength
            0.25,  # UMAP's transform uses a quarter of the fit's learning rate
            5,  # negative samples per positive
            False,  # serial: deterministic for a given seed
        )
    return np.asarray(placed, dtype=np.float32)


_warm_lock = threading.Lock()
_warm_seconds: float | None = None
_cache_lock = threading.Lock()
_cache_enabled = False


def enable_numba_disk_cache() -> int:
    """Turn on numba's on-disk cache for UMAP's module-level jitted functions.

    umap-learn compiles them without `cache=True`, so every new process (app restart, test run)
    pays 10-40 s; with the cache a fresh process loads the machine code in well under a second.
    The cache is numba's own (files next to the module, or NUMBA_CACHE_DIR), invalidated when
    the library's source changes. Returns how many functions were switched (0 after the first call).
    """
    global _cache_enabled
    if _cache_enabled:
        return 0
    with _cache_lock:
        if _cache_enabled:
            return 0
        import umap.layouts
        import umap.umap_
        import umap.utils
        from numba.core.registry import CPUDispatcher

        switched = 0
        for module in (umap.umap_, umap.layouts, umap.utils):
            for obj in vars(module).values():
                if isinstance(obj, CPUDispatcher) and type(obj._cache).__name__ == "NullCache":
                    try:
                        obj.enable_caching()
                        switched += 1
                    except RuntimeError:  # no writable cache location: compile as usual
                        pass
        _cache_enabled = True
        return switched


def warm_up() -> float:
    """Compile UMAP's numba code in this process (a tiny fit, seeded and parallel, plus a query
    placement), so that a user's first map does not pay 10-40 s of compilation.

    Idempotent and thread-safe; returns the seconds the first call took.
    """
    global _warm_seconds
    start = time.perf_counter()
    enable_numba_disk_cache()  # imports umap (about 3 s): part of the warm-up
    with _warm_lock:
        if _warm_seconds is None:
            rng = np.random.default_rng(0)
            data = rng.standard_normal((64, 8)).astype(np.float32)
            data /= np.linalg.norm(data, axis=1, keepdims=True)
            for seed in (0, None):  # serial and parallel layout are separate compiled functions
                projection = fit_umap(data, UmapParams(n_neighbors=8, seed=seed, n_epochs=10))
            place_queries(projection, data, data[:2])
            separation(data, ["a", "b"] * 32, cluster_kmeans(data, k=2).labels)  # sklearn imports
            _warm_seconds = time.perf_counter() - start
    return _warm_seconds


def is_warm() -> bool:
    return _warm_seconds is not None


# --- Clustering -----------------------------------------------------------------------------


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
            raise ValueError(f"k must be between 2 and {n - 1}.")
        return Clustering(kmeans(vectors, k, seed), "k-means", k)
    candidates = [c for c in k_range if 2 <= c < n]
    if not candidates:
        raise ValueError("Too few texts to cluster.")
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
        raise ValueError(f"HDBSCAN needs more than {min_cluster_size} texts.")
    labels = HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(vectors)
    return Clustering(labels, "HDBSCAN", int(len(set(labels.tolist()) - {-1})))


# --- Measures of separation ----------------------------------------------------------------


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
        knn, _ = cosine_knn(_search_space(vectors)[0], k + 1)
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


# --- Input tables and the bundled corpus ------------------------------------------------------

MIN_TEXTS = 5
MAX_TEXTS = 20_000  # a 20,000-point map takes about 20 s on two cores; more is not interactive


@dataclass(frozen=True)
class PreparedTable:
    texts: list[str]
    labels: list[str] | None
    dropped: int  # rows without text
    truncated: int  # rows beyond MAX_TEXTS


def prepare_table(frame: pd.DataFrame, text_column: str, label_column: str | None = None,
                  max_texts: int = MAX_TEXTS) -> PreparedTable:
    """Texts (stripped, empty rows dropped) and labels (as strings; missing -> "(missing)") of an
    uploaded table, capped at max_texts rows."""
    texts = frame[text_column].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    texts = texts.str.strip()
    keep = texts != ""
    dropped = int((~keep).sum())
    texts = texts[keep]
    labels = None
    if label_column is not None:
        raw = frame.loc[keep, label_column]
        labels = [
            "(missing)" if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" else str(v).strip()
            for v in raw
        ]
    truncated = max(0, len(texts) - max_texts)
    return PreparedTable(
        texts=texts.tolist()[:max_texts],
        labels=labels[:max_texts] if labels is not None else None,
        dropped=dropped,
        truncated=truncated,
    )



SAMPLE_CORPUS = "cluster_corpus.jsonl"


def load_sample_corpus(per_label: int | None = None) -> pd.DataFrame:
    """The bundled corpus: columns text, label, lang; optionally the first `per_label` of each label."""
    import json

    raw = (resources.files("embedlab") / "data" / SAMPLE_CORPUS).read_text(encoding="utf-8")
    df = pd.DataFrame([json.loads(line) for line in raw.splitlines() if line.strip()])
    if per_label is not None:
        df = df.groupby("label", sort=False).head(per_label).reset_index(drop=True)
    return df


def sample_topic_size() -> int:
    """Texts per topic in the bundled corpus (the most any topic has)."""
    return int(load_sample_corpus().groupby("label").size().max())


# --- What the Clusters page maps ---------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """The texts to map, with optional topic labels (same length as the texts)."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None

    @property
    def key(self) -> str:
        """A digest of the texts and labels: maps built for one corpus are not shown for another."""
        import hashlib

        digest = hashlib.sha1()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(b"\1")
        for label in self.labels or ():
            digest.update(label.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()


def sample_corpus(per_topic: int | None = None) -> Corpus:
    """The bundled corpus as a Corpus, optionally the first `per_topic` texts of each topic."""
    frame = load_sample_corpus(per_topic)
    return Corpus("sample corpus", tuple(frame["text"]), tuple(frame["label"]))


def table_corpus(name: str, prepared: PreparedTable) -> Corpus:
    """An uploaded table (see `prepare_table`) as a Corpus."""
    return Corpus(name, tuple(prepared.texts), tuple(prepared.labels) if prepared.labels else None)


LABEL_COLUMN_NAMES = ("label", "topic", "category", "class", "domain")


def guess_label_column(columns: Sequence[str], text_column: str) -> str | None:
    """The column most likely to hold topic labels (a conventional name), never the text column."""
    lowered: dict[str, str] = {}
    for column in columns:
        if column != text_column:
            lowered.setdefault(str(column).strip().lower(), column)
    return next((lowered[name] for name in LABEL_COLUMN_NAMES if name in lowered), None)


def metadata_fields(records: Sequence[dict]) -> list[str]:
    """Sorted metadata fields holding text in stored records ({"text", "metadata"} dicts)."""
    return sorted({k for r in records for k, v in r["metadata"].items() if isinstance(v, str)})


def records_corpus(name: str, records: Sequence[dict], label_field: str | None = None) -> Corpus:
    """Stored records ({"text", "metadata"} dicts) with a text as a Corpus, capped at MAX_TEXTS;
    labelled by a metadata field (missing: "") when `label_field` is given."""
    kept = [r for r in records[:MAX_TEXTS] if r["text"] and r["text"].strip()]
    labels = tuple(str(r["metadata"].get(label_field, "")) for r in kept) if label_field else None
    return Corpus(name, tuple(r["text"] for r in kept), labels)


@dataclass(frozen=True)
class MapRequest:
    """What "Build maps" asked for; the maps are recomputed (from caches) on every rerun."""

    corpus_key: str
    instruction_name: str
    task: str
    params: UmapParams
    method: str  # "k-means" or "HDBSCAN"
    k: int | None  # None: best silhouette
    min_cluster_size: int


@dataclass
class MapSide:
    """One setting (without or with the instruction) with everything computed for it."""

    title: str
    task: str  # "" = no instruction
    vectors: np.ndarray  # float32 (n, dim), rows L2-normalised
    projection: Projection
    clustering: Clustering
    separation: Separation


def cluster_names(clusters: np.ndarray) -> list[str]:
    """Display names of found clusters (n,) -> "cluster 1", ... and "noise" for -1."""
    return ["noise" if c < 0 else f"cluster {c + 1}" for c in np.asarray(clusters).tolist()]


def colour_groups(
    clusters: np.ndarray, labels: Sequence[str] | None, by: str
) -> tuple[list[str], list[str], list[str] | None]:
    """How to colour one map: (group of each text, groups in legend order, hover detail of each text).

    Args:
        clusters: int (n,) found clusters (-1 = noise).
        labels: the n topic labels, or None.
        by: "label" (colour by topic, hover names the cluster) or "found cluster" (the reverse).
    """
    names = cluster_names(clusters)
    if by == "label":
        if labels is None:
            raise ValueError("cannot colour by label: the texts have no labels")
        return list(labels), list(labels), names
    ids = sorted(set(np.asarray(clusters).tolist()), key=lambda c: (c < 0, c))  # noise last
    details = [f"label: {x}" for x in labels] if labels is not None else None
    return names, cluster_names(np.asarray(ids)), details


MAX_QUERIES = 20  # queries placed on the maps at once


def query_lines(text: str, limit: int = MAX_QUERIES) -> list[str]:
    """The non-empty lines of the queries box, stripped, at most `limit`."""
    return [q.strip() for q in text.splitlines() if q.strip()][:limit]


def selected_rows(points: Sequence[dict]) -> list[int]:
    """Row indices of the texts in a chart selection's points (query markers carry negative ids)."""
    rows = []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, int | float) and not isinstance(data, bool) and data >= 0:
            rows.append(int(data))
    return rows


def selection_table(corpus: Corpus, selected: Sequence[tuple[str, int]], sides: Sequence[MapSide]) -> pd.DataFrame:
    """One row per selected text: the map it was picked on (a side's title), text, label, cluster."""
    names = {side.title: cluster_names(side.clustering.labels) for side in sides}
    return pd.DataFrame({
        "map": [m for m, _ in selected],
        "text": [corpus.texts[r] for _, r in selected],
        "label": [corpus.labels[r] if corpus.labels is not None else "" for _, r in selected],
        "cluster": [names[m][r] for m, r in selected],
    })
