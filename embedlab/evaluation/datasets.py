"""Labelled query sets for retrieval evaluation: parsing and validating uploads, the bundled sets.

A corpus is JSONL lines `{"id", "text"}`; queries are JSONL lines `{"id", "text", "relevant"}` with
`relevant` a list of document ids (grade 1 each) or an object {doc id: grade}. A document is
*relevant* to a query when its grade is >= 1 (trec_eval's relevance level).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from embedlab.messages import N_
from embedlab.textio import decode_bytes, read_jsonl


class DatasetError(ValueError):
    """A labelled set is malformed; str(error) says what to fix, naming lines and ids."""


@dataclass(frozen=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: Mapping[str, int]  # doc id -> grade (>= 0; grade >= 1 means relevant)


@dataclass(frozen=True)
class LabelledSet:
    """A corpus and its judged queries. `name` names the set in exports (a subset's says so);
    `base` and `limit`: a subset's original name and query limit (for a translated title)."""

    name: str
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]
    base: str = ""
    limit: int = 0

    @property
    def doc_ids(self) -> list[str]:
        return [d.id for d in self.documents]

    @property
    def relevant_per_query(self) -> float:
        """Mean number of relevant documents (grade >= 1) per query."""
        return sum(sum(g >= 1 for g in q.relevant.values()) for q in self.queries) / max(len(self.queries), 1)

    def subset(self, n_queries: int) -> LabelledSet:
        """The first `n_queries` queries with the whole corpus (for quick runs and tests)."""
        return LabelledSet(f"{self.name} (first {n_queries} queries)", self.documents,
                           self.queries[:n_queries], base=self.base or self.name, limit=n_queries)


def _id_of(record: Mapping, line: int, what: str) -> str:
    raw = record.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        raise DatasetError(f"{what} line {line}: needs a non-empty \"id\" (string), got {raw!r}.")
    return str(raw).strip()


def _text_of(record: Mapping, line: int, what: str, ident: str) -> str:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{what} line {line} (id {ident!r}): needs a non-empty \"text\" string.")
    return text


def parse_corpus(records: Sequence[Mapping], lines: Sequence[int] | None = None) -> tuple[Document, ...]:
    """Documents from JSONL records `{"id", "text"}`; raises DatasetError on any problem.

    `lines` gives each record's line number in its file for messages (default 1, 2, ...).
    """
    if not records:
        raise DatasetError("The corpus is empty: it needs at least one line {\"id\": ..., \"text\": ...}.")
    seen: dict[str, int] = {}
    docs = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(f"Corpus line {line}: expected a JSON object, got {type(record).__name__}.")
        ident = _id_of(record, line, "Corpus")
        if ident in seen:
            raise DatasetError(
                f"Corpus line {line}: duplicate document id {ident!r} (first on line {seen[ident]})."
            )
        seen[ident] = line
        docs.append(Document(ident, _text_of(record, line, "Corpus", ident)))
    return tuple(docs)


def _grades(raw: object, line: int, ident: str) -> dict[str, int]:
    where = f"Queries line {line} (id {ident!r})"
    if isinstance(raw, list):
        grades: dict[str, int] = {}
        for item in raw:
            if isinstance(item, bool) or not isinstance(item, str | int) or str(item).strip() == "":
                raise DatasetError(f"{where}: \"relevant\" must list document ids, found {item!r}.")
            key = str(item).strip()
            if key in grades:
                raise DatasetError(f"{where}: document {key!r} is listed twice in \"relevant\".")
            grades[key] = 1
        return grades
    if isinstance(raw, Mapping):
        grades = {}
        for key, grade in raw.items():
            ok = isinstance(grade, int | float) and not isinstance(grade, bool)
            if not ok or grade < 0 or float(grade) != int(grade):
                raise DatasetError(
                    f"{where}: the grade of {key!r} must be a whole number >= 0, got {grade!r}."
                )
            grades[str(key).strip()] = int(grade)
        return grades
    raise DatasetError(
        f"{where}: \"relevant\" must be a list of document ids or an object {{\"doc id\": grade}}, "
        f"got {type(raw).__name__}."
    )


