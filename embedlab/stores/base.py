"""The vector store contract: collections with a model/dimension guard, and the decorator that
turns any client failure into one of the store errors (`embedlab.stores.errors`, re-exported here).

`VectorStore` is the contract every page and ingestion use; `embedlab.stores.chroma.ChromaStore`
implements it over a Chroma client (embedded or server) and `embedlab.stores.milvus.MilvusStore`
over Milvus (Lite file, standalone or cluster). `embedlab.stores.open_store(settings)` picks one
from the configuration.

Every collection made here records, in its metadata, the embedding model and dimension
its vectors came from, the query instruction, a description and a similarity threshold. Writes
and queries with another model or dimension are refused before anything reaches the store, because
vectors from two models in one index give meaningless distances without any error.

Every collection also carries a content version, stored with it (Chroma: its metadata; Milvus: a
collection property): a fresh unique token written after every write (upsert, delete_ids), so a
reader in any process can tell whether the content changed without reading it. A reader that reads
the version before the records keeps what it built under that version: every write it missed ends
with a new token, and tokens never repeat, so the version it saw never comes back.
"""

from __future__ import annotations

import abc
import functools
import inspect
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from embedlab.messages import N_, Message

# The errors and name rules live in their own modules; everything stays importable from here.
from embedlab.stores.errors import CollectionExists, ModelMismatch, PartialWrite, RecordError, StoreError
from embedlab.stores.errors import CollectionMissing as CollectionMissing
from embedlab.stores.errors import InvalidName as InvalidName
from embedlab.stores.errors import StoreLocked as StoreLocked
from embedlab.stores.names import NAME_RULES as NAME_RULES
from embedlab.stores.names import model_name, validate_name

APP_TAG = "embedlab"  # value of the "app" metadata key of collections made here
DEFAULT_THRESHOLD = 0.5  # a placeholder until the threshold is calibrated or set by hand
# Where a collection's threshold came from (its `threshold_source`). Until it is calibrated or set
# by hand, the threshold means nothing for this model family (unrelated texts score 0.8 and more).
UNCALIBRATED = ""
CALIBRATED = "evaluate"  # calibrated on labelled pairs (Evaluate's "Apply to collection")
SET_BY_HAND = "manual"  # typed in the collection's settings
THRESHOLD_SOURCES = (UNCALIBRATED, CALIBRATED, SET_BY_HAND)

VERSION_KEY = "content_version"  # where a store keeps a collection's content version

WriteProgress = Callable[[int, int], None]
"""Called as progress(written, total) after each batch (and as progress(read, total) by reads)."""


def new_content_version() -> str:
    """A content version never given before: nanosecond clock and 64 random bits, in hex."""
    return f"{time.time_ns():x}-{secrets.token_hex(8)}"


