"""Per-domain Chroma collections with a model/dimension guard.

Every collection made here records, in its Chroma metadata, the embedding model and dimension
its vectors came from, the query instruction, a description and a similarity threshold. Writes
and queries with another model or dimension are refused before anything reaches Chroma, because
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
from typing import IO, Any

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


def model_name(model_id: str) -> str:
    """The model part of an embedder's model id ("Qwen/Qwen3-Embedding-0.6B@http://..." -> name).

    The guard compares names, not servers: the same model behind another URL gives the same vectors.
    """
    return model_id.split("@", 1)[0]


# -- collection settings ---------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is for and which model filled it (stored as the collection's metadata)."""

    name: str
    model_id: str
    dim: int
    instruction_name: str = ""  # "" = no instruction
    instruction: str = ""  # the task text at creation (the library entry may change later)
    description: str = ""
    threshold: float = DEFAULT_THRESHOLD
    created_at: str = ""

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
        if model_name(model_id) != model_name(self.model_id):
            return (
                f"Collection {self.name!r} was built with {model_name(self.model_id)!r} "
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
    """One search result; similarity = 1 - cosine distance."""

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
            raise StoreError(f"Cannot open the Chroma database at {directory}: {exc}") from None
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
    """Make every public method of `cls` raise StoreError only (Chroma raises bare ValueError,
    httpx and sqlite errors), so callers need to handle one error type. The message names the
    outermost operation (a search, not the spec look-up it made)."""

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
                raise _store_failure(action, exc) from exc
            finally:
                _CALLS.depth = depth
            return result

        return method

    for name, fn in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(fn):
            setattr(cls, name, wrap(name, fn))
    return cls


# -- the store -------------------------------------------------------------------------------
@_raising_store_errors
class Store:
    """The app's view of one Chroma client: collections with specs, guarded writes and queries."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._max_batch: int | None = None

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
        name = validate_name(spec.name)
        if spec.dim < 1:
            raise StoreError("The dimension of a collection must be positive.")
        if not 0.0 <= spec.threshold <= 1.0:
            raise StoreError(f"The similarity threshold must be between 0 and 1, got {spec.threshold}.")
        if self.exists(name):
            raise CollectionExists(
                f"A collection named {name!r} already exists. Pick it above to add documents, or "
                "choose another name (e.g. with a version suffix)."
            )
        spec = replace(spec, name=name, created_at=spec.created_at or time.strftime("%Y-%m-%d %H:%M:%S"))
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
        col = self._collection(name)
        spec = CollectionSpec.from_metadata(name, col.metadata)
        if spec is None:
            raise StoreError(
                f"Collection {name!r} was not created by this playground: it records no embedding "
                "model, so it is not safe to add to or query. Create a new collection here."
            )
        return spec

    def check(self, name: str, model_id: str, dim: int) -> CollectionSpec:
        """The spec of `name` if (model_id, dim) may use it, else ModelMismatch."""
        spec = self.spec(name)
        problem = spec.mismatch(model_id, dim)
        if problem:
            raise ModelMismatch(problem)
        return spec

    def update(self, name: str, **changes: Any) -> CollectionSpec:
        """Change description, threshold or instruction (model and dimension cannot change)."""
        allowed = {"description", "threshold", "instruction_name", "instruction"}
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(f"These settings cannot be changed: {', '.join(sorted(unknown))}.")
        if "threshold" in changes and not 0.0 <= float(changes["threshold"]) <= 1.0:
            raise StoreError("The similarity threshold must be between 0 and 1.")
        new = replace(self.spec(name), **changes)
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