def parse_queries(
    records: Sequence[Mapping], doc_ids: Iterable[str], lines: Sequence[int] | None = None
) -> tuple[Query, ...]:
    """Queries from JSONL records `{"id", "text", "relevant"}`, checked against the corpus ids.

    `relevant` is a list of document ids (grade 1 each) or an object {doc id: grade}.
    Raises DatasetError for unknown ids, empty relevant lists, duplicates and malformed lines.
    """
    if not records:
        raise DatasetError("The query file is empty: it needs lines {\"id\", \"text\", \"relevant\"}.")
    known = set(doc_ids)
    seen: dict[str, int] = {}
    queries = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(f"Queries line {line}: expected a JSON object, got {type(record).__name__}.")
        ident = _id_of(record, line, "Queries")
        if ident in seen:
            raise DatasetError(f"Queries line {line}: duplicate query id {ident!r} (first on line {seen[ident]}).")
        seen[ident] = line
        text = _text_of(record, line, "Queries", ident)
        if "relevant" not in record:
            raise DatasetError(f"Queries line {line} (id {ident!r}): missing \"relevant\".")
        grades = _grades(record["relevant"], line, ident)
        if not any(g >= 1 for g in grades.values()):
            raise DatasetError(
                f"Queries line {line} (id {ident!r}): the relevant list is empty (no document "
                "with grade >= 1); every query needs at least one relevant document."
            )
        unknown = [k for k in grades if k not in known]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DatasetError(
                f"Queries line {line} (id {ident!r}): unknown document id(s) {shown}; they are "
                "not in the corpus."
            )
        queries.append(Query(ident, text, grades))
    return tuple(queries)


def load_labelled_set(corpus: bytes, queries: bytes, name: str = "uploaded") -> LabelledSet:
    """Parse and validate two JSONL files; raises DatasetError (or textio.UploadError)."""
    parsed = []
    for what, data in (("Corpus file", corpus), ("Query file", queries)):
        try:
            records = read_jsonl(data)
        except ValueError as exc:
            raise DatasetError(f"{what}: {exc}") from None
        # read_jsonl skips blank lines: keep the real line numbers for messages.
        lines = [n for n, text in enumerate(decode_bytes(data).text.splitlines(), start=1) if text.strip()]
        parsed.append((records, lines if len(lines) == len(records) else None))
    documents = parse_corpus(*parsed[0])
    return LabelledSet(name, documents, parse_queries(parsed[1][0], (d.id for d in documents), parsed[1][1]))


BUNDLED: dict[str, tuple[str, str]] = {  # the names are shown translated (marked for the catalog)
    N_("IT security policy (Chinese)"): ("it_policy_zh.corpus.jsonl", "it_policy_zh.queries.jsonl"),
    N_("Engineering handbook (English / mixed)"): ("eng_handbook_mixed.corpus.jsonl",
                                                   "eng_handbook_mixed.queries.jsonl"),
}


def bundled_files(name: str) -> tuple[Path, Path]:
    """Paths of a bundled set's corpus and query files."""
    corpus, queries = BUNDLED[name]
    root = resources.files("embedlab") / "data" / "labelled"
    return Path(str(root / corpus)), Path(str(root / queries))


def load_bundled(name: str) -> LabelledSet:
    """One of the labelled sets shipped in embedlab/data (see BUNDLED)."""
    corpus, queries = bundled_files(name)
    return load_labelled_set(corpus.read_bytes(), queries.read_bytes(), name)


def relevance_labels(dataset: LabelledSet) -> np.ndarray:
    """bool (n_queries, n_docs): True where the document is relevant (grade >= 1) to the query."""
    index = {d: j for j, d in enumerate(dataset.doc_ids)}
    labels = np.zeros((len(dataset.queries), len(dataset.documents)), dtype=bool)
    for i, q in enumerate(dataset.queries):
        for doc, grade in q.relevant.items():
            if grade >= 1:
                labels[i, index[doc]] = True
    return labels
