"""On-disk embedding cache (SQLite) and the embedder wrapper that uses it.

Keys are (model id, dimensions, exact input string after instruction formatting); values are
float32 blobs. The cache is the source of truth across restarts and sessions: a text is sent to
the model at most once per (model, dimensions). A cache that cannot be written (read-only data
directory, disk full) never fails an embedding: it runs in memory, or skips the write.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedlab.backends import Embedder, InputRejected, ProgressCallback, check_texts, clean_text
from embedlab.diskerrors import write_failure
from embedlab.messages import N_, LocalizedError, Message

log = logging.getLogger(__name__)

_SQLITE_MAX_VARS = 900  # stay well under SQLite's bound-parameter limit


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class CacheError(LocalizedError):
    """A cache operation failed; the message is written for users."""


def _connect(path: Path | None) -> sqlite3.Connection:
    """A connection to the cache database at `path` (None: in memory), its table created."""
    if path is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite creates its -wal and -shm files next to the database; this names the reason
        # (read-only, not permitted, disk full) when the directory cannot take them.
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    try:
        if path is not None:
            conn.execute("PRAGMA journal_mode=WAL")  # readers in other processes never block
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " model TEXT NOT NULL, dims INTEGER NOT NULL, text_key BLOB NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, dims, text_key)) WITHOUT ROWID"
        )
        conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


class EmbeddingCache:
    """Thread-safe SQLite store of embeddings; counts hits and misses since it was opened.

    A cache problem never costs a caller its vectors. When the file cannot be opened for writing
    (a read-only data directory) the cache lives in memory until the process ends (`on_disk` is
    False, `open_error` says why). A write that fails (disk full) is rolled back, so what the
    cache held stays intact; the vectors it carried are counted in `unsaved` and `write_error`
    says why.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.unsaved = 0
        self.write_error: Message | None = None  # why the last write failed, e.g. "the disk is full"
        self.open_error: Message | None = None
        try:
            self._conn = _connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            log.warning("embedding cache %s unusable, kept in memory: %s", self.path, exc)
            self.open_error = write_failure(exc)
            self._conn = _connect(None)

    @property
    def on_disk(self) -> bool:
        """False when the cache runs in memory because its file cannot be used."""
        return self.open_error is None

    def get_many(self, model: str, dims: int | None, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the given texts, as {text: float32 (d,)}; absent texts are misses."""
        keys = {_text_key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        key_list = list(keys)
        with self._lock:
            for start in range(0, len(key_list), _SQLITE_MAX_VARS):
                part = key_list[start : start + _SQLITE_MAX_VARS]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT text_key, vector FROM embeddings WHERE model=? AND dims=? "
                    f"AND text_key IN ({marks})",
                    (model, dims or 0, *part),
                ).fetchall()
                for key, blob in rows:
                    found[keys[key]] = np.frombuffer(blob, dtype=np.float32)
            self.hits += len(found)
            self.misses += len(keys) - len(found)
        return found

    def put_many(self, model: str, dims: int | None, texts: Sequence[str], vectors: np.ndarray) -> bool:
        """Store rows of `vectors` (shape (len(texts), d)) under their texts, in one transaction.

        Returns False when the write failed (see `unsaved`); nothing of it was stored then.
        """
        if len(texts) != len(vectors):
            raise ValueError("texts and vectors differ in length")
        rows = [
            (model, dims or 0, _text_key(t), np.asarray(v, dtype=np.float32).tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        try:
            with self._lock, self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:  # disk full, read-only, I/O error: rolled back
            log.warning("embedding cache %s: %d vectors not saved: %s", self.path, len(rows), exc)
            with self._lock:
                self.unsaved += len(rows)
                self.write_error = write_failure(exc)
            return False
        return True

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def size_bytes(self) -> int:
        """Bytes on disk (the database and its WAL files); 0 for a cache in memory."""
        if not self.on_disk:
            return 0
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())

    def clear(self) -> None:
        """Delete every cached vector and reset the counters.

        Raises:
            CacheError: the deletion could not be written (nothing was deleted then).
        """
        try:
            with self._lock, self._conn:
                self._conn.execute("DELETE FROM embeddings")
        except sqlite3.OperationalError as exc:
            raise CacheError(N_("The embedding cache could not be cleared: {reason}."),
                             reason=write_failure(exc)) from None
        with self._lock:
            # Compaction only: the vectors are gone even when there is no room to rewrite the file.
            with contextlib.suppress(sqlite3.OperationalError):
                self._conn.execute("VACUUM")
            self.hits = 0
            self.misses = 0
            self.unsaved = 0
            self.write_error = None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class CachedEmbedder:
    """An Embedder that answers from the cache and sends only new, deduplicated texts.

    One instance is shared by every session using the same settings, so texts being embedded
    for one caller are not sent again by another: later callers wait for them instead.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache, wait_s: float = 300.0) -> None:
        self.inner = inner
        self.cache = cache
        self.wait_s = wait_s  # how long to wait for another caller's in-flight texts
        self._inflight: dict[str, threading.Event] = {}
        self._inflight_lock = threading.Lock()
        # The served model the connection test learnt (/v1/models, its answer's "model"), for when
        # every text so far came from the cache and no answer of this embedder named it.
        self.served_fallback: str | None = None

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def served_model(self) -> str | None:
        """The model the server says answered (its latest answer's "model" field), else what the
        connection test learnt; None when the server never named it. The server's own text: show it
        literally."""
        return getattr(self.inner, "served_model", None) or self.served_fallback

    @property
    def dimensions(self) -> int | None:
        return getattr(self.inner, "dimensions", None)

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed texts; see Embedder. Returns float32 (len(texts), dim), rows L2-normalised."""
        texts = [clean_text(t) for t in texts]
        check_texts(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        found = self.cache.get_many(self.model_id, self.dimensions, unique)
        missing = [t for t in unique if t not in found]
        total = len(unique)
        if progress:
            progress(total - len(missing), total)
        mine, theirs = self._claim(missing)
        try:
            if mine:
                offset = total - len(missing)
                inner_progress = (lambda done, _n: progress(offset + done, total)) if progress else None
                found.update(self._embed_and_store(mine, texts, inner_progress))
        finally:
            self._release(mine)
        if theirs:
            for event in theirs.values():
                event.wait(self.wait_s)
            late = self.cache.get_many(self.model_id, self.dimensions, list(theirs))
            found.update(late)
            # The other caller failed on these: embed them here.
            retry = [t for t in theirs if t not in late]
            if retry:
                found.update(self._embed_and_store(retry, texts, None))
            if progress:
                progress(total, total)
        dims = {found[t].shape[0] for t in unique}
        if len(dims) != 1:
            raise ValueError(f"cached vectors disagree in dimension: {sorted(dims)}")
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def _claim(self, missing: list[str]) -> tuple[list[str], dict[str, threading.Event]]:
        """Split missing texts into those this call embeds and those already in flight."""
        mine: list[str] = []
        theirs: dict[str, threading.Event] = {}
        with self._inflight_lock:
            for text in missing:
                event = self._inflight.get(text)
                if event is None:
                    self._inflight[text] = threading.Event()
                    mine.append(text)
                else:
                    theirs[text] = event
        return mine, theirs

    def _release(self, mine: list[str]) -> None:
        with self._inflight_lock:
            for text in mine:
                self._inflight.pop(text).set()

    def _embed_and_store(
        self, batch: list[str], texts: list[str], progress: ProgressCallback | None
    ) -> dict[str, np.ndarray]:
        """Embed `batch` (unique, uncached), store it, return {text: vector}."""
        try:
            vectors = self.inner.embed(batch, progress=progress)
        except InputRejected as exc:
            # Keep what the server accepted, then report the rejected texts by the
            # caller's positions (every position of a duplicated text).
            if exc.partial:
                kept = sorted(exc.partial)
                self.cache.put_many(
                    self.model_id, self.dimensions, [batch[i] for i in kept],
                    np.stack([exc.partial[i] for i in kept]),
                )
            bad = {batch[i] for i in exc.indices}
            exc.indices = [i for i, t in enumerate(texts) if t in bad]
            exc.partial = {}
            raise
        self.cache.put_many(self.model_id, self.dimensions, batch, vectors)
        return dict(zip(batch, vectors, strict=True))
