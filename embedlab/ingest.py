"""Ingestion: documents -> chunks with content-hash ids -> embeddings -> guarded upserts.

Chunk ids are a hash of (source, chunk text, occurrence), so ingesting the same document again
finds its chunks already stored (skipped, nothing embedded or written), an edited document only
writes its changed chunks, and chunks of the old version that no longer exist are removed after
the new ones are stored. Embedding and writing alternate batch by batch: a failure part-way
leaves every earlier batch stored, and the report says exactly how many.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab import textio
from embedlab.backends import Embedder, EmbeddingError
from embedlab.chunking import chunk_text
from embedlab.messages import N_, InputError, Message, message_of
from embedlab.stores.base import CollectionSpec, PartialWrite, StoreError, VectorStore, parse_export

DATA_DIR = Path(__file__).resolve().parent / "data" / "corpora"
SAMPLE_DOMAINS = ("hr_policy", "tech_doc", "customer_chat")

IngestProgress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total); stage is "embedding" or "writing"."""


@dataclass(frozen=True)
class Document:
    source: str  # file name or title; used for filters and to replace a re-ingested document
    text: str


@dataclass(frozen=True)
class ChunkRecord:
    id: str
    text: str
    metadata: dict[str, Any]


@dataclass
class IngestReport:
    """What one ingestion did. `error` is set when it stopped early; counts are what was stored."""

    collection: str
    documents: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    removed: int = 0
    embed_s: float = 0.0
    store_s: float = 0.0
    error: Message | None = None  # why it stopped (translated by the UI; str() is English)
    stored_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> Message:
        """What was done, for the page (translated there with `tr`; str() is English)."""
        counts = {"documents": self.documents, "chunks": self.chunks, "added": self.added, "updated": self.updated,
                  "skipped": self.skipped, "removed": self.removed, "collection": repr(self.collection),
                  "embed_s": f"{self.embed_s:.2f}", "store_s": f"{self.store_s:.2f}"}
        if self.error:
            return Message(N_(
                "Stopped: {error} Stored before the failure: {added} added and "
                "{updated} updated chunk(s) in {collection}; they are intact."
            ), {**counts, "error": self.error})
        if self.removed:
            return Message(N_(
                "{documents} document(s), {chunks} chunk(s): {added} added, {updated} updated, {skipped} unchanged "
                "(skipped), {removed} outdated removed. Embedding {embed_s} s, writing {store_s} s."
            ), counts)
        return Message(N_(
            "{documents} document(s), {chunks} chunk(s): {added} added, {updated} updated, {skipped} unchanged "
            "(skipped). Embedding {embed_s} s, writing {store_s} s."
        ), counts)


def chunk_id(source: str, text: str, occurrence: int = 0) -> str:
    """A stable id from content: the same chunk of the same source always gets the same id."""
    digest = hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode()).hexdigest()
    return digest[:32]


def chunk_documents(
    documents: Sequence[Document], strategy: str = "recursive", max_tokens: int = 512, overlap: int = 0
) -> list[ChunkRecord]:
    """Split documents with embedlab.chunking; metadata: source, chunk index, span, tokens."""
    records: list[ChunkRecord] = []
    seen_sources: set[str] = set()
    for doc in documents:
        if doc.source in seen_sources:
            raise InputError(N_("Two documents are named {source}; sources must be unique."), source=repr(doc.source))
        seen_sources.add(doc.source)
        seen: dict[str, int] = {}
        index = 0
        for chunk in chunk_text(doc.text, strategy=strategy, max_tokens=max_tokens, overlap=overlap):
            text = doc.text[chunk.start : chunk.end]
            if not text.strip():
                continue
            occurrence = seen.get(text, 0)
            seen[text] = occurrence + 1
            meta = {
                "source": doc.source,
                "chunk": index,
                "start": chunk.start,
                "end": chunk.end,
                "tokens": chunk.tokens,
                "strategy": strategy,
            }
            records.append(ChunkRecord(chunk_id(doc.source, text, occurrence), text, meta))
            index += 1
    return records


def records_from_rows(rows: Sequence[dict[str, Any]]) -> list[ChunkRecord]:
    """Records from an export (store.parse_export output): kept ids, else content-hash ids."""
    out = []
    for i, row in enumerate(rows):
        meta = dict(row.get("metadata") or {})
        rid = row.get("id") or chunk_id(str(meta.get("source", "import")), row["text"], i)
        out.append(ChunkRecord(rid, row["text"], meta))
    return out


