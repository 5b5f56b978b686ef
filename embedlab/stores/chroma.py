"""Chroma behind the VectorStore contract: an embedded directory (locked to one process) or a
`chroma run` server.

Facts about Chroma (1.5) this module relies on:
- cosine distance is chosen with `configuration={"hnsw": {"space": "cosine"}}` (the legacy
  `hnsw:space` metadata key still works but is deprecated); similarity = 1 - distance;
- `add` silently ignores ids that exist, so every write is an `upsert`;
- one request may carry at most `client.get_max_batch_size()` records;
- a collection without an embedding function would get Chroma's default one, which downloads a
  model: every collection here is opened with `embedding_function=None` and given vectors;
- PersistentClient is not process-safe: an embedded directory is locked for one process;
- `modify(metadata=...)` replaces the whole metadata mapping and refuses `hnsw:` keys in it.

The content version is the `content_version` key of the collection's metadata.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the one-process rule is then the user's job
    fcntl = None  # type: ignore[assignment]

import numpy as np

from embedlab.diskerrors import write_failure
from embedlab.messages import N_, Message
from embedlab.stores.base import (
    ACTIONS,
    VERSION_KEY,
    CollectionInfo,
    CollectionMissing,
    CollectionSpec,
    Hit,
    StoredVectors,
    StoreError,
    StoreLocked,
    VectorStore,
    WriteProgress,
    new_content_version,
    own_spec,
    raising_store_errors,
)

# -- the directory lock and the client --------------------------------------------------------
LOCK_FILE = "embedlab.lock"  # inside the Chroma directory; holds the PID of the process using it

# Resolved Chroma directory -> the open lock file, held for the life of the process. Re-opening a
# path in the same process (AppTest runs, st.cache_resource misses) must not lock against itself:
# flock locks taken through two open() calls conflict even inside one process.
_held_locks: dict[str, IO[str]] = {}
_locks_guard = threading.Lock()


def _unwritable(directory: Path, reason: Message) -> StoreError:
    """The refusal for an embedded Chroma directory that cannot be written (read-only, disk full)."""
    return StoreError(N_(
        "The embedded Chroma database at {directory} cannot be written: {reason}. Chroma writes to its "
        "directory even to read, so collections cannot be listed, created or changed here. Point "
        "CHROMA_PATH (or PLAYGROUND_DATA_DIR) at a writable directory, or serve the store with "
        "`chroma run --path <dir>` and set CHROMA_HOST. The other pages work without it."
    ), directory=str(directory), reason=reason)


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
            who = (Message(N_("Another app process (PID {pid})"), {"pid": holder}) if holder.isdigit()
                   else Message(N_("Another app process")))
            raise StoreLocked(N_(
                "{who} is using the embedded Chroma database at {directory}, and an embedded "
                "Chroma database cannot be shared between processes. To run several app instances "
                "on one database, stop that process, serve the database with `chroma run --path "
                "{directory} --port 8000` and set CHROMA_HOST=localhost and CHROMA_PORT=8000 for "
                "every instance; or give this instance its own CHROMA_PATH."
            ), who=who, directory=str(directory)) from None
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
            raise StoreError(N_(
                "Cannot reach the Chroma server at {host}:{port} ({detail}). Start one with "
                "`chroma run --path ./chroma --host {host} --port {port}`, or unset CHROMA_HOST "
                "to use the embedded store."
            ), host=host, port=port, detail=str(exc)) from None
    if not path:
        raise StoreError(N_("No Chroma path configured (CHROMA_PATH or PLAYGROUND_DATA_DIR)."))
    _lock_directory(Path(path).expanduser().resolve())
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001 - permissions, a corrupt database
        raise StoreError(N_("Cannot open the Chroma database at {path}: {detail}"), path=str(path),
                         detail=str(exc)) from None


def _chroma_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _store_failure(action: Message, exc: BaseException) -> StoreError:
    """A StoreError with a message a user can act on, for any failure of the Chroma client."""
    kind = type(exc).__name__
    detail = f"{kind}: {_chroma_message(exc)}"
    if any(word in kind for word in ("Connect", "Timeout", "Network", "Remote")):
        return StoreError(N_("The vector store did not answer while it was asked to {action} ({detail}). Is the "
                             "Chroma server running at the configured CHROMA_HOST and CHROMA_PORT?"),
                          action=action, detail=detail)
    return StoreError(N_("The vector store failed to {action} ({detail})."), action=action, detail=detail)


# -- the store -------------------------------------------------------------------------------
@raising_store_errors
class ChromaStore(VectorStore):
    """The VectorStore over one Chroma client (embedded or server)."""

    kind = "Chroma"

    def __init__(self, client: Any) -> None:
        self.client = client
        self._max_batch: int | None = None

    def _failure(self, action: Message, exc: BaseException) -> StoreError:
        return _store_failure(action, exc)

    @property
    def max_batch_size(self) -> int:
        if self._max_batch is None:
            try:
                self._max_batch = int(self.client.get_max_batch_size())
            except Exception as exc:  # noqa: BLE001 - as in raising_store_errors
                raise _store_failure(Message(ACTIONS["max_batch_size"]), exc) from exc
        return self._max_batch

    # collections -------------------------------------------------------------------------
    def _collection(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            # embedding_function=None: Chroma must never embed (its default downloads a model).
            return self.client.get_collection(name, embedding_function=None)
        except NotFoundError:
            raise CollectionMissing(N_("There is no collection {name} (was it deleted?)."), name=repr(name)) from None
        except ValueError as exc:  # older servers report a missing collection as ValueError
            if "does not exist" in str(exc):
                raise CollectionMissing(N_("There is no collection {name} (was it deleted?)."), name=repr(name)) from None
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
            metadata={**spec.to_metadata(), VERSION_KEY: new_content_version()},
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
        return own_spec(name, CollectionSpec.from_metadata(name, self._collection(name).metadata))

    def update(self, name: str, **changes: Any) -> CollectionSpec:
        """Change description, threshold or instruction (model and dimension cannot change)."""
        new = self._changed_spec(name, changes)
        # modify() replaces the whole metadata mapping, so the full spec is written back, with a
        # new content version: a write's version written meanwhile would be lost otherwise.
        self._collection(name).modify(metadata={**new.to_metadata(), VERSION_KEY: new_content_version()})
        return new

    def delete(self, name: str) -> None:
        from chromadb.errors import NotFoundError

        try:
            self.client.delete_collection(name)
        except (NotFoundError, ValueError):
            raise CollectionMissing(N_("There is no collection {name}."), name=repr(name)) from None

    def count(self, name: str) -> int:
        return self._collection(name).count()

    def content_version(self, name: str) -> str | None:
        version = (self._collection(name).metadata or {}).get(VERSION_KEY)
        return None if version is None else str(version)

    def _set_content_version(self, name: str, version: str) -> None:
        col = self._collection(name)
        meta = {k: v for k, v in (col.metadata or {}).items() if not k.startswith("hnsw:")}
        col.modify(metadata={**meta, VERSION_KEY: version})

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

    def read_vectors(self, name: str, where: dict | None = None,
                     progress: WriteProgress | None = None) -> StoredVectors:
        """Every record (matching `where`) with its vector; the pages' arrays are stacked as they
        come (no Python float per component)."""
        col = self._collection(name)
        total = col.count()
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        blocks: list[np.ndarray] = []
        for page in self._pages(col, where, ["documents", "metadatas", "embeddings"]):
            ids += page["ids"]
            texts += [doc or "" for doc in page["documents"]]
            metas += [dict(m or {}) for m in page["metadatas"]]
            blocks.append(np.asarray(page["embeddings"], dtype=np.float32))
            if progress:
                progress(len(ids), total)
        dim = blocks[0].shape[1] if blocks else self.spec(name).dim
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
        return StoredVectors(ids, texts, metas, vectors)

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

    def _open_write(self, name: str, ids: Sequence[str], texts: Sequence[str],
                    metadatas: Sequence[Mapping[str, Any]]) -> Any:
        return self._collection(name)

    def _write(self, target: Any, ids: Sequence[str], texts: Sequence[str],
               metadatas: Sequence[Mapping[str, Any]], vectors: np.ndarray) -> None:
        batch_ids = list(ids)
        metas = [dict(m) for m in metadatas]
        # Chroma merges metadata on upsert; keys the new record lacks are set to None,
        # which deletes them, so a record is replaced rather than blended with its old self.
        old = target.get(ids=batch_ids, include=["metadatas"])
        old_meta = dict(zip(old["ids"], old["metadatas"] or [], strict=False))
        for rid, meta in zip(batch_ids, metas, strict=True):
            for key in (old_meta.get(rid) or {}):
                meta.setdefault(key, None)
        target.upsert(ids=batch_ids, documents=list(texts), metadatas=metas, embeddings=vectors)

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        col = self._collection(name)
        step = self.max_batch_size
        try:
            for start in range(0, len(ids), step):
                col.delete(ids=list(ids[start : start + step]))
        finally:
            if len(ids):
                self._touch(name)

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
