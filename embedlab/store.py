"""Per-domain vector collections with a model/dimension guard: the store interface and Chroma.

`VectorStore` is the contract every page and ingestion use; `Store` implements it over a Chroma
client (embedded or server) and `embedlab.milvus_store.MilvusStore` over Milvus (Lite file,
standalone or cluster). `open_store(settings)` picks one from the configuration.

Every collection made here records, in its metadata, the embedding model and dimension
its vectors came from, the query instruction, a description and a similarity threshold. Writes
and queries with another model or dimension are refused before anything reaches the store, because
vectors from two models in one index give meaningless distances without any error.

Facts about Chroma (1.5) this module relies on:
- cosine distance is chosen with `configuration={"hnsw": {"space": "cosine"}}` (the legacy
  `hnsw:space` metadata key still works but is deprecated); similarity = 1 - distance;
- `add` silently ignores ids that exist, so every write is an `upsert`;
- one request may carry at most `client.get_max_batch_size()` records;
- a collection without an embedding function would get Chroma's default one, which downloads a
  model: every collection here is opened with `embedding_function=None` and given vectors.
"""

from __future__ import annotations

import abc
import functools
import inspect
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from embedlab.diskerrors import write_failure

if TYPE_CHECKING:
    from embedlab.config import Settings

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the one-process rule is then the user's job
    fcntl = None  # type: ignore[assignment]

import numpy as np

NAME_RULES = (
    "3 to 63 characters; letters, digits, '_', '-' or '.'; starting and ending with a letter or "
    "digit; no '..'; not an IP address"
)
APP_TAG = "embedlab"  # value of the "app" metadata key of collections made here
DEFAULT_THRESHOLD = 0.5

WriteProgress = Callable[[int, int], None]
"""Called as progress(written, total) after each batch."""


class StoreError(Exception):
    """Base of the store errors; str(error) is a message fit to show a user."""


class InvalidName(StoreError):
    """A collection name Chroma would refuse."""


class CollectionExists(StoreError):
    pass


class CollectionMissing(StoreError):
    pass


class StoreLocked(StoreError):
    """Another process has the embedded Chroma directory open."""


class ModelMismatch(StoreError):
    """The collection was built with another embedding model or dimension."""


class PartialWrite(StoreError):
    """A write failed after some batches were stored; `written_ids` were stored and are intact."""

    def __init__(self, message: str, written_ids: Sequence[str], total: int) -> None:
        super().__init__(message)
        self.written_ids = list(written_ids)
        self.total = total


# -- names -----------------------------------------------------------------------------------
def validate_name(name: str) -> str:
    """The stripped name if Chroma accepts it, else InvalidName saying what to change."""
    name = (name or "").strip()
    problems: list[str] = []
    if not name:
        raise InvalidName(f"Give the collection a name ({NAME_RULES}), e.g. hr_policy_v1.")
    if len(name) < 3 or len(name) > 63:
        problems.append(f"it has {len(name)} characters (3 to 63 allowed)")
    bad = sorted({ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch in "_-."))})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:8])
        problems.append(f"it contains {shown} (only letters a-z, digits, '_', '-' and '.' are allowed)")
    if not (name[0].isascii() and name[0].isalnum()) or not (name[-1].isascii() and name[-1].isalnum()):
        problems.append("it must start and end with a letter or digit")
    if ".." in name:
        problems.append("it contains '..'")
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", name):
        problems.append("it looks like an IP address")
    if problems:
        suggestion = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[:63]
        hint = f" Try {suggestion!r}." if len(suggestion) >= 3 and suggestion != name else ""
        raise InvalidName(f"Collection name {name!r} cannot be used: {'; '.join(problems)}.{hint}")
    return name


# An embedder's model id is "<model>@<server URL>" or "<model>@local"; model names may hold "@" too.
_MODEL_AT = re.compile(r"(.*?)@(?:local$|[A-Za-z][A-Za-z0-9+.-]*://)", re.DOTALL)


