"""What the Clusters page maps: the texts (bundled corpus, an uploaded table, a stored collection)
with their labels, the request behind a pair of maps, each map's side, colours, queries and
selections."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from embedlab.messages import N_, InputError
from embedlab.projection.clustering import Clustering, Separation
from embedlab.projection.neighbours import PointNeighbours
from embedlab.projection.umap import Projection, UmapParams

MIN_TEXTS = 5
MAX_TEXTS = 20_000  # a 20,000-point map takes about 20 s on two cores; more is not interactive


@dataclass(frozen=True)
class PreparedTable:
    texts: list[str]
    labels: list[str] | None
    dropped: int  # rows without text
    truncated: int  # rows beyond MAX_TEXTS
    fields: dict[str, list[str]] = field(default_factory=dict)  # every other column, as strings


MISSING = "(missing)"


def _cell(v: object) -> str:
    """A table cell as a colour group: stripped text, "(missing)" for nothing."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
        return MISSING
    return str(v).strip()


def prepare_table(frame: pd.DataFrame, text_column: str, label_column: str | None = None,
                  max_texts: int = MAX_TEXTS) -> PreparedTable:
    """Texts (stripped, empty rows dropped), labels and every other column (as strings; missing ->
    "(missing)") of an uploaded table, capped at max_texts rows."""
    texts = frame[text_column].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    texts = texts.str.strip()
    keep = texts != ""
    dropped = int((~keep).sum())
    texts = texts[keep]
    labels = None
    if label_column is not None:
        labels = [_cell(v) for v in frame.loc[keep, label_column].iloc[:max_texts]]
    fields = {
        str(c): [_cell(v) for v in frame.loc[keep, c].iloc[:max_texts]]
        for c in frame.columns if c not in (text_column, label_column)
    }
    truncated = max(0, len(texts) - max_texts)
    return PreparedTable(
        texts=texts.tolist()[:max_texts],
        labels=labels,
        dropped=dropped,
        truncated=truncated,
        fields=fields,
    )


SAMPLE_CORPUS = "cluster_corpus.jsonl"


def load_sample_corpus(per_label: int | None = None) -> pd.DataFrame:
    """The bundled corpus: columns text, label, lang; optionally the first `per_label` of each label."""
    raw = (resources.files("embedlab") / "data" / SAMPLE_CORPUS).read_text(encoding="utf-8")
    df = pd.DataFrame([json.loads(line) for line in raw.splitlines() if line.strip()])
    if per_label is not None:
        df = df.groupby("label", sort=False).head(per_label).reset_index(drop=True)
    return df


def sample_topic_size() -> int:
    """Texts per topic in the bundled corpus (the most any topic has)."""
    return int(load_sample_corpus().groupby("label").size().max())


@dataclass(frozen=True)
class Corpus:
    """The texts to map, with optional topic labels and other fields (each as long as the texts).
    The fields (other columns, metadata) only colour the maps: they are not part of the key."""

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, values) pairs
    collection: str = ""  # the stored collection the texts are the chunks of ("" for other texts)
    ids: tuple[str, ...] = ()  # with a collection: the chunk id of each text

    @property
    def key(self) -> str:
        """A digest of the texts and labels: maps built for one corpus are not shown for another."""
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
    return Corpus(name, tuple(prepared.texts), tuple(prepared.labels) if prepared.labels else None,
                  tuple((k, tuple(v)) for k, v in prepared.fields.items()))


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


def records_corpus(name: str, records: Sequence[dict], label_field: str | None = None,
                   collection: str = "") -> Corpus:
    """Stored records ({"id", "text", "metadata"} dicts) with a text as a Corpus, capped at MAX_TEXTS;
    labelled by a metadata field (missing: "") when `label_field` is given; every other metadata
    field (missing: "(missing)") is a field to colour by. With `collection` (the records' collection),
    the corpus keeps it and each text's chunk id."""
    kept = [r for r in records[:MAX_TEXTS] if r["text"] and r["text"].strip()]
    labels = tuple(str(r["metadata"].get(label_field, "")) for r in kept) if label_field else None
    others = sorted({k for r in kept for k in r["metadata"]} - {label_field})
    fields = tuple((k, tuple(_cell(r["metadata"].get(k)) for r in kept)) for k in others)
    ids = tuple(str(r["id"]) for r in kept) if collection else ()
    return Corpus(name, tuple(r["text"] for r in kept), labels, fields, collection, ids)


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


