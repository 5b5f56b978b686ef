"""Milvus collections behind the VectorStore contract: a Milvus Lite file, standalone or cluster.

Only `open_milvus` imports pymilvus, so the app loads it when MILVUS_URI is set and never otherwise.

A collection made here has these fields:
- `id` VARCHAR(512 bytes), the primary key (a string key needs a max_length);
- `vector` FLOAT_VECTOR(dim) with a COSINE index, so a hit's score is its cosine similarity, the
  number Chroma's store shows as 1 - cosine distance;
- `text` VARCHAR(65,535 bytes, Milvus's largest);
- `source` VARCHAR(2,048 bytes) and `chunk` INT64: copies of metadata["source"] and
  metadata["chunk"] ("" and -1 when absent), the keys the app filters on, as plain fields
  because Milvus Lite filters `in [...]` on fields only, not on JSON paths;
- `metadata` JSON: the record's whole metadata, returned as written.

The CollectionSpec is a JSON string in the collection property "embedlab.spec", the content
version a string in "embedlab.content_version" (altered alone, so a spec change and a write never
overwrite each other). Properties are kept
by Milvus Lite and by servers, come back from describe_collection and change with
alter_collection_properties; the schema's description cannot change after creation, and a registry
collection would need a vector field of its own and a second write that can fail on its own.

Facts about Milvus (2.4+ servers, milvus-lite 3.2, pymilvus 3.0) this module relies on:
- a collection must be loaded before search or query, and is released after a restart: each is
  loaded on first use by a store (and `load_collection` on a loaded one is harmless);
- consistency "Strong", so a read sees the writes before it (ingestion's skip-unchanged check);
- query offset + limit is capped at 16,384 rows: whole collections are read with query_iterator;
- Milvus Lite runs inside this process (a gRPC server thread per .db directory, stopped by
  `close`) and locks its directory, so one process per database;
- Milvus Lite searches its growing segment by brute force (10,000 x 384: about 370 ms a query
  against about 6 ms once flushed and indexed; bench/store_speed.py --milvus): `settle` flushes it
  after an ingestion, and a search flushes first when many rows are still unsealed. A server seals
  and indexes growing segments itself and rate-limits flush, so nothing is flushed there;
- filter strings are literals in double quotes with \\ \" \n \r \t escapes (Milvus's grammar;
  milvus-lite accepts exactly these).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from embedlab.config import ENV_LOCK, hide_url_secrets, is_milvus_lite, public_url
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

# Names, filters and rows are pure and live in milvus_fields; their names stay importable from here.
from embedlab.stores.milvus_fields import FILTER_FIELDS as FILTER_FIELDS
from embedlab.stores.milvus_fields import (
    ID_BYTES,
    SOURCE_BYTES,
    TEXT_BYTES,
    ids_filter,
    milvus_filter,
    milvus_row,
    too_big,
    validate_milvus_name,
)
from embedlab.stores.milvus_fields import quote as quote

SPEC_PROPERTY = "embedlab.spec"
VERSION_PROPERTY = f"embedlab.{VERSION_KEY}"  # the content version (see stores.base)
WRITE_ROWS = 1_000  # records per upsert request
WRITE_BYTES = 16 * 1024 * 1024  # and at most this much payload: gRPC refuses messages over 64 MB
READ_ROWS = 1_000  # ids per get request, rows per iterator page
MAX_TOP_K = 16_384  # Milvus's limit on k
SETTLE_ROWS = 2_000  # unsealed rows in Milvus Lite that make a search flush first
CONNECT_TIMEOUT_S = 10.0


# -- errors ------------------------------------------------------------------------------------
def database_name(uri: str, local: bool) -> Message:
    """The database in messages, without credentials: "Milvus Lite at x.db", "Milvus at http://h:19530"."""
    if local:
        return Message(N_("Milvus Lite at {uri}"), {"uri": uri})
    return Message(N_("Milvus at {uri}"), {"uri": public_url(uri)})


def _detail(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    return f"{type(exc).__name__}{f' {code}' if code not in (None, '') else ''}: {message[:300]}"


def milvus_failure(where: Message, local: bool, action: Message, exc: BaseException,
                   uri: str | None = None) -> StoreError:
    """A StoreError a user can act on for any failure of pymilvus while asked to `action`.

    Args:
        where: the database, without credentials ("Milvus at http://h:19530", "Milvus Lite at x.db").
        local: it is a Milvus Lite database in this process.
        uri: MILVUS_URI, whose credentials are taken out of pymilvus's message if it quotes them.
    """
    detail = hide_url_secrets(_detail(exc), uri)
    text = detail.lower()
    if any(w in text for w in ("fail connecting", "unavailable", "deadline", "connection refused",
                               "connect failed", "timeout", "channel")):
        if local:
            return StoreError(N_("{where} stopped answering while it was asked to {action} ({detail}). "
                                 "Restart the app; if it happens again, check the disk and the app's log."),
                              where=where, action=action, detail=detail)
        return StoreError(N_("{where} did not answer while it was asked to {action} ({detail}). Is the "
                             "Milvus server running and MILVUS_URI right? Start one with `docker compose up -d` "
                             "(see the README), or unset MILVUS_URI to use Chroma."),
                          where=where, action=action, detail=detail)
    if any(w in text for w in ("auth", "password", "token", "unauthenticated", "credential")):
        return StoreError(N_("{where} refused the credentials while it was asked to {action} ({detail}). "
                             "Set MILVUS_TOKEN to 'user:password' (or an API key) of a Milvus user."),
                          where=where, action=action, detail=detail)
    if any(w in text for w in ("privilege", "permission", "denied")):
        return StoreError(N_("{where} does not allow this user to {action} ({detail}). Grant the user the "
                             "privilege in Milvus, or use another MILVUS_TOKEN."),
                          where=where, action=action, detail=detail)
    if any(w in text for w in ("rate limit", "quota", "limit exceeded", "memory")):
        return StoreError(N_("{where} refused to {action} for lack of capacity ({detail}). Try again in a "
                             "moment, or ask the Milvus operator to raise the limit."),
                          where=where, action=action, detail=detail)
    return StoreError(N_("{where} failed to {action} ({detail})."), where=where, action=action, detail=detail)


def _is_missing(exc: BaseException) -> bool:
    text = _detail(exc).lower()
    return "not found" in text or "not exist" in text or "can't find" in text


# -- the store ---------------------------------------------------------------------------------
@raising_store_errors
class MilvusStore(VectorStore):
    """The VectorStore over one pymilvus MilvusClient (thread-safe: shared by every session)."""

    kind = "Milvus"

    def __init__(self, client: Any, uri: str, local_path: str | None = None) -> None:
        """`client` is connected to `uri`; `local_path` is the Milvus Lite directory this process
        serves (None for a server)."""
        self.client = client
        self.uri = uri
        self.local_path = local_path
        self.where = database_name(uri, local_path is not None)
        self._loaded: set[str] = set()
        self._unsealed: dict[str, int] = {}  # Milvus Lite: rows written since the last flush
        self._lock = threading.Lock()

    @property
    def max_batch_size(self) -> int:
        return WRITE_ROWS

    def _failure(self, action: Message, exc: BaseException) -> StoreError:
        return milvus_failure(self.where, self.local_path is not None, action, exc, self.uri)

    def _validate_name(self, name: str) -> str:
        return validate_milvus_name(name)

    def _load(self, name: str) -> None:
        """Load `name` once per store: after a restart Milvus has it released and refuses reads."""
        if name in self._loaded:
            return
        try:
            self.client.load_collection(name)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises MilvusException
            if _is_missing(exc):
                raise CollectionMissing(N_("There is no collection {name} (was it deleted?)."), name=repr(name)) from None
            raise
        with self._lock:
            self._loaded.add(name)

    # collections -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return bool(self.client.has_collection(name))

    def create(self, spec: CollectionSpec) -> CollectionSpec:
        """Create an empty collection (fields in the module docstring) with a COSINE index."""
        from pymilvus import DataType

        spec = self._new_spec(spec)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=spec.dim)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_BYTES)
        schema.add_field("chunk", DataType.INT64)
        schema.add_field("metadata", DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        self.client.create_collection(
            spec.name, schema=schema, index_params=index, consistency_level="Strong",
            properties={SPEC_PROPERTY: json.dumps(spec.to_metadata(), ensure_ascii=False),
                        VERSION_PROPERTY: new_content_version()},
        )
        self._load(spec.name)
        return spec

    def _describe(self, name: str) -> dict[str, Any]:
        try:
            return self.client.describe_collection(name)
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                raise CollectionMissing(N_("There is no collection {name} (was it deleted?)."), name=repr(name)) from None
            raise

    @staticmethod
    def _spec_of(name: str, described: Mapping[str, Any]) -> CollectionSpec | None:
        raw = (described.get("properties") or {}).get(SPEC_PROPERTY)
        try:
            return CollectionSpec.from_metadata(name, json.loads(raw)) if raw else None
        except (ValueError, TypeError):
            return None

    def list(self) -> list[CollectionInfo]:
        """Every collection, sorted by name. The playground's own are loaded and counted exactly;
        others (a shared cluster's) are counted from statistics without loading them."""
        infos = []
        for name in self.client.list_collections():
            spec = self._spec_of(name, self._describe(name))
            count = self.count(name) if spec else int(self.client.get_collection_stats(name).get("row_count", 0))
            infos.append(CollectionInfo(name, count, spec))
        return sorted(infos, key=lambda i: i.name)

    def spec(self, name: str) -> CollectionSpec:
        return own_spec(name, self._spec_of(name, self._describe(name)))

    def update(self, name: str, **changes: Any) -> CollectionSpec:
        new = self._changed_spec(name, changes)
        self.client.alter_collection_properties(
            name, properties={SPEC_PROPERTY: json.dumps(new.to_metadata(), ensure_ascii=False)})
        return new

    def delete(self, name: str) -> None:
        if not self.exists(name):
            raise CollectionMissing(N_("There is no collection {name}."), name=repr(name))
        self.client.drop_collection(name)
        with self._lock:
            self._loaded.discard(name)
            self._unsealed.pop(name, None)

    def content_version(self, name: str) -> str | None:
        version = (self._describe(name).get("properties") or {}).get(VERSION_PROPERTY)
        return None if version is None else str(version)

    def _set_content_version(self, name: str, version: str) -> None:
        self.client.alter_collection_properties(name, properties={VERSION_PROPERTY: version})

    def count(self, name: str) -> int:
        self._load(name)
        [row] = self.client.query(name, filter="", output_fields=["count(*)"])
        return int(row["count(*)"])

    # records -----------------------------------------------------------------------------
    def _iterate(self, name: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching `expr`, page by page (query alone stops at 16,384 rows)."""
        pages = self.client.query_iterator(name, batch_size=READ_ROWS, filter=expr, output_fields=fields)
        try:
            while page := pages.next():
                yield from page
        finally:
            pages.close()

    def get_records(
        self, name: str, ids: Sequence[str] | None = None, where: dict | None = None,
        include_embeddings: bool = False,
    ) -> list[dict[str, Any]]:
        self.spec(name)  # a collection made elsewhere has other fields: refuse it by name
        self._load(name)
        fields = ["id", "text", "metadata"] + (["vector"] if include_embeddings else [])
        expr = milvus_filter(where)
        if ids is not None:
            rows: list[dict[str, Any]] = []
            for start in range(0, len(ids), READ_ROWS):
                batch = list(ids[start : start + READ_ROWS])
                wanted = ids_filter(batch) + (f" and ({expr})" if expr else "")
                rows.extend(self.client.query(name, filter=wanted, output_fields=fields, limit=len(batch)))
        else:
            rows = list(self._iterate(name, expr, fields))
        out = []
        for row in rows:
            rec = {"id": row["id"], "text": row["text"], "metadata": dict(row.get("metadata") or {})}
            if include_embeddings:
                rec["embedding"] = [float(x) for x in row["vector"]]
            out.append(rec)
        return out

    def read_vectors(self, name: str, where: dict | None = None,
                     progress: WriteProgress | None = None) -> StoredVectors:
        """Every record (matching `where`) with its vector, page by page into one float32 array."""
        dim = self.spec(name).dim
        total = self.count(name)
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        vectors = np.empty((total, dim), dtype=np.float32)
        for row in self._iterate(name, milvus_filter(where), ["id", "text", "metadata", "vector"]):
            if len(ids) == len(vectors):  # rows written since the count
                vectors = np.concatenate([vectors, np.empty((READ_ROWS, dim), np.float32)])
            vectors[len(ids)] = row["vector"]
            ids.append(row["id"])
            texts.append(row["text"] or "")
            metas.append(dict(row.get("metadata") or {}))
            if progress and len(ids) % READ_ROWS == 0:
                progress(len(ids), total)
        if progress:
            progress(len(ids), total)
        return StoredVectors(ids, texts, metas, vectors[: len(ids)])

    def ids_where(self, name: str, where: dict) -> list[str]:
        self._load(name)
        return [row["id"] for row in self._iterate(name, milvus_filter(where), ["id"])]

    def sources(self, name: str) -> list[str]:
        self._load(name)
        found = {str(row.get("source", "")) for row in self._iterate(name, "", ["source"])}
        found.discard("")
        return sorted(found)

    def _write_batches(self, texts: Sequence[str], vectors: np.ndarray) -> Iterator[tuple[int, int]]:
        """At most WRITE_ROWS records and about WRITE_BYTES of payload per request."""
        n, start = len(texts), 0
        while start < n:
            stop, size = start, 0
            while stop < n and stop - start < WRITE_ROWS and (stop == start or size < WRITE_BYTES):
                size += vectors.shape[1] * 4 + len(texts[stop].encode()) + 256
                stop += 1
            yield start, stop
            start = stop

    def _open_write(self, name: str, ids: Sequence[str], texts: Sequence[str],
                    metadatas: Sequence[Mapping[str, Any]]) -> Any:
        """StoreError for a record too big for Milvus's fields, before anything is written."""
        problem = too_big(ids, texts, metadatas)
        if problem:
            raise StoreError(N_("Nothing was written to {name}: {problem}"), name=repr(name), problem=problem)
        self._load(name)
        return name

    def _write(self, target: Any, ids: Sequence[str], texts: Sequence[str],
               metadatas: Sequence[Mapping[str, Any]], vectors: np.ndarray) -> None:
        # A Milvus upsert replaces the whole row.
        self.client.upsert(target, [milvus_row(ids[i], texts[i], metadatas[i], vectors[i]) for i in range(len(ids))])
        self._note_unsealed(target, len(ids))

    def _detail(self, exc: BaseException) -> str:
        return _detail(exc)

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        self._load(name)
        try:
            for start in range(0, len(ids), READ_ROWS):
                batch = list(ids[start : start + READ_ROWS])
                self.client.delete(name, filter=ids_filter(batch))
                self._note_unsealed(name, len(batch))
        finally:
            if len(ids):
                self._touch(name)

    def _note_unsealed(self, name: str, rows: int) -> None:
        if self.local_path:
            with self._lock:
                self._unsealed[name] = self._unsealed.get(name, 0) + rows

    def settle(self, name: str) -> None:
        """Milvus Lite: flush what was written since the last flush, so that the rows leave the
        brute-force growing segment for an indexed sealed one. Servers: nothing."""
        with self._lock:
            pending = self._unsealed.pop(name, 0)
        if pending:
            self.client.flush(name)

    def search(
        self, name: str, model_id: str, vector: np.ndarray, k: int, where: dict | None = None
    ) -> list[Hit]:
        """The `k` nearest chunks to `vector` (shape (dim,)), best first; similarity = COSINE score."""
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check(name, model_id, vec.shape[0])
        expr = milvus_filter(where)
        self._load(name)
        if self._unsealed.get(name, 0) >= SETTLE_ROWS:  # writes that no ingestion settled
            self.settle(name)
        [found] = self.client.search(
            name, data=[vec.tolist()], limit=min(max(1, int(k)), MAX_TOP_K), filter=expr,
            output_fields=["text", "metadata"], search_params={"metric_type": "COSINE"},
        )
        return [
            Hit(str(h["id"]), h["entity"].get("text") or "", dict(h["entity"].get("metadata") or {}),
                float(h["distance"]), rank)
            for rank, h in enumerate(found, start=1)
        ]

    def close(self) -> None:
        """Close the client; for Milvus Lite also stop its server thread and unlock the directory
        (for every store of this process on that file)."""
        try:
            self.client.close()
        finally:
            if self.local_path:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.local_path)


# -- opening -------------------------------------------------------------------------------------
def _locked_elsewhere(directory: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on `directory`."""
    try:
        import fcntl
    except ImportError:  # Windows: cannot tell
        return False
    lock = directory / "LOCK"
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _import_client() -> type:
    """pymilvus's MilvusClient class. pymilvus itself reads MILVUS_URI when it is first imported
    and fails on anything but a server URL, so a Milvus Lite path is hidden from it meanwhile (a
    one-off, about a second, at the first open in a process). Settings are not read meanwhile
    (config.ENV_LOCK), so no other session sees the environment without it."""
    with ENV_LOCK:
        hidden = os.environ.get("MILVUS_URI")
        if hidden is not None and not urlsplit(hidden).netloc:
            del os.environ["MILVUS_URI"]
        else:
            hidden = None
        try:
            from pymilvus import MilvusClient
        finally:
            if hidden is not None:
                os.environ["MILVUS_URI"] = hidden
    return MilvusClient


def _quiet_lite_iterator(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("failed to get mvccTs")


def open_milvus(uri: str, token: str | None = None, timeout_s: float = CONNECT_TIMEOUT_S) -> MilvusStore:
    """A MilvusStore for `uri`: a server URL (http://host:19530, with `token` "user:password" or
    an API key) or a Milvus Lite path ending in .db (a directory, created if missing, served by a
    thread of this process until `close`).

    Raises:
        StoreLocked: another process has the Milvus Lite database open.
        StoreError: the server does not answer or refuses the credentials; the path is unusable.
    """
    try:
        MilvusClient = _import_client()
    except ImportError:
        raise StoreError(N_("MILVUS_URI is set but pymilvus is not installed: `pip install pymilvus milvus-lite` "
                            "(both are in requirements.txt), or unset MILVUS_URI to use Chroma.")) from None
    local = is_milvus_lite(uri)
    where = database_name(uri, local)
    path: Path | None = None
    if local:
        path = Path(uri).expanduser().resolve()
        if path.is_file():
            raise StoreError(N_("{uri} is a file, not a Milvus Lite directory (a database of an older Milvus "
                                "Lite?). Point MILVUS_URI at a new path ending in .db."), uri=uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(N_("Cannot create the folder of the Milvus Lite database {uri}: {detail}"),
                             uri=uri, detail=str(exc)) from None
        # Milvus Lite does not report the snapshot time query_iterator asks for; pymilvus then
        # warns on every page and uses its own clock, which is right for an in-process database.
        logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_quiet_lite_iterator)
    try:
        client = MilvusClient(uri=str(path) if path else uri, token=token or "", timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - pymilvus raises MilvusException subclasses
        if path is not None and _locked_elsewhere(path):
            raise StoreLocked(N_(
                "Another app process is using the Milvus Lite database at {uri}, and Milvus Lite serves "
                "one process only. To share collections between app instances, run a Milvus server "
                "(see the README: `docker compose up -d`) and set MILVUS_URI=http://host:19530 for every "
                "instance; or give this instance its own MILVUS_URI file."
            ), uri=uri) from None
        if path is not None:
            raise StoreError(N_("Cannot open the Milvus Lite database at {uri} ({detail}). Check that "
                                "the folder is writable, or point MILVUS_URI at another path."),
                             uri=uri, detail=_detail(exc)) from None
        raise milvus_failure(where, False, Message(ACTIONS["connect"]), exc, uri) from None
    return MilvusStore(client, uri, str(path) if path else None)
