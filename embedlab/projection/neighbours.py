"""Exact cosine nearest neighbours (blocked matrix products), searched on a PCA reduction of large
inputs: the neighbour graph of a UMAP map and of the kNN label agreement; the neighbours of one
picked point in the full vectors, without and with an instruction.

All vectors are float32 with L2-normalised rows, so cosine similarity is a dot product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Above this many points the neighbour search runs on a PCA reduction of the vectors (exact
# top-k over 20,000 x 1024 would take close to a minute on two cores).
LARGE_N = 4096
SEARCH_DIMS = 128


def search_space(vectors: np.ndarray, fit_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The vectors used for the neighbour search, and PCA coordinates for large inputs.

    Up to LARGE_N points (or SEARCH_DIMS dimensions) the vectors are searched as given and the
    second item is None. Above, the search runs on the top SEARCH_DIMS principal components,
    re-normalised (neighbour sets change a little), and the PCA coordinates (n, SEARCH_DIMS),
    strongest component first, are returned to start the layout from. With `fit_rows` (row
    numbers), the components are those of these rows only (a sample: 100,000 x 1,024 vectors
    take seconds for their covariance) and every row is projected on them.
    """
    n, d = vectors.shape
    if n <= LARGE_N or d <= SEARCH_DIMS:
        return vectors, None
    fit = vectors if fit_rows is None else vectors[fit_rows]
    mean = fit.mean(axis=0, keepdims=True)
    fit = fit - mean
    # Eigenvectors of the d x d covariance: cheaper than an SVD of the n x d matrix.
    _, eigvecs = np.linalg.eigh(fit.T @ fit)
    pcs = (vectors - mean) @ eigvecs[:, ::-1][:, :SEARCH_DIMS]
    reduced = pcs / np.maximum(np.linalg.norm(pcs, axis=1, keepdims=True), 1e-12)
    return reduced.astype(np.float32), pcs


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


NEIGHBOURS = 10  # neighbours listed for a picked point


@dataclass(frozen=True)
class PointNeighbours:
    """The nearest other points of one point: rows int64 (k,) and their cosine similarities
    float32 (k,), nearest first (ties by row number)."""

    rows: np.ndarray
    similarities: np.ndarray


def point_neighbours(vectors: np.ndarray, row: int, k: int = NEIGHBOURS) -> PointNeighbours:
    """The k nearest neighbours of point `row` in the full vector space, by exact cosine similarity.

    Args:
        vectors: float32 (n, d), rows L2-normalised.
        row: the point, 0 <= row < n. It is never its own neighbour; other rows with the same
            vector (duplicate texts) are, with similarity 1.
        k: neighbours wanted; fewer (n - 1) when there are not that many other points.

    Returns:
        PointNeighbours with min(k, n - 1) rows.
    """
    n = vectors.shape[0]
    if not 0 <= row < n:
        raise ValueError(f"row must be between 0 and {n - 1}, got {row}")
    k = min(k, n - 1)
    if k < 1:
        return PointNeighbours(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    found, _ = cosine_knn(vectors, k + 1, queries=vectors[row : row + 1])
    # The point finds itself first, except among duplicates, where it may come later or not at all.
    others = found[0][found[0] != row][:k].astype(np.int64)
    sims = (vectors[others] @ vectors[row]).astype(np.float32)
    order = np.lexsort((others, -sims))
    return PointNeighbours(others[order], sims[order])


@dataclass(frozen=True)
class NeighbourComparison:
    """The neighbours of one point in two vector spaces of the same texts (without and with an
    instruction), and how many they share."""

    row: int
    plain: PointNeighbours
    instructed: PointNeighbours

    @property
    def k(self) -> int:
        """Neighbours listed per setting."""
        return len(self.plain.rows)

    @property
    def shared(self) -> int:
        """Neighbours found in both settings (0..k)."""
        return len(np.intersect1d(self.plain.rows, self.instructed.rows))


def compare_neighbours(plain: np.ndarray, instructed: np.ndarray, row: int, k: int = NEIGHBOURS) -> NeighbourComparison:
    """The k nearest neighbours of `row` among the plain vectors and among the instructed ones.

    Args:
        plain, instructed: float32 (n, d) and (n, d'), rows L2-normalised, row i the same text in both.
    """
    if plain.shape[0] != instructed.shape[0]:
        raise ValueError(f"the two settings hold {plain.shape[0]} and {instructed.shape[0]} vectors")
    return NeighbourComparison(row, point_neighbours(plain, row, k), point_neighbours(instructed, row, k))