def cluster_names(clusters: np.ndarray, name: str = "cluster {n}", noise: str = "noise") -> list[str]:
    """Display names of found clusters (n,) -> "cluster 1", ... and "noise" for -1 (`name` and
    `noise` are the translated templates)."""
    return [noise if c < 0 else name.format(n=c + 1) for c in np.asarray(clusters).tolist()]


# What a map can be coloured by: these keys, or FIELD_PREFIX + the name of a column / metadata field.
COLOUR_LABEL, COLOUR_CLUSTER, COLOUR_LANGUAGE = "label", "found cluster", "language"
FIELD_PREFIX = "field:"
LEGEND_LIMIT = 12  # legend entries before the rest are merged into one "other" group


def colour_keys(corpus: Corpus) -> list[str]:
    """The colour choices of a corpus: its labels (if any), the found clusters, the detected
    language, and each other field."""
    keys = [COLOUR_LABEL] if corpus.labels is not None else []
    return keys + [COLOUR_CLUSTER, COLOUR_LANGUAGE] + [FIELD_PREFIX + name for name, _ in corpus.fields]


def field_values(corpus: Corpus, key: str) -> tuple[str, ...]:
    """The values of a colour key that the corpus holds itself (its labels or one of its fields)."""
    if key == COLOUR_LABEL:
        if corpus.labels is None:
            raise InputError(N_("cannot colour by label: the texts have no labels"))
        return corpus.labels
    fields = dict(corpus.fields)
    name = key.removeprefix(FIELD_PREFIX)
    if not key.startswith(FIELD_PREFIX) or name not in fields:
        raise ValueError(f"no such field: {key}")
    return fields[name]


@dataclass(frozen=True)
class Groups:
    """How the texts of one map are coloured: a group per text, the legend's order, and the name
    of the group the smaller ones were merged into (None when none were)."""

    of_text: list[str]
    order: list[str]
    other: str | None


def top_groups(values: Sequence[str], order: Sequence[str] | None = None, limit: int = LEGEND_LIMIT,
               other: str = "other ({n} groups)") -> Groups:
    """At most `limit` legend groups and one more: the `limit` most frequent values keep their
    name, the rest become one group named `other` (formatted with n, the groups merged).

    Args:
        values: the group of each of n texts.
        order: legend order of the groups (default: most frequent first); `other` comes last.
    """
    counts = Counter(values)
    order = list(order) if order is not None else [g for g, _ in counts.most_common()]
    if len(counts) <= limit + 1:  # merging two groups into "other" would hide one for nothing
        return Groups(list(values), [g for g in order if g in counts], None)
    rank = {g: i for i, g in enumerate(order)}
    by_size = sorted(counts, key=lambda g: (-counts[g], rank.get(g, len(rank))))
    kept = set(by_size[:limit])
    merged = other.format(n=len(counts) - limit)
    return Groups([v if v in kept else merged for v in values], [g for g in order if g in kept] + [merged], merged)


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


def selection_table(corpus: Corpus, selected: Sequence[tuple[str, int]], sides: Sequence[MapSide],
                    cluster_name: str = "cluster {n}", noise: str = "noise") -> pd.DataFrame:
    """One row per selected text: the map it was picked on (a side's title), text, label, cluster
    (English column names: the view translates them)."""
    names = {side.title: cluster_names(side.clustering.labels, cluster_name, noise) for side in sides}
    return pd.DataFrame({
        "map": [m for m, _ in selected],
        "text": [corpus.texts[r] for _, r in selected],
        "label": [corpus.labels[r] if corpus.labels is not None else "" for _, r in selected],
        "cluster": [names[m][r] for m, r in selected],
    })


def neighbour_table(corpus: Corpus, neighbours: PointNeighbours, clusters: np.ndarray,
                    cluster_name: str = "cluster {n}", noise: str = "noise") -> pd.DataFrame:
    """One row per neighbour, nearest first: rank (1-based), text, similarity (cosine), label and
    found cluster (`clusters`: the (n,) cluster ids of the setting the neighbours were found in).
    English column names: the view translates them."""
    rows = neighbours.rows.tolist()
    names = cluster_names(np.asarray(clusters)[rows], cluster_name, noise) if rows else []
    return pd.DataFrame({
        "rank": list(range(1, len(rows) + 1)),
        "text": [corpus.texts[r] for r in rows],
        "similarity": neighbours.similarities.astype(float),
        "label": [corpus.labels[r] if corpus.labels is not None else "" for r in rows],
        "cluster": names,
    }, columns=["rank", "text", "similarity", "label", "cluster"])