def model_name(model_id: str) -> str:
    """The model part of an embedder's model id ("Qwen/Qwen3-Embedding-0.6B@http://..." -> name);
    a bare name comes back as it is.

    The guard compares names, not servers: the same model behind another URL gives the same vectors.
    """
    found = _MODEL_AT.match(model_id)
    return found.group(1) if found else model_id


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_id", model_name(self.model_id))

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
        )

    def mismatch(self, model_id: str, dim: int) -> str | None:
        """Why vectors from (model_id, dim) cannot go into or query this collection; None if they can."""
        if model_name(model_id) != self.model_id:
            return (
                f"Collection {self.name!r} was built with {self.model_id!r} "
                f"({self.dim} dimensions), but the current model is {model_name(model_id)!r}. "
                "Vectors of different models cannot be compared: switch the model in the sidebar "
                "back, or create a new collection (e.g. with a _v2 suffix) and ingest again."
            )
        if int(dim) != self.dim:
            return (
                f"Collection {self.name!r} holds {self.dim}-dimensional vectors, but the current "
                f"setting gives {dim}. Set Dimensions to {self.dim} in the sidebar, or create a new "
                "collection for this size."
            )
        return None


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
class Context:
    """The matched chunk with the text around it in its document (from neighbouring chunks)."""

    before: str
    match: str
    after: str


# -- clients ---------------------------------------------------------------------------------
LOCK_FILE = "embedlab.lock"  # inside the Chroma directory; holds the PID of the process using it

# Resolved Chroma directory -> the open lock file, held for the life of the process. Re-opening a
# path in the same process (AppTest runs, st.cache_resource misses) must not lock against itself:
# flock locks taken through two open() calls conflict even inside one process.
_held_locks: dict[str, IO[str]] = {}
_locks_guard = threading.Lock()


