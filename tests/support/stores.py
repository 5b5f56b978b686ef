"""The three real stores the store contract tests run on: embedded Chroma, a Chroma server and
Milvus Lite (in this process, stopped by `close_milvus_lite`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedlab.stores.base import VectorStore
from embedlab.stores.chroma import ChromaStore, open_client
from tests.support import procs
from tests.support.chroma_server import start_chroma_server

KINDS = ("chroma-embedded", "chroma-server", "milvus-lite")


@contextmanager
def chroma_server(tmp: Path) -> Iterator[tuple[str, int]]:
    """A `chroma run` server for the block: (host, port); stopped by PID afterwards."""
    proc, host, port = start_chroma_server(tmp / "db", tmp / "chroma.log")
    try:
        yield host, port
    finally:
        procs.stop(proc)


@contextmanager
def milvus_lite(path: Path) -> Iterator[VectorStore]:
    """A MilvusStore on a Milvus Lite database at `path` (a *.db directory); its server thread is
    stopped and the directory unlocked afterwards, which the block's end asserts."""
    from milvus_lite.server_manager import server_manager_instance

    from embedlab.stores.milvus import open_milvus

    store = open_milvus(str(path))
    try:
        yield store
    finally:
        store.close()
        assert str(path.resolve()) not in server_manager_instance._servers  # nothing left running


def emptied(store: VectorStore) -> VectorStore:
    """`store` with every collection deleted (a shared server outlives one test)."""
    for info in store.list():
        store.delete(info.name)
    return store


def open_store(kind: str, request, tmp_path: Path) -> VectorStore:
    """An empty store of `kind` for one test. The Chroma server and the Milvus Lite store come from
    the module-scoped fixtures `chroma_server` and `milvus` of the requesting test module."""
    if kind == "chroma-embedded":
        return ChromaStore(open_client(path=str(tmp_path / "chroma")))
    if kind == "chroma-server":
        host, port = request.getfixturevalue("chroma_server")
        return emptied(ChromaStore(open_client(host=host, port=port)))
    return emptied(request.getfixturevalue("milvus"))