def ingest(
    store: VectorStore,
    collection: str,
    embedder: Embedder,
    records: Sequence[ChunkRecord],
    progress: IngestProgress | None = None,
    batch_size: int = 256,
    replace_sources: bool = True,
) -> IngestReport:
    """Embed and upsert `records` into `collection`; embedding and store failures end up in the
    report's `error`, with the counts of what was stored before them.

    The model guard runs first (ModelMismatch is raised, nothing embedded or written). Records
    already stored with the same text and metadata are skipped. With `replace_sources`, chunks of
    the same sources that are not in `records` (an older version of the document) are removed
    once every new chunk is stored.
    """
    report = IngestReport(collection, documents=len({r.metadata.get("source") for r in records}),
                          chunks=len(records))
    if len({r.id for r in records}) != len(records):
        raise StoreError(N_("Two chunks have the same id; each source name must be unique."))
    # The guard runs before anything is embedded or written (ModelMismatch propagates).
    try:
        dim = embedder.dim
    except EmbeddingError as exc:
        report.error = exc.message
        return report
    spec = store.check(collection, embedder.model_id, dim)

    start = time.perf_counter()
    existing = {r["id"]: r for r in store.get_records(collection, ids=[r.id for r in records])}
    todo = []
    for rec in records:
        old = existing.get(rec.id)
        if old is not None and old["text"] == rec.text and old["metadata"] == rec.metadata:
            report.skipped += 1
        else:
            todo.append(rec)
    report.store_s += time.perf_counter() - start

    stored = _embed_and_write(store, collection, embedder, todo, existing, report, progress, batch_size)
    _record_served_model(store, spec, embedder, report)
    if not stored:
        return report
    if replace_sources and records:
        _remove_outdated(store, collection, records, report)
    if report.added or report.updated or report.removed:
        t0 = time.perf_counter()
        try:
            store.settle(collection)  # Milvus Lite: index what was written, for fast searches
        except StoreError as exc:  # everything is stored and searchable, only more slowly
            report.error = report.error or Message(
                N_("chunks stored, but preparing them for fast search failed: {error}"), {"error": exc.message})
        report.store_s += time.perf_counter() - t0
    return report


def _record_served_model(store: VectorStore, spec: CollectionSpec, embedder: Embedder, report: IngestReport) -> None:
    """Keep in the collection's metadata the model the server said answered, once chunks were stored."""
    served = getattr(embedder, "served_model", None)
    if not served or not (report.added or report.updated) or served == spec.served_model:
        return
    try:
        store.update(spec.name, served_model=served)
    except StoreError as exc:  # the chunks are stored; only the note of the served model is missing
        report.error = report.error or f"chunks stored, but recording the served model failed: {exc}"


def _embed_and_write(
    store: VectorStore, collection: str, embedder: Embedder, todo: Sequence[ChunkRecord],
    existing: dict[str, Any], report: IngestReport, progress: IngestProgress | None, batch_size: int,
) -> bool:
    """Embed and write `todo` batch by batch, counting into `report`; False when a failure stopped it
    (the report's error says which, and its counts are what was stored before)."""
    for first in range(0, len(todo), batch_size):
        batch = todo[first : first + batch_size]
        try:
            t0 = time.perf_counter()
            vectors = embedder.embed([r.text for r in batch])
            t1 = time.perf_counter()
            report.embed_s += t1 - t0
            if progress:
                progress("embedding", first + len(batch), len(todo))
            store.upsert(
                collection,
                embedder.model_id,
                [r.id for r in batch],
                [r.text for r in batch],
                [r.metadata for r in batch],
                vectors,
            )
            report.store_s += time.perf_counter() - t1
        except PartialWrite as exc:
            _count(report, batch[: len(exc.written_ids)], existing)
            report.error = exc.message
            return False
        except (EmbeddingError, StoreError) as exc:
            report.error = exc.message
            return False
        _count(report, batch, existing)
        if progress:
            progress("writing", first + len(batch), len(todo))
    return True


def _remove_outdated(store: VectorStore, collection: str, records: Sequence[ChunkRecord], report: IngestReport) -> None:
    """Delete the chunks of `records`' sources that `records` no longer have (an older version)."""
    t0 = time.perf_counter()
    sources = sorted({str(r.metadata.get("source")) for r in records})
    keep = {r.id for r in records}
    try:
        stale = [i for i in store.ids_where(collection, {"source": {"$in": sources}}) if i not in keep]
        store.delete_ids(collection, stale)
        report.removed = len(stale)
    except StoreError as exc:  # new chunks are stored; only the clean-up failed
        report.error = Message(N_("new chunks stored, but removing outdated ones failed: {error}"),
                               {"error": exc.message})
    report.store_s += time.perf_counter() - t0


def _count(report: IngestReport, stored: Sequence[ChunkRecord], existing: dict[str, Any]) -> None:
    for rec in stored:
        if rec.id in existing:
            report.updated += 1
        else:
            report.added += 1
        report.stored_ids.append(rec.id)


# -- bundled sample corpora ----------------------------------------------------------------
@dataclass(frozen=True)
class SampleCorpus:
    """A small corpus written for this project: one business domain, Chinese and English."""

    domain: str
    collection: str  # suggested collection name, e.g. hr_policy_v1
    description: str
    instruction_name: str  # a preset of the instruction library
    threshold: float
    questions: tuple[str, ...]
    documents: tuple[Document, ...]

    def spec(self, model_id: str, dim: int, instruction: str) -> CollectionSpec:
        """The spec of this sample's collection for vectors of (model_id, dim); `instruction` is
        the task text of `instruction_name` (looked up in the caller's instruction library)."""
        return CollectionSpec(self.collection, model_id, dim, self.instruction_name, instruction,
                              self.description, self.threshold)