# -- collection settings ---------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is for and which model filled it (stored as the collection's metadata).

    `model_id` holds the model's name only: an embedder's id ("name@http://user:pw@host/v1") is cut
    to its name here, so no server address is stored, and collections written with the older
    "name@url" ids read as their name.
    """

    name: str
    model_id: str
    dim: int
    instruction_name: str = ""  # "" = no instruction
    instruction: str = ""  # the task text at creation (the library entry may change later)
    description: str = ""
    threshold: float = DEFAULT_THRESHOLD
    created_at: str = ""
    served_model: str = ""  # the model the server said answered, recorded at ingest ("" = not known)
    threshold_source: str = UNCALIBRATED  # one of THRESHOLD_SOURCES
    threshold_note: str = ""  # how it was calibrated, e.g. "best F1 · it_policy_zh" (shown literally)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_id", model_name(self.model_id))
        if self.threshold_source not in THRESHOLD_SOURCES:
            raise ValueError(f"unknown threshold source {self.threshold_source!r}")

    @property
    def threshold_applies(self) -> bool:
        """The threshold was calibrated or set by hand, so results under it may be marked."""
        return self.threshold_source in (CALIBRATED, SET_BY_HAND)

    def to_metadata(self) -> dict[str, Any]:
        meta = {k: v for k, v in asdict(self).items() if k != "name"}
        meta["app"] = APP_TAG
        return meta

    @classmethod
    def from_metadata(cls, name: str, meta: Mapping[str, Any] | None) -> CollectionSpec | None:
        """None for collections not made by this app (no model recorded)."""
        meta = meta or {}
        if meta.get("app") != APP_TAG or "model_id" not in meta or "dim" not in meta:
            return None
        return cls(
            name=name,
            model_id=str(meta["model_id"]),
            dim=int(meta["dim"]),
            instruction_name=str(meta.get("instruction_name", "")),
            instruction=str(meta.get("instruction", "")),
            description=str(meta.get("description", "")),
            threshold=float(meta.get("threshold", DEFAULT_THRESHOLD)),
            created_at=str(meta.get("created_at", "")),
            served_model=str(meta.get("served_model", "")),
            # Collections written before the source was recorded read as uncalibrated.
            threshold_source=_known_source(meta.get("threshold_source")),
            threshold_note=str(meta.get("threshold_note", "")),
        )

    def mismatch(self, model_id: str, dim: int) -> Message | None:
        """Why vectors from (model_id, dim) cannot go into or query this collection; None if they can."""
        if model_name(model_id) != self.model_id:
            return Message(N_(
                "Collection {name} was built with {built} ({dim} dimensions), but the current model is "
                "{current}. Vectors of different models cannot be compared: switch the model in the sidebar "
                "back, or create a new collection (e.g. with a _v2 suffix) and ingest again."
            ), {"name": repr(self.name), "built": repr(self.model_id), "dim": self.dim,
                "current": repr(model_name(model_id))})
        if int(dim) != self.dim:
            return Message(N_(
                "Collection {name} holds {dim}-dimensional vectors, but the current "
                "setting gives {current}. Set Dimensions to {dim} in the sidebar, or create a new "
                "collection for this size."
            ), {"name": repr(self.name), "dim": self.dim, "current": dim})
        return None


def _known_source(value: Any) -> str:
    return value if value in THRESHOLD_SOURCES else UNCALIBRATED


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    count: int
    spec: CollectionSpec | None  # None: not made by this app


@dataclass(frozen=True)
class Hit:
    """One search result; similarity = cosine similarity (Chroma: 1 - cosine distance; Milvus:
    the COSINE score)."""

    id: str
    text: str
    metadata: dict[str, Any]
    similarity: float
    rank: int  # 1-based

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))


@dataclass(frozen=True)
class StoredVectors:
    """A collection's records with their vectors as one array, rows in the order of `ids`.

    vectors: float32 (n, dim), rows L2-normalised as they were written.
    """

    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Context:
    """The matched chunk with the text around it in its document (from neighbouring chunks)."""

    before: str
    match: str
    after: str


# Each public store method as it is named in "failed to <action>" messages (translatable).
ACTIONS = {
    "check": N_("check"), "close": N_("close"), "count": N_("count"), "create": N_("create"),
    "delete": N_("delete"), "delete_ids": N_("delete ids"), "exists": N_("exists"),
    "export_jsonl": N_("export the collection"), "get_records": N_("get records"), "ids_where": N_("ids where"),
    "list": N_("list"), "search": N_("search"), "source": N_("source"), "sources": N_("sources"),
    "spec": N_("spec"), "update": N_("update"), "upsert": N_("upsert"), "settle": N_("settle"),
    "connect": N_("connect"), "max_batch_size": N_("report its batch size"),
}

_CALLS = threading.local()  # how deep in store methods this thread is: the outermost one translates


def raising_store_errors(cls: type) -> type:
    """Make every public method of `cls`, its own and those it inherits from VectorStore, raise
    StoreError only (Chroma raises bare ValueError, httpx and sqlite errors; pymilvus its
    MilvusException), so callers need to handle one error type. The message names the outermost
    operation (a search, not the spec look-up it made) and comes from the store's `_failure`."""

    def wrap(name: str, fn: Callable) -> Callable:
        action = Message(ACTIONS.get(name, name.replace("_", " ")))

        @functools.wraps(fn)
        def method(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(_CALLS, "depth", 0)
            _CALLS.depth = depth + 1
            try:
                result = fn(*args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - translated into the store's own error
                if depth:
                    raise
                raise args[0]._failure(action, exc) from exc
            finally:
                _CALLS.depth = depth
            return result

        method.__store_wrapped__ = True  # type: ignore[attr-defined]
        return method

    seen: set[str] = set()
    for klass in cls.__mro__[:-1]:  # the class first, so its own methods win over inherited ones
        for name, fn in list(vars(klass).items()):
            if name.startswith("_") or name in seen or not inspect.isfunction(fn):
                continue
            seen.add(name)
            if not getattr(fn, "__store_wrapped__", False) and not getattr(fn, "__isabstractmethod__", False):
                setattr(cls, name, wrap(name, fn))
    return cls


def own_spec(name: str, spec: CollectionSpec | None) -> CollectionSpec:
    """`spec`, or the StoreError for a collection this app did not make (no model recorded)."""
    if spec is None:
        raise StoreError(N_(
            "Collection {name} was not created by this playground: it records no embedding "
            "model, so it is not safe to add to or query. Create a new collection here."
        ), name=repr(name))
    return spec


# -- the interface ---------------------------------------------------------------------------
class VectorStore(abc.ABC):
    """What the app needs from a vector store: the contract of Chroma and Milvus alike.

    Collections are named by `validate_name` rules (a store may be stricter and say so with
    InvalidName). Each records its CollectionSpec (model, dimension, instruction, threshold,
    description, created_at), which must round-trip through `spec` and `list`. Records are
    {id, text, metadata}; ids are strings, metadata values text, numbers or booleans. Similarity
    is cosine (1.0 = same direction) for every store. `where` filters use Chroma's syntax on the
    keys the app filters on: `{"source": s}`, `{"source": {"$in": [...]}}`, `{"chunk": i}`,
    `{"chunk": {"$in": [...]}}` and `{"$and": [...]}` / `{"$or": [...]}` of those.

    Every write (`upsert`, `delete_ids`) gives the collection a new `content_version`, written
    after the records; `create` gives it its first.

    Every public method raises StoreError (or a subclass) only, with a message a user can act on:
    subclasses are decorated with `raising_store_errors` and give the message in `_failure`.
    """

    kind: str = "vector store"  # "Chroma" or "Milvus", for messages and captions

    @property
    @abc.abstractmethod
    def max_batch_size(self) -> int:
        """The most records one write request carries."""

    def _failure(self, action: Message, exc: BaseException) -> StoreError:
        """The StoreError for an unexpected failure of the client while asked to `action`."""
        return StoreError(N_("The {kind} store failed to {action} ({detail})."), kind=self.kind, action=action,
                          detail=f"{type(exc).__name__}: {str(exc)[:300]}")

    # collections -----------------------------------------------------------------------
    @abc.abstractmethod
    def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def create(self, spec: CollectionSpec) -> CollectionSpec:
        """Create an empty cosine collection for `spec` (created_at filled in); InvalidName,
        CollectionExists or StoreError for a bad dimension or threshold, nothing created."""

    @abc.abstractmethod
    def list(self) -> list[CollectionInfo]:
        """Every collection, sorted by name, with its record count and spec (None if foreign)."""

    @abc.abstractmethod
    def spec(self, name: str) -> CollectionSpec:
        """The spec of `name`; CollectionMissing, or StoreError for a collection made elsewhere."""

    def _validate_name(self, name: str) -> str:
        """The name if this store accepts it (validate_name; a store may add rules), else InvalidName."""
        return validate_name(name)

    def _new_spec(self, spec: CollectionSpec) -> CollectionSpec:
        """`spec` checked for `create` (name, dimension, threshold, not taken), created_at set."""
        name = self._validate_name(spec.name)
        if spec.dim < 1:
            raise StoreError(N_("The dimension of a collection must be positive."))
        if not 0.0 <= spec.threshold <= 1.0:
            raise StoreError(N_("The similarity threshold must be between 0 and 1, got {threshold}."),
                             threshold=spec.threshold)
        if self.exists(name):
            raise CollectionExists(N_(
                "A collection named {name} already exists. Pick it above to add documents, or "
                "choose another name (e.g. with a version suffix)."
            ), name=repr(name))
        return replace(spec, name=name, created_at=spec.created_at or time.strftime("%Y-%m-%d %H:%M:%S"))

    def _changed_spec(self, name: str, changes: Mapping[str, Any]) -> CollectionSpec:
        """The spec of `name` with `changes` for `update`; StoreError for what cannot change."""
        allowed = {"description", "threshold", "instruction_name", "instruction", "served_model", "threshold_source",
                   "threshold_note"}
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(N_("These settings cannot be changed: {names}."), names=", ".join(sorted(unknown)))
        if "threshold" in changes and not 0.0 <= float(changes["threshold"]) <= 1.0:
            raise StoreError(N_("The similarity threshold must be between 0 and 1."))
        return replace(self.spec(name), **changes)

    def check(self, name: str, model_id: str, dim: int) -> CollectionSpec:
        """The spec of `name` if (model_id, dim) may use it, else ModelMismatch."""
        spec = self.spec(name)
        problem = spec.mismatch(model_id, dim)
        if problem:
            raise ModelMismatch(problem.msgid, **problem.params)
        return spec

    @abc.abstractmethod
    def update(self, name: str, **changes: Any) -> CollectionSpec:
        """Change description, threshold or instruction (model and dimension cannot change)."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Delete the collection and its records; CollectionMissing if there is none."""

    @abc.abstractmethod
    def count(self, name: str) -> int: ...

    # content version ----------------------------------------------------------------------
    @abc.abstractmethod
    def content_version(self, name: str) -> str | None:
        """The collection's content version: equal tokens mean equal content. None for a
        collection no write of this app has versioned yet (made by an older version)."""

    @abc.abstractmethod
    def _set_content_version(self, name: str, version: str) -> None:
        """Store `version` with the collection, leaving its spec as it is."""

    def _touch(self, name: str) -> None:
        """Give `name` a new content version: called after every write, so it follows the records."""
        self._set_content_version(name, new_content_version())

    # records -----------------------------------------------------------------------------
    @abc.abstractmethod
    def get_records(
        self, name: str, ids: Sequence[str] | None = None, where: dict | None = None,
        include_embeddings: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored records as dicts {id, text, metadata[, embedding]}; ids that do not exist are
        left out; without `ids`, every record (matching `where`)."""

    def read_vectors(self, name: str, where: dict | None = None,
                     progress: WriteProgress | None = None) -> StoredVectors:
        """Every record (matching `where`) with its vector, the vectors as one float32 array;
        `progress(read, total)` after each page (total: the collection's count).

        This reads `get_records(include_embeddings=True)`; a store overrides it to skip the Python
        lists (100,000 x 1,024 floats as lists take gigabytes)."""
        records = self.get_records(name, where=where, include_embeddings=True)
        if progress:
            progress(len(records), len(records))
        dim = self.spec(name).dim
        vectors = np.asarray([r["embedding"] for r in records], dtype=np.float32).reshape(len(records), dim)
        return StoredVectors([r["id"] for r in records], [r["text"] or "" for r in records],
                             [r["metadata"] for r in records], vectors)

    @abc.abstractmethod
    def ids_where(self, name: str, where: dict) -> list[str]: ...

    @abc.abstractmethod
    def sources(self, name: str) -> list[str]:
        """Distinct `source` values of a collection, sorted."""

    def upsert(
        self, name: str, model_id: str, ids: Sequence[str], texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]], embeddings: np.ndarray, progress: WriteProgress | None = None,
    ) -> int:
        """Insert or replace whole records, in the batches `_write_batches` cuts; returns the count.

        Checks, the model guard, batching, progress and the partial-failure report are done here
        for every store; a store writes one batch in `_write`.

        Args:
            embeddings: float32 (len(ids), spec.dim), rows L2-normalised.
        Raises:
            ModelMismatch when model or dimension differ, or the StoreError of `_open_write` (e.g.
            a record too big for the store), before anything is written; PartialWrite when a batch
            fails after earlier ones were stored.
        """
        vectors = np.asarray(embeddings, dtype=np.float32)
        n = len(ids)
        if not (len(texts) == len(metadatas) == n) or vectors.ndim != 2 or vectors.shape[0] != n:
            raise ValueError("ids, texts, metadatas and embeddings must have the same length")
        if len(set(ids)) != n:
            raise StoreError(N_("The same id appears twice in one write; ids must be unique."))
        self.check(name, model_id, vectors.shape[1] if n else self.spec(name).dim)
        if n == 0:
            return 0
        target = self._open_write(name, ids, texts, metadatas)
        written: list[str] = []
        for start, stop in self._write_batches(texts, vectors):
            try:
                self._write(target, ids[start:stop], texts[start:stop], metadatas[start:stop], vectors[start:stop])
            except Exception as exc:  # noqa: BLE001 - any client/network failure is reported as partial
                self._touch(name)  # a failed batch may have landed in part
                raise PartialWrite(
                    N_("Writing to {name} failed after {stored} of {count} records were stored "
                       "({detail}). The stored records are intact; run the same "
                       "ingestion again to finish (stored chunks are skipped)."),
                    written,
                    n,
                    name=repr(name), stored=len(written), count=n, detail=self._detail(exc),
                ) from exc
            written.extend(ids[start:stop])
            # After each batch rather than once at the end: a writer killed mid-way leaves at most
            # one batch that readers elsewhere cannot see has changed the content.
            self._touch(name)
            if progress:
                progress(len(written), n)
        return n

    def _write_batches(self, texts: Sequence[str], vectors: np.ndarray) -> Iterator[tuple[int, int]]:
        """(start, stop) of each write request: at most `max_batch_size` records each."""
        step = self.max_batch_size
        for start in range(0, len(texts), step):
            yield start, min(start + step, len(texts))

    def _open_write(self, name: str, ids: Sequence[str], texts: Sequence[str],
                    metadatas: Sequence[Mapping[str, Any]]) -> Any:
        """What `_write` writes into, once the guard has passed; a StoreError here writes nothing."""
        return name

    @abc.abstractmethod
    def _write(self, target: Any, ids: Sequence[str], texts: Sequence[str],
               metadatas: Sequence[Mapping[str, Any]], vectors: np.ndarray) -> None:
        """Insert or replace one batch of whole records (vectors float32 (len(ids), dim))."""

    def _detail(self, exc: BaseException) -> str:
        """A failure of the client, shortened for a message."""
        return (str(exc) or type(exc).__name__)[:300]

    @abc.abstractmethod
    def delete_ids(self, name: str, ids: Sequence[str]) -> None: ...

    def settle(self, name: str) -> None:
        """Called once a run of writes is over (ingestion): make them searchable at full speed.
        Nothing to do for Chroma; Milvus Lite seals and indexes its growing segment."""
        return

    @abc.abstractmethod
    def search(
        self, name: str, model_id: str, vector: np.ndarray, k: int, where: dict | None = None
    ) -> list[Hit]:
        """The `k` nearest chunks to `vector` (shape (dim,)), best first, with cosine similarity."""

    def context(self, name: str, hit: Hit, chars: int = 400) -> Context:
        """The hit with up to `chars` characters of its document before and after it.

        Rebuilt from the neighbouring chunks (chunk index +-1 of the same source) using their
        character spans, so overlapping chunks are not shown twice.
        """
        meta = hit.metadata
        index, start, end = meta.get("chunk"), meta.get("start"), meta.get("end")
        if not isinstance(index, int) or not isinstance(start, int) or not isinstance(end, int):
            return Context("", hit.text, "")
        where = {"$and": [{"source": hit.source}, {"chunk": {"$in": [index - 1, index + 1]}}]}
        neighbours = {r["metadata"].get("chunk"): r for r in self.get_records(name, where=where)}
        before = after = ""
        prev = neighbours.get(index - 1)
        if prev is not None:
            p_start = int(prev["metadata"].get("start", start))
            before = prev["text"][: max(0, start - p_start)]
        nxt = neighbours.get(index + 1)
        if nxt is not None:
            n_start = int(nxt["metadata"].get("start", end))
            after = nxt["text"][max(0, end - n_start) :]
        return Context(before[-chars:], hit.text, after[:chars])

    # export ------------------------------------------------------------------------------
    def export_jsonl(self, name: str, include_embeddings: bool = False) -> list[str]:
        """One JSON line per record: {"id", "text", "metadata"[, "embedding"]}, sorted by
        source and chunk index."""
        records = self.get_records(name, include_embeddings=include_embeddings)
        records.sort(key=lambda r: (str(r["metadata"].get("source", "")), r["metadata"].get("chunk", 0), r["id"]))
        return [json.dumps(rec, ensure_ascii=False) + "\n" for rec in records]

    def close(self) -> None:
        """Let go of the connection (and of a Milvus Lite database this store started)."""
        return



def parse_export(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate records read from an export (e.g. by textio.read_jsonl); ValueError names the row."""
    out = []
    for i, row in enumerate(rows, start=1):
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RecordError(N_("Record {i} has no text."), i=i)
        meta = row.get("metadata") or {}
        if not isinstance(meta, dict):
            raise RecordError(N_("Record {i}: metadata must be an object."), i=i)
        bad = [k for k, v in meta.items() if not isinstance(v, str | int | float | bool)]
        if bad:
            raise RecordError(N_("Record {i}: metadata values must be text, numbers or true/false ({keys})."),
                              i=i, keys=", ".join(bad))
        rid = row.get("id")
        out.append({"id": str(rid) if rid not in (None, "") else None, "text": text, "metadata": dict(meta)})
    return out
