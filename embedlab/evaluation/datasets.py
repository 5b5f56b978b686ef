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

from embedlab.messages import N_, LocalizedError, Message, message_of
from embedlab.textio import decode_bytes, read_jsonl


class DatasetError(LocalizedError, ValueError):
    """A labelled set is malformed; the message says what to fix, naming lines and ids (`error.message`
    is translated by the UI, str(error) is English)."""


_LINE = {"Corpus": N_("Corpus line {line}"), "Queries": N_("Queries line {line}")}
_LINE_ID = {"Corpus": N_("Corpus line {line} (id {id})"), "Queries": N_("Queries line {line} (id {id})")}


def _where(what: str, line: int, ident: str | None = None) -> Message:
    """"Corpus line 3" or "Queries line 3 (id 'q1')", translatable."""
    if ident is None:
        return Message(_LINE[what], {"line": line})
    return Message(_LINE_ID[what], {"line": line, "id": repr(ident)})


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
        raise DatasetError(N_("{where}: needs a non-empty \"id\" (string), got {raw}."),
                           where=_where(what, line), raw=repr(raw))
    return str(raw).strip()


def _text_of(record: Mapping, line: int, what: str, ident: str) -> str:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(N_("{where}: needs a non-empty \"text\" string."), where=_where(what, line, ident))
    return text


def parse_corpus(records: Sequence[Mapping], lines: Sequence[int] | None = None) -> tuple[Document, ...]:
    """Documents from JSONL records `{"id", "text"}`; raises DatasetError on any problem.

    `lines` gives each record's line number in its file for messages (default 1, 2, ...).
    """
    if not records:
        raise DatasetError(N_("The corpus is empty: it needs at least one line {\"id\": ..., \"text\": ...}."))
    seen: dict[str, int] = {}
    docs = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(N_("{where}: expected a JSON object, got {kind}."),
                               where=_where("Corpus", line), kind=type(record).__name__)
        ident = _id_of(record, line, "Corpus")
        if ident in seen:
            raise DatasetError(N_("{where}: duplicate document id {id} (first on line {first})."),
                               where=_where("Corpus", line), id=repr(ident), first=seen[ident])
        seen[ident] = line
        docs.append(Document(ident, _text_of(record, line, "Corpus", ident)))
    return tuple(docs)


def _grades(raw: object, line: int, ident: str) -> dict[str, int]:
    where = _where("Queries", line, ident)
    if isinstance(raw, list):
        grades: dict[str, int] = {}
        for item in raw:
            if isinstance(item, bool) or not isinstance(item, str | int) or str(item).strip() == "":
                raise DatasetError(N_("{where}: \"relevant\" must list document ids, found {item}."),
                                   where=where, item=repr(item))
            key = str(item).strip()
            if key in grades:
                raise DatasetError(N_("{where}: document {key} is listed twice in \"relevant\"."),
                                   where=where, key=repr(key))
            grades[key] = 1
        return grades
    if isinstance(raw, Mapping):
        grades = {}
        for key, grade in raw.items():
            ok = isinstance(grade, int | float) and not isinstance(grade, bool)
            if not ok or grade < 0 or float(grade) != int(grade):
                raise DatasetError(N_("{where}: the grade of {key} must be a whole number >= 0, got {grade}."),
                                   where=where, key=repr(key), grade=repr(grade))
            grades[str(key).strip()] = int(grade)
        return grades
    raise DatasetError(
        N_("{where}: \"relevant\" must be a list of document ids or an object {{\"doc id\": grade}}, got {kind}."),
        where=where, kind=type(raw).__name__,
    )


def parse_queries(
    records: Sequence[Mapping], doc_ids: Iterable[str], lines: Sequence[int] | None = None
) -> tuple[Query, ...]:
    """Queries from JSONL records `{"id", "text", "relevant"}`, checked against the corpus ids.

    `relevant` is a list of document ids (grade 1 each) or an object {doc id: grade}.
    Raises DatasetError for unknown ids, empty relevant lists, duplicates and malformed lines.
    """
    if not records:
        raise DatasetError(N_("The query file is empty: it needs lines {\"id\", \"text\", \"relevant\"}."))
    known = set(doc_ids)
    seen: dict[str, int] = {}
    queries = []
    for line, record in zip(lines or range(1, len(records) + 1), records, strict=True):
        if not isinstance(record, Mapping):
            raise DatasetError(N_("{where}: expected a JSON object, got {kind}."),
                               where=_where("Queries", line), kind=type(record).__name__)
        ident = _id_of(record, line, "Queries")
        if ident in seen:
            raise DatasetError(N_("{where}: duplicate query id {id} (first on line {first})."),
                               where=_where("Queries", line), id=repr(ident), first=seen[ident])
        seen[ident] = line
        text = _text_of(record, line, "Queries", ident)
        if "relevant" not in record:
            raise DatasetError(N_("{where}: missing \"relevant\"."), where=_where("Queries", line, ident))
        grades = _grades(record["relevant"], line, ident)
        if not any(g >= 1 for g in grades.values()):
            raise DatasetError(N_(
                "{where}: the relevant list is empty (no document "
                "with grade >= 1); every query needs at least one relevant document."
            ), where=_where("Queries", line, ident))
        unknown = [k for k in grades if k not in known]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DatasetError(N_("{where}: unknown document id(s) {shown}; they are not in the corpus."),
                               where=_where("Queries", line, ident), shown=shown)
        queries.append(Query(ident, text, grades))
    return tuple(queries)


def load_labelled_set(corpus: bytes, queries: bytes, name: str = "uploaded") -> LabelledSet:
    """Parse and validate two JSONL files; raises DatasetError (or textio.UploadError)."""
    parsed = []
    for what, data in ((N_("Corpus file"), corpus), (N_("Query file"), queries)):
        try:
            records = read_jsonl(data)
        except ValueError as exc:
            raise DatasetError(N_("{file}: {error}"), file=Message(what), error=message_of(exc)) from None
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