@functools.cache  # bundled files that never change: read once per process, not on every rerun
def load_domain_sample(domain: str) -> SampleCorpus:
    """The bundled sample corpus of `domain` (one of SAMPLE_DOMAINS); ValueError for others."""
    path = DATA_DIR / f"{domain}.json"
    if domain not in SAMPLE_DOMAINS or not path.is_file():
        raise InputError(N_("No sample corpus {domain}; choose one of {domains}."),
                         domain=repr(domain), domains=", ".join(SAMPLE_DOMAINS))
    raw = json.loads(path.read_text(encoding="utf-8"))
    return SampleCorpus(
        domain=domain,
        collection=raw["collection"],
        description=raw["description"],
        instruction_name=raw["instruction"],
        threshold=float(raw["threshold"]),
        questions=tuple(raw["questions"]),
        documents=tuple(Document(d["source"], d["text"]) for d in raw["documents"]),
    )


def sample_for_collection(name: str) -> SampleCorpus | None:
    """The sample corpus whose suggested collection is `name` (for its example questions)."""
    return next((s for s in map(load_domain_sample, SAMPLE_DOMAINS) if s.collection == name), None)


# -- uploads -------------------------------------------------------------------------------
_SOURCE_COLUMNS = ("source", "title", "name", "file", "filename", "id")
UPLOAD_TYPES = ("txt", "md", "pdf", "csv", "jsonl")


@dataclass(frozen=True)
class FileContents:
    """What one uploaded file holds: documents to chunk, or the ready records of an export.

    `encoding` says how its bytes were read: a codec name ("utf-8", "gb18030", ...) or "pdf".
    """

    documents: list[Document]
    records: list[ChunkRecord]
    encoding: str


def documents_from_file(data: bytes, filename: str) -> FileContents:
    """Documents from one uploaded file, or ready records when it is an export of a collection.

    .txt/.md/.pdf: one document named after the file. .csv/.jsonl: one document per row, text
    from the text column (textio.guess_text_column), name from a source/title/id column if any.
    A .jsonl whose rows all have "text" and a "metadata" object is an export: its records keep
    their ids and metadata (re-embedded with the current model).
    Raises textio.UploadError with a message for the user that starts with the file's name.
    """
    try:
        return _file_contents(data, filename)
    except textio.UploadError as exc:
        raise textio.UploadError(N_("{file}: {error}"), file=filename, error=exc.message) from None


def read_files(files: Sequence[tuple[str, bytes]]) -> tuple[list[Document], list[ChunkRecord], list[dict[str, Any]]]:
    """Every file's documents and exported records (`documents_from_file`), and one row per file
    for the page: {"file": name, "read as": encoding, "documents": documents + exported sources}.

    files: (file name, bytes) in upload order. Raises textio.UploadError as documents_from_file.
    """
    documents: list[Document] = []
    records: list[ChunkRecord] = []
    read_as: list[dict[str, Any]] = []
    for name, data in files:
        contents = documents_from_file(data, name)
        documents.extend(contents.documents)
        records.extend(contents.records)
        sources = {r.metadata.get("source") for r in contents.records}
        read_as.append({"file": name, "read as": contents.encoding,
                        "documents": len(contents.documents) + len(sources)})
    return documents, records, read_as


def _file_contents(data: bytes, filename: str) -> FileContents:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix == "jsonl":
        lines = textio.load_jsonl(data)
        rows = lines.records
        if rows and all(isinstance(r.get("metadata"), dict) and "text" in r for r in rows):
            try:
                return FileContents([], records_from_rows(parse_export(rows)), lines.encoding)
            except ValueError as exc:
                reason = message_of(exc)
                raise textio.UploadError(reason.msgid, **reason.params) from None
    if suffix in ("csv", "jsonl"):
        table = textio.load_table(data, filename)
        frame = table.frame
        column = textio.guess_text_column(frame)
        if column is None:
            raise textio.UploadError(
                N_("no column with text found (columns: {columns}). Name the text column 'text'."),
                columns=", ".join(frame.columns),
            )
        lowered = {c.lower(): c for c in frame.columns}
        source_col = next((lowered[c] for c in _SOURCE_COLUMNS if c in lowered and lowered[c] != column), None)
        docs: list[Document] = []
        used: set[str] = set()
        for i, row in enumerate(frame.itertuples(index=False), start=1):
            values = dict(zip(frame.columns, row, strict=True))
            text = values[column]
            if not isinstance(text, str) or not text.strip():
                continue
            name = str(values[source_col]).strip() if source_col and values[source_col] is not None else ""
            name = name or f"{filename}#{i}"
            if name in used:
                name = f"{name}#{i}"
            used.add(name)
            docs.append(Document(name, text))
        if not docs:
            raise textio.UploadError(N_("column {column} has no text."), column=repr(column))
        return FileContents(docs, [], table.encoding)
    decoded = textio.extract_text(data, filename)
    if not decoded.text.strip():
        raise textio.UploadError(N_("the file contains no text."))
    return FileContents([Document(filename, decoded.text)], [], decoded.encoding)
