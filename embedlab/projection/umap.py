"""UMAP maps of embedding vectors.

Neighbour search is done with exact cosine top-k (embedlab.projection.neighbours) and handed to
UMAP as a precomputed kNN graph. UMAP's own search (pynndescent) recompiles its numba code in
every process, which costs minutes on a small machine; the code UMAP still compiles (graph
construction and layout) is warmed once per process by `warm_up`. Queries are placed on an
existing map with UMAP's transform procedure (`place_queries`), against the same exact search.

Maps of more than LARGE_MAP points (a stored collection of 100,000 chunks) are fitted on a seeded
sample of FIT_SAMPLE points and the others are placed on that map by the same transform procedure
(`fit_umap` does this by itself and says so in `Projection.sampled`): an exact neighbour graph of
100,000 points and a layout of all of them would take minutes on two cores.

umap is imported inside the functions that need it: importing it costs seconds.

All vectors are float32 with L2-normalised rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from embedlab.messages import N_, InputError, Message
from embedlab.projection.clustering import cluster_kmeans, separation
from embedlab.projection.neighbours import cosine_knn, search_space

# Serialises numba work in this process: two fits at once only thrash two cores, and the
# warm-up compile should finish once rather than run twice side by side.
_NUMBA_LOCK = threading.RLock()

LARGE_MAP = 20_000  # above this many points, fit on a sample and place the rest
FIT_SAMPLE = 10_000  # the sample a large map's layout is fitted on
PLACE_EPOCHS = 10  # layout epochs placing the rest of a large map (they start at their neighbours' mean)

MapProgress = Callable[[Message, int, int], None]
"""Called as progress(stage, steps done, steps) while a large map is made."""


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
    sampled: int = 0  # points the layout was fitted on when the others were placed after (0: all)


def auto_epochs(n: int) -> int:
    """Layout epochs for n points: UMAP's default is 500 below 10,000 points, which is more than
    a map needs to settle; the layout cost grows with epochs x edges, so large maps get fewer."""
    if n <= 2_000:
        return 300
    if n <= 10_000:
        return 200
    return 120


def _pca_init(pcs: np.ndarray, n_components: int, seed: int | None) -> np.ndarray:
    """A layout start from the leading principal components, scaled as UMAP scales its own
    initialisations (max |x| = 10) with a little noise so no two points coincide."""
    coords = pcs[:, :n_components].astype(np.float64)
    coords *= 10.0 / max(np.abs(coords).max(), 1e-12)
    coords += np.random.default_rng(seed).normal(scale=1e-4, size=coords.shape)
    return coords.astype(np.float32)



def fit_umap(vectors: np.ndarray, params: UmapParams = UmapParams(), *, sample_above: int = LARGE_MAP,
             sample_size: int = FIT_SAMPLE, progress: MapProgress | None = None) -> Projection:
    """A UMAP map of the vectors (cosine neighbourhoods).

    Above `sample_above` points the layout is fitted on a seeded sample of `sample_size` and the
    other points are placed on it (`fit_sampled`); `progress` hears of its steps.

    Args:
        vectors: float32 (n, d), rows L2-normalised, n >= 4.

    Returns:
        Projection with coords float32 (n, params.n_components), one row per vector.
    """
    n = vectors.shape[0]
    if n < 4:
        raise InputError(N_("A map needs at least 4 texts."))
    if params.n_components not in (2, 3):
        raise ValueError("Maps are 2-D or 3-D.")
    if n > sample_above and 4 <= sample_size < n:
        return fit_sampled(vectors, params, sample_size, progress)
    start = time.perf_counter()
    space, pcs = search_space(vectors)
    coords, a, b, k = _layout(space, pcs, params)
    return Projection(coords, a, b, k, params, time.perf_counter() - start)


def _layout(space: np.ndarray, pcs: np.ndarray | None, params: UmapParams) -> tuple[np.ndarray, float, float, int]:
    """(coords float32 (n, n_components), a, b, effective k) of UMAP over `space` (n, d') unit rows,
    started from the PCA coordinates `pcs` (n, >= n_components) when given, else spectrally."""
    import umap

    enable_numba_disk_cache()
    n = space.shape[0]
    k = max(2, min(params.n_neighbors, n - 1))
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
        coords = reducer.fit_transform(space)
    return np.asarray(coords, dtype=np.float32), float(reducer._a), float(reducer._b), k


def fit_sampled(vectors: np.ndarray, params: UmapParams, sample_size: int,
                progress: MapProgress | None = None) -> Projection:
    """A map of many vectors: UMAP fitted on a seeded sample of `sample_size` rows, the other rows
    placed on it by UMAP's transform procedure (their neighbours among the sample, PLACE_EPOCHS
    epochs with the sample held fixed). Neighbours are searched on a PCA reduction fitted on the sample.

    Args:
        vectors: float32 (n, d), rows L2-normalised, n > sample_size >= 4.

    Returns:
        Projection with coords float32 (n, n_components), row i for vectors[i]; `sampled` = sample_size.
    """
    start = time.perf_counter()
    n = vectors.shape[0]
    steps = 3

    def step(done: int, message: Message) -> None:
        if progress:
            progress(message, done, steps)

    step(0, Message(N_("Reducing {n:,} vectors for the neighbour search"), {"n": n}))
    rng = np.random.default_rng(params.seed if params.seed is not None else 0)
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=sample_size, replace=False)] = True
    sample, rest = np.flatnonzero(chosen), np.flatnonzero(~chosen)
    space, pcs = search_space(vectors, fit_rows=sample)
    step(1, Message(N_("Fitting the map on a sample of {n:,} points"), {"n": sample_size}))
    if pcs is None:  # vectors of at most SEARCH_DIMS dimensions are searched as they are
        centred = space[sample] - space[sample].mean(axis=0)
        pcs = centred @ np.linalg.svd(centred, full_matrices=False)[2][: params.n_components].T
    else:
        pcs = pcs[sample]
    coords_s, a, b, k = _layout(space[sample], pcs, params)  # a PCA start: spectral takes long at this size
    step(2, Message(N_("Placing the other {n:,} points on the map"), {"n": len(rest)}))
    coords = np.empty((n, coords_s.shape[1]), dtype=np.float32)
    coords[sample] = coords_s
    coords[rest] = _transform(coords_s, a, b, k, params.seed, space[sample], space[rest], PLACE_EPOCHS)
    step(3, Message(N_("Map ready")))
    return Projection(coords, a, b, k, params, time.perf_counter() - start, sampled=sample_size)


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
    if len(queries) == 0:
        return np.zeros((0, projection.coords.shape[1]), dtype=np.float32)
    n_epochs = 100 if vectors.shape[0] <= 10_000 else 30
    return _transform(projection.coords, projection.a, projection.b, projection.n_neighbors,
                      projection.params.seed, vectors, queries, n_epochs)


def _transform(coords: np.ndarray, a: float, b: float, k: int, seed: int | None, base: np.ndarray,
               queries: np.ndarray, n_epochs: int) -> np.ndarray:
    """Positions float32 (m, n_components) of `queries` (m, d) on the map `coords` (n, c) of `base`
    (n, d), unit rows both: UMAP's transform with curve (a, b), k neighbours, `n_epochs` epochs."""
    import scipy.sparse
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import (
        compute_membership_strengths,
        init_graph_transform,
        make_epochs_per_sample,
        smooth_knn_dist,
    )

    enable_numba_disk_cache()
    n = base.shape[0]
    indices, dists = cosine_knn(base, k, queries=queries)
    with _NUMBA_LOCK:
        # local_connectivity 1 for the fit means 0 here: a query is not its own neighbour.
        sigmas, rhos = smooth_knn_dist(dists, float(k), local_connectivity=0.0)
        rows, cols, vals, _ = compute_membership_strengths(indices, dists, sigmas, rhos, bipartite=True)
        graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(queries), n))
        csr = graph.tocsr()
        csr.eliminate_zeros()
        placed = init_graph_transform(csr, coords)
        graph.data[graph.data < graph.data.max() / n_epochs] = 0.0
        graph.eliminate_zeros()
        seed = seed if seed is not None else 42
        rng_state = np.random.RandomState(seed).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
        placed = optimize_layout_euclidean(
            np.asarray(placed, dtype=np.float32),
            coords.astype(np.float32, copy=True),
            graph.row,
            graph.col,
            n_epochs,
            n,
            make_epochs_per_sample(graph.data, n_epochs),
            a,
            b,
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

