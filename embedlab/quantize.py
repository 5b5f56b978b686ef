"""Vector precision: float32, int8 (scalar) and binary (sign) vectors, their scores and sizes.

- float32: the vectors as they are; score = dot product (cosine, rows L2-normalised).
- int8: per-dimension symmetric scalar quantisation. The calibration vectors (the stored
  documents) give each dimension its scale s_j = max |x_j| / 127; a value becomes
  code = round(x_j / s_j) clipped to [-127, 127]. Queries are quantised with the same scales
  (values beyond the calibrated range are clipped). score(q, d) = sum_j s_j^2 * cq_j * cd_j, the
  dot product of the de-quantised vectors, computed from the integer codes.
- binary: one bit per dimension, set where the value is > 0, packed 8 per byte (np.packbits).
  score(q, d) = 1 - 2 * hamming(q, d) / dim, the cosine of the two +-1 vectors (ranks exactly as
  the Hamming distance does, nearest first).
- rescoring: take the top N (default 100) candidates of the quantised scores per query and score
  them again with the float32 vectors; everything below them keeps its quantised order.

Sizes count the vector payload only (no ids, index graph or the int8 scales, shared per dimension).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embedlab.ranking import rank_order

PRECISIONS = ("float32", "int8", "binary")
RESCORE_TOP = 100
MILLION = 1_000_000


def bytes_per_vector(dim: int, precision: str) -> int:
    """Bytes one `dim`-dimensional vector takes at `precision` (4 / 1 / 1/8 byte per dimension)."""
    if dim < 1:
        raise ValueError("dim must be >= 1")
    if precision == "float32":
        return 4 * dim
    if precision == "int8":
        return dim
    if precision == "binary":
        return math.ceil(dim / 8)
    raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")


def store_bytes(dim: int, precision: str, n_vectors: int = MILLION, rescore: bool = False) -> int:
    """Bytes of `n_vectors` vectors at `precision`; with `rescore` the float32 copies kept for
    rescoring are added (they can live on disk while the quantised vectors are searched)."""
    extra = bytes_per_vector(dim, "float32") if rescore and precision != "float32" else 0
    return n_vectors * (bytes_per_vector(dim, precision) + extra)


@dataclass(frozen=True)
class Int8Codes:
    """int8 vectors: `codes` int8 (n, dim) and the per-dimension `scales` float32 (dim,)."""

    codes: np.ndarray
    scales: np.ndarray


def int8_scales(calibration: np.ndarray) -> np.ndarray:
    """Per-dimension scales float32 (dim,) from calibration vectors (n, dim): max |x_j| / 127."""
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 2 or calibration.shape[0] == 0:
        raise ValueError("calibration needs at least one vector, shape (n, dim)")
    peak = np.abs(calibration).max(axis=0)
    # A dimension that is 0 everywhere gets scale 1: its codes are 0 whatever the scale.
    return np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)


def quantize_int8(vectors: np.ndarray, scales: np.ndarray) -> Int8Codes:
    """int8 codes (n, dim) of `vectors` (n, dim) with the given per-dimension `scales` (dim,)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    codes = np.clip(np.rint(vectors / scales), -127, 127).astype(np.int8)
    return Int8Codes(codes, np.asarray(scales, dtype=np.float32))


def int8_scores(queries: Int8Codes, documents: Int8Codes) -> np.ndarray:
    """score[i, j] = sum_k s_k^2 * q[i, k] * d[j, k]: float32 (n_queries, n_docs)."""
    if not np.array_equal(queries.scales, documents.scales):
        raise ValueError("queries and documents were quantised with different scales")
    weighted = queries.codes.astype(np.float32) * (documents.scales ** 2)
    # Codes are at most 127 in size: float32 holds each product and their sums exactly enough.
    return weighted @ documents.codes.astype(np.float32).T


def quantize_binary(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of `vectors` (n, dim), packed: uint8 (n, ceil(dim / 8)); bit = 1 where x > 0."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def hamming(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Differing bits between packed codes: int64 (n_queries, n_docs)."""
    out = np.empty((queries.shape[0], documents.shape[0]), dtype=np.int64)
    step = max(1, 4_000_000 // max(documents.size, 1))  # bound the (step, n_docs, bytes) temporary
    for start in range(0, queries.shape[0], step):
        block = queries[start:start + step, None, :] ^ documents[None, :, :]
        out[start:start + step] = np.bitwise_count(block).sum(axis=2, dtype=np.int64)
    return out


def binary_scores(queries: np.ndarray, documents: np.ndarray, dim: int) -> np.ndarray:
    """1 - 2 * hamming / dim for packed codes of `dim`-dimensional vectors: float32 (n_q, n_d)."""
    return (1.0 - 2.0 * hamming(queries, documents) / dim).astype(np.float32)


def rescore(quantised: np.ndarray, queries: np.ndarray, documents: np.ndarray,
            top: int = RESCORE_TOP) -> np.ndarray:
    """Quantised scores with each query's top `top` candidates scored again in float32.

    Args:
        quantised: (n_queries, n_docs) quantised scores.
        queries: (n_queries, dim) and documents: (n_docs, dim) float32, rows L2-normalised.
    Returns:
        float64 (n_queries, n_docs): the candidates hold their float32 dot products; every other
        document holds a value below all candidates that keeps its quantised order (ordinal only).
    """
    quantised = np.asarray(quantised, dtype=np.float64)
    out = np.empty_like(quantised)
    top_idx = rank_order(quantised, top)
    for row in range(quantised.shape[0]):
        cand = top_idx[row]
        exact = np.asarray(documents[cand], dtype=np.float32) @ np.asarray(queries[row], dtype=np.float32)
        floor = float(exact.min()) if len(exact) else 0.0
        peak = float(quantised[row].max()) if quantised.shape[1] else 0.0
        out[row] = floor - 1.0 - (peak - quantised[row])
        out[row, cand] = exact
    return out


def scores(queries: np.ndarray, documents: np.ndarray, precision: str = "float32",
           rescore_top: int | None = None) -> np.ndarray:
    """Similarity of every query and document at `precision`.

    Args:
        queries: (n_queries, dim), documents: (n_docs, dim): float32, rows L2-normalised. The
            documents calibrate the int8 scales.
        rescore_top: rescore each query's top N in float32 (None = no rescoring; ignored for float32).
    Returns:
        (n_queries, n_docs) scores (see the module docstring for each precision).
    """
    queries = np.asarray(queries, dtype=np.float32)
    documents = np.asarray(documents, dtype=np.float32)
    if precision == "float32":
        return queries @ documents.T
    if precision == "int8":
        scale = int8_scales(documents)
        raw = int8_scores(quantize_int8(queries, scale), quantize_int8(documents, scale))
    elif precision == "binary":
        raw = binary_scores(quantize_binary(queries), quantize_binary(documents), documents.shape[1])
    else:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return raw if rescore_top is None else rescore(raw, queries, documents, rescore_top)
