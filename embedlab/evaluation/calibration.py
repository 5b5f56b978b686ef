"""Choosing a collection's similarity threshold from labelled data.

A threshold t keeps a (query, document) pair when its similarity is >= t. Over the labelled pairs:
precision = kept relevant / kept, recall = kept relevant / relevant, F1 = their harmonic mean.
Candidate thresholds are the distinct similarity values of the pairs, so every suggestion is a
similarity that occurs in the data (the lowest one still kept).

- `best_f1`: the threshold with the highest F1 (ties go to the higher threshold: fewer false hits).
- `for_precision`: the lowest threshold whose precision reaches the target (the most recall at that
  precision), or None when no threshold reaches it.

`matching_collection` finds the Search collection a threshold calibrated on a labelled set belongs
to: the one holding that set's documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from embedlab.evaluation.datasets import LabelledSet, relevance_labels
from embedlab.evaluation.grid import GridPlan, config_scores
from embedlab.stores.base import CollectionInfo, VectorStore, model_name

DEFAULT_PRECISION = 0.9


@dataclass(frozen=True)
class ThresholdPoint:
    """Precision, recall and F1 when keeping the pairs with similarity >= `threshold`."""

    threshold: float
    precision: float
    recall: float
    f1: float
    kept: int  # pairs kept (true + false positives)


@dataclass(frozen=True)
class Calibration:
    """The labelled pairs' similarities and the suggested thresholds.

    relevant / non_relevant: float64 (n_relevant,) / (n_non_relevant,) similarities of the pairs.
    curve: one row per candidate threshold, descending: threshold, precision, recall, f1, kept.
    best: the F1-maximising point; at_precision: the lowest threshold reaching `target_precision`
    (None when none does).
    """

    relevant: np.ndarray
    non_relevant: np.ndarray
    curve: pd.DataFrame
    best: ThresholdPoint
    target_precision: float
    at_precision: ThresholdPoint | None


def pair_similarities(sim: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(similarities of relevant pairs, of non-relevant pairs), each float64 1-D.

    Args:
        sim: (n_queries, n_docs) similarities; labels: bool (n_queries, n_docs), True = relevant.
    Non-finite similarities (a document that was not scored) are left out.
    """
    sim = np.asarray(sim, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if sim.shape != labels.shape:
        raise ValueError(f"similarities {sim.shape} and labels {labels.shape} differ in shape")
    finite = np.isfinite(sim)
    return sim[labels & finite], sim[~labels & finite]


def threshold_curve(relevant: Sequence[float], non_relevant: Sequence[float]) -> pd.DataFrame:
    """Precision, recall, F1 and pairs kept at every distinct similarity, highest threshold first."""
    rel = np.asarray(relevant, dtype=np.float64)
    non = np.asarray(non_relevant, dtype=np.float64)
    if rel.size == 0:
        raise ValueError("no relevant pairs: the labelled set needs at least one relevant pair")
    values = np.concatenate([rel, non])
    is_rel = np.concatenate([np.ones(rel.size, bool), np.zeros(non.size, bool)])
    order = np.argsort(-values, kind="stable")
    values, is_rel = values[order], is_rel[order]
    tp, kept = np.cumsum(is_rel), np.arange(1, values.size + 1)
    # A threshold equal to a value keeps every pair with that value: read the counts at the last one.
    last = np.r_[values[1:] != values[:-1], True]
    tp, kept, thresholds = tp[last], kept[last], values[last]
    precision = tp / kept
    recall = tp / rel.size
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"threshold": thresholds, "precision": precision, "recall": recall, "f1": f1,
                         "kept": kept})


def _point(row: pd.Series) -> ThresholdPoint:
    return ThresholdPoint(float(row["threshold"]), float(row["precision"]), float(row["recall"]),
                          float(row["f1"]), int(row["kept"]))


def best_f1(curve: pd.DataFrame) -> ThresholdPoint:
    """The row of `curve` with the highest F1; the first (highest threshold) among equals."""
    return _point(curve.iloc[int(np.argmax(curve["f1"].to_numpy()))])


def for_precision(curve: pd.DataFrame, target: float) -> ThresholdPoint | None:
    """The lowest threshold of `curve` whose precision is >= `target`; None when none is."""
    if not 0.0 < target <= 1.0:
        raise ValueError("the target precision must be in (0, 1]")
    ok = curve[curve["precision"] >= target - 1e-12]
    return None if ok.empty else _point(ok.iloc[-1])


def calibrate(sim: np.ndarray, labels: np.ndarray, target_precision: float = DEFAULT_PRECISION) -> Calibration:
    """Suggested thresholds for a similarity matrix (n_queries, n_docs) and bool labels of its shape."""
    rel, non = pair_similarities(sim, labels)
    curve = threshold_curve(rel, non)
    return Calibration(rel, non, curve, best_f1(curve), target_precision, for_precision(curve, target_precision))


def calibrate_config(plan: GridPlan, vectors: np.ndarray, index: int,
                     target_precision: float = DEFAULT_PRECISION) -> Calibration:
    """Thresholds for configuration `index` of an evaluation grid (see grid.plan_grid).

    The similarities are its float32 cosine scores per (query, document), a document scored by its
    best input, the way a collection's hits are compared with its threshold. Labels are the set's
    grades (>= 1 is relevant). Only dense configurations have a similarity to calibrate.

    Args:
        vectors: (len(plan.texts), full_dim) float32, rows L2-normalised, aligned with plan.texts.
    Raises:
        ValueError: the configuration is not dense retrieval.
    """
    cfg = plan.configs[index]
    if cfg.mode != "dense":
        raise ValueError(f"{cfg.label}: a similarity threshold applies to dense retrieval; choose a dense configuration")
    exact = GridPlan(plan.dataset, [replace(cfg, precision="float32", rescore=False)], plan.texts,
                     [plan.query_rows[index]], [plan.doc_rows[index]], [plan.doc_owner[index]],
                     [plan.doc_inputs[index]])
    sim = config_scores(exact, vectors, 0)
    return calibrate(sim, relevance_labels(plan.dataset), target_precision)


def holds_set(store: VectorStore, name: str, dataset: LabelledSet) -> bool:
    """Whether collection `name` holds every document of `dataset`: for each document a record
    whose `source` is the document's id (what Search names the lines of an uploaded JSONL corpus)
    and whose text is part of the document's text (a chunk of it)."""
    texts = {d.id: " ".join(d.text.split()) for d in dataset.documents}
    found: set[str] = set()
    for record in store.get_records(name, where={"source": {"$in": list(texts)}}):
        source = str((record.get("metadata") or {}).get("source", ""))
        chunk = " ".join(str(record.get("text", "")).split())
        if source in texts and chunk and chunk in texts[source]:
            found.add(source)
    return found == set(texts)


def matching_collection(store: VectorStore, infos: Sequence[CollectionInfo], dataset: LabelledSet,
                        model: str) -> str | None:
    """The collection among `infos` (the app's) that holds the labelled set's documents, one
    filled by `model` first; None when none does. Collections smaller than the set are not read."""
    holding = [i for i in infos if i.spec is not None and i.count >= len(dataset.documents)
               and holds_set(store, i.name, dataset)]
    same_model = [i for i in holding if i.spec is not None and i.spec.model_id == model_name(model)]
    return next((i.name for i in same_model or holding), None)