def _lock_directory(directory: Path) -> None:
    """Take (once per process) an exclusive, non-blocking flock on `directory`/LOCK_FILE.

    Raises StoreLocked when another process holds it. The lock goes away with the process, even
    after kill -9, so a crashed app never leaves a stale lock behind.
    """
    key = str(directory)
    with _locks_guard:
        if fcntl is None or key in _held_locks:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            handle = open(directory / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        except OSError as exc:
            raise _unwritable(directory, write_failure(exc)) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            if holder == str(os.getpid()):
                # This process holds it through an earlier import of this module (Streamlit's
                # file watcher re-imports changed modules, with a fresh _held_locks).
                _held_locks[key] = handle
                return
            handle.close()
            who = f"Another app process (PID {holder})" if holder.isdigit() else "Another app process"
            raise StoreLocked(
                f"{who} is using the embedded Chroma database at {directory}, and an embedded "
                "Chroma database cannot be shared between processes. To run several app instances "
                f"on one database, stop that process, serve the database with `chroma run --path "
                f"{directory} --port 8000` and set CHROMA_HOST=localhost and CHROMA_PORT=8000 for "
                "every instance; or give this instance its own CHROMA_PATH."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held_locks[key] = handle


def open_client(path: str | None = None, host: str | None = None, port: int = 8000) -> Any:
    """A Chroma client: HttpClient when `host` is set, else an embedded PersistentClient at `path`.

    Chroma's PersistentClient is not process-safe: an embedded path is locked for this process
    (StoreLocked when another process has it; re-opening in this process is fine). Raises
    StoreError when a server does not answer or the database cannot be opened.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if host:
        try:
            return chromadb.HttpClient(host=host, port=int(port), settings=chroma_settings)
        except Exception as exc:  # noqa: BLE001 - chromadb raises bare ValueError/ConnectError
            raise StoreError(
                f"Cannot reach the Chroma server at {host}:{port} ({exc}). Start one with "
                f"`chroma run --path ./chroma --host {host} --port {port}`, or unset CHROMA_HOST "
                "to use the embedded store."
            ) from None
    if not path:
        raise StoreError("No Chroma path configured (CHROMA_PATH or PLAYGROUND_DATA_DIR).")
    _lock_directory(Path(path).expanduser().resolve())
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001 - permissions, a corrupt database
        raise StoreError(f"Cannot open the Chroma database at {path}: {exc}") from None


def _unwritable(directory: Path, reason: str) -> StoreError:
    """The refusal for an embedded Chroma directory that cannot be written (read-only, disk full)."""
    return StoreError(
        f"The embedded Chroma database at {directory} cannot be written: {reason}. Chroma writes to its "
        "directory even to read, so collections cannot be listed, created or changed here. Point "
        "CHROMA_PATH (or PLAYGROUND_DATA_DIR) at a writable directory, or serve the store with "
        "`chroma run --path <dir>` and set CHROMA_HOST. The other pages work without it."
    )


def _chroma_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _store_failure(action: str, exc: BaseException) -> StoreError:
    """A StoreError with a message a user can act on, for any failure of the Chroma client."""
    kind = type(exc).__name__
    if any(word in kind for word in ("Connect", "Timeout", "Network", "Remote")):
        return StoreError(f"The vector store did not answer while it was asked to {action} ({kind}: "
                          f"{_chroma_message(exc)}). Is the Chroma server running at the configured "
                          "CHROMA_HOST and CHROMA_PORT?")
    return StoreError(f"The vector store failed to {action} ({kind}: {_chroma_message(exc)}).")


_CALLS = threading.local()  # how deep in Store methods this thread is: the outermost one translates


def _raising_store_errors(cls: type) -> type:
    """Make every public method of `cls`, its own and those it inherits from VectorStore, raise
    StoreError only (Chroma raises bare ValueError, httpx and sqlite errors; pymilvus its
    MilvusException), so callers need to handle one error type. The message names the outermost
    operation (a search, not the spec look-up it made) and comes from the store's `_failure`."""

    def wrap(name: str, fn: Callable) -> Callable:
        action = name.replace("_", " ").replace("jsonl", "the collection")

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


def _own(name: str, spec: CollectionSpec | None) -> CollectionSpec:
    """`spec`, or the StoreError for a collection this app did not make (no model recorded)."""
    if spec is None:
        raise StoreError(
            f"Collection {name!r} was not created by this playground: it records no embedding "
            "model, so it is not safe to add to or query. Create a new collection here."
        )
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

    Every public method raises StoreError (or a subclass) only, with a message a user can act on:
    subclasses are decorated with `_raising_store_errors` and give the message in `_failure`.
    """

    kind: str = "vector store"  # "Chroma" or "Milvus", for messages and captions

    @property
    @abc.abstractmethod
    def max_batch_size(self) -> int:
        """The most records one write request carries."""

    def _failure(self, action: str, exc: BaseException) -> StoreError:
        """The StoreError for an unexpected failure of the client while asked to `action`."""
        return StoreError(f"The {self.kind} store failed to {action} ({type(exc).__name__}: {str(exc)[:300]}).")

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
            raise StoreError("The dimension of a collection must be positive.")
        if not 0.0 <= spec.threshold <= 1.0:
            raise StoreError(f"The similarity threshold must be between 0 and 1, got {spec.threshold}.")
        if self.exists(name):
            raise CollectionExists(
                f"A collection named {name!r} already exists. Pick it above to add documents, or "
                "choose another name (e.g. with a version suffix)."
            )
        return replace(spec, name=name, created_at=spec.created_at or time.strftime("%Y-%m-%d %H:%M:%S"))

    def _changed_spec(self, name: str, changes: Mapping[str, Any]) -> CollectionSpec:
        """The spec of `name` with `changes` for `update`; StoreError for what cannot change."""
        allowed = {"description", "threshold", "instruction_name", "instruction"}
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(f"These settings cannot be changed: {', '.join(sorted(unknown))}.")
        if "threshold" in changes and not 0.0 <= float(changes["threshold"]) <= 1.0:
            raise StoreError("The similarity threshold must be between 0 and 1.")
        return replace(self.spec(name), **changes)

    def check(self, name: str, model_id: str, dim: int) -> CollectionSpec:
        """The spec of `name` if (model_id, dim) may use it, else ModelMismatch."""
        spec = self.spec(name)
        problem = spec.mismatch(model_id, dim)
        if problem:
            raise ModelMismatch(problem)
        return spec

    @abc.abstractmethod
    def update(self, name: str, **changes: Any) -> CollectionSpec:
        """Change description, threshold or instruction (model and dimension cannot change)."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Delete the collection and its records; CollectionMissing if there is none."""

    @abc.abstractmethod
    def count(self, name: str) -> int: ...

    # records -----------------------------------------------------------------------------
    @abc.abstractmethod
    def get_records(
        self, name: str, ids: Sequence[str] | None = None, where: dict | None = None,
        include_embeddings: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored records as dicts {id, text, metadata[, embedding]}; ids that do not exist are
        left out; without `ids`, every record (matching `where`)."""

    @abc.abstractmethod
    def ids_where(self, name: str, where: dict) -> list[str]: ...

    @abc.abstractmethod
    def sources(self, name: str) -> list[str]:
        """Distinct `source` values of a collection, sorted."""

    @abc.abstractmethod
    def upsert(
        self, name: str, model_id: str, ids: Sequence[str], texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]], embeddings: np.ndarray, progress: WriteProgress | None = None,
    ) -> int:
        """Insert or replace whole records in batches of at most `max_batch_size`; returns the count.

        Args:
            embeddings: float32 (len(ids), spec.dim), rows L2-normalised.
        Raises:
            ModelMismatch before anything is written when model or dimension differ;
            PartialWrite when a batch fails after earlier ones were stored.
        """

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


# -- the store -------------------------------------------------------------------------------
@_raising_store_errors
class Store(VectorStore):
    """The VectorStore over one Chroma client: collections with specs, guarded writes and queries."""

    kind = "Chroma"

    def __init__(self, client: Any) -> None:
        self.client = client
        self._max_batch: int | None = None

    def _failure(self, action: str, exc: BaseException) -> StoreError:
        return _store_failure(action, exc)

    @property
    def max_batch_size(self) -> int:
        if self._max_batch is None:
            try:
                self._max_batch = int(self.client.get_max_batch_size())
            except Exception as exc:  # noqa: BLE001 - as in _raising_store_errors
                raise _store_failure("report its batch size", exc) from exc
        return self._max_batch

    # collections -------------------------------------------------------------------------
    def _collection(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            # embedding_function=None: Chroma must never embed (its default downloads a model).
            return self.client.get_collection(name, embedding_function=None)
        except NotFoundError:
            raise CollectionMissing(f"There is no collection {name!r} (was it deleted?).") from None
        except ValueError as exc:  # older servers report a missing collection as ValueError
            if "does not exist" in str(exc):
                raise CollectionMissing(f"There is no collection {name!r} (was it deleted?).") from None
            raise

    def exists(self, name: str) -> bool:
        return name in {c.name for c in self.client.list_collections()}

    def create(self, spec: CollectionSpec) -> CollectionSpec:
        """Create an empty cosine collection for `spec`; refuses a name that exists."""
        spec = self._new_spec(spec)
        name = spec.name
        self.client.create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=spec.to_metadata(),
            embedding_function=None,
        )
        return spec

    def list(self) -> list[CollectionInfo]:
        """Every collection, sorted by name, with its record count and spec (None if foreign)."""
        infos = []
        for col in self.client.list_collections():
            infos.append(CollectionInfo(col.name, col.count(), CollectionSpec.from_metadata(col.name, col.metadata)))
        return sorted(infos, key=lambda i: i.name)

    def spec(self, name: str) -> CollectionSpec:
        return _own(name, CollectionSpec.from_metadata(name, self._collection(name).metadata))

    def update(self, name: str, **changes: Any) -> CollectionSpec:
        """Change description, threshold or instruction (model and dimension cannot change)."""
        new = self._changed_spec(name, changes)
        # modify() replaces the whole metadata mapping, so the full spec is written back.
        self._collection(name).modify(metadata=new.to_metadata())
        return new

    def delete(self, name: str) -> None:
        from chromadb.errors import NotFoundError

        try:
            self.client.delete_collection(name)
        except (NotFoundError, ValueError):
            raise CollectionMissing(f"There is no collection {name!r}.") from None

    def count(self, name: str) -> int:
        return self._collection(name).count()

    # records -----------------------------------------------------------------------------
    def get_records(
        self, name: str, ids: Sequence[str] | None = None, where: dict | None = None,
        include_embeddings: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored records as dicts {id, text, metadata[, embedding]}, fetched in allowed batches.

        Ids that do not exist are left out. Without `ids`, every record (matching `where`).
        """
        col = self._collection(name)
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        out: list[dict[str, Any]] = []
        step = self.max_batch_size
        if ids is not None:
            pages: Iterable[dict] = (
                col.get(ids=list(ids[i : i + step]), where=where, include=include)
                for i in range(0, len(ids), step)
            )
        else:
            pages = self._pages(col, where, include)
        for page in pages:
            embeddings = page.get("embeddings") if include_embeddings else None
            for j, rid in enumerate(page["ids"]):
                rec = {"id": rid, "text": page["documents"][j], "metadata": dict(page["metadatas"][j] or {})}
                if embeddings is not None:
                    rec["embedding"] = [float(x) for x in embeddings[j]]
                out.append(rec)
        return out

    def _pages(self, col: Any, where: dict | None, include: list[str]) -> Iterator[dict]:
        offset = 0
        step = self.max_batch_size
        while True:
            page = col.get(where=where, include=include, limit=step, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])
            if len(page["ids"]) < step:
                return

    def ids_where(self, name: str, where: dict) -> list[str]:
        col = self._collection(name)
        return [rid for page in self._pages(col, where, []) for rid in page["ids"]]

    def sources(self, name: str) -> list[str]:
        """Distinct `source` values of a collection, sorted."""
        col = self._collection(name)
        found: set[str] = set()
        for page in self._pages(col, None, ["metadatas"]):
            found.update(str((m or {}).get("source", "")) for m in page["metadatas"])
        found.discard("")
        return sorted(found)

    def upsert(
        self,
        name: str,
        model_id: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        embeddings: np.ndarray,
        progress: WriteProgress | None = None,
    ) -> int:
        """Insert or replace records, in batches of at most `max_batch_size`; returns the count.

        Args:
            embeddings: float32 (len(ids), spec.dim), rows L2-normalised.
        Raises:
            ModelMismatch before anything is written when model or dimension differ;
            PartialWrite when a batch fails after earlier ones were stored.
        """
        vectors = np.asarray(embeddings, dtype=np.float32)
        n = len(ids)
        if not (len(texts) == len(metadatas) == n) or vectors.ndim != 2 or vectors.shape[0] != n:
            raise ValueError("ids, texts, metadatas and embeddings must have the same length")
        if len(set(ids)) != n:
            raise StoreError("The same id appears twice in one write; ids must be unique.")
        self.check(name, model_id, vectors.shape[1] if n else self.spec(name).dim)
        if n == 0:
            return 0
        col = self._collection(name)
        step = self.max_batch_size
        written: list[str] = []
        for start in range(0, n, step):
            stop = min(start + step, n)
            try:
                batch_ids = list(ids[start:stop])
                metas = [dict(m) for m in metadatas[start:stop]]
                # Chroma merges metadata on upsert; keys the new record lacks are set to None,
                # which deletes them, so a record is replaced rather than blended with its old self.
                old = col.get(ids=batch_ids, include=["metadatas"])
                old_meta = dict(zip(old["ids"], old["metadatas"] or [], strict=False))
                for rid, meta in zip(batch_ids, metas, strict=True):
                    for key in (old_meta.get(rid) or {}):
                        meta.setdefault(key, None)
                col.upsert(ids=batch_ids, documents=list(texts[start:stop]), metadatas=metas,
                           embeddings=vectors[start:stop])
            except Exception as exc:  # noqa: BLE001 - any Chroma/network failure is reported as partial
                raise PartialWrite(
                    f"Writing to {name!r} failed after {len(written)} of {n} records were stored "
                    f"({_chroma_message(exc)}). The stored records are intact; run the same "
                    "ingestion again to finish (stored chunks are skipped).",
                    written,
                    n,
                ) from exc
            written.extend(ids[start:stop])
            if progress:
                progress(len(written), n)
        return n

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        col = self._collection(name)
        step = self.max_batch_size
        for start in range(0, len(ids), step):
            col.delete(ids=list(ids[start : start + step]))

    def search(
        self, name: str, model_id: str, vector: np.ndarray, k: int, where: dict | None = None
    ) -> list[Hit]:
        """The `k` nearest chunks to `vector` (shape (dim,)), best first, with similarity."""
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check(name, model_id, vec.shape[0])
        col = self._collection(name)
        res = col.query(
            query_embeddings=vec[None, :],
            n_results=max(1, int(k)),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(rid, doc or "", dict(meta or {}), 1.0 - float(dist), rank)
            for rank, (rid, doc, meta, dist) in enumerate(
                zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True),
                start=1,
            )
        ]


def open_store(settings: Settings) -> VectorStore:
    """The vector store `settings` name: Milvus when MILVUS_URI is set (pymilvus is imported only
    then), else a Chroma server when CHROMA_HOST is set, else the embedded Chroma directory.

    Raises:
        StoreError: it cannot be opened (server down, credentials refused, directory locked).
    """
    if settings.milvus_uri:
        from embedlab.milvus_store import open_milvus

        return open_milvus(settings.milvus_uri, settings.milvus_token)
    if settings.chroma_host:
        return Store(open_client(host=settings.chroma_host, port=settings.chroma_port))
    return Store(open_client(path=str(settings.chroma_dir)))


def parse_export(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate records read from an export (e.g. by textio.read_jsonl); ValueError names the row."""
    out = []
    for i, row in enumerate(rows, start=1):
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Record {i} has no text.")
        meta = row.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"Record {i}: metadata must be an object.")
        bad = [k for k, v in meta.items() if not isinstance(v, str | int | float | bool)]
        if bad:
            raise ValueError(f"Record {i}: metadata values must be text, numbers or true/false ({', '.join(bad)}).")
        rid = row.get("id")
        out.append({"id": str(rid) if rid not in (None, "") else None, "text": text, "metadata": dict(meta)})
    return out
