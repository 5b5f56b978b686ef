"""Vector stores behind one contract (`base.VectorStore`): Chroma, embedded or a server
(`chroma.ChromaStore`), and Milvus, Lite, standalone or a cluster (`milvus.MilvusStore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedlab.stores.base import VectorStore
from embedlab.stores.chroma import ChromaStore, open_client
from embedlab.stores.milvus import open_milvus

if TYPE_CHECKING:
    from embedlab.config import Settings


def open_store(settings: Settings) -> VectorStore:
    """The vector store `settings` name: Milvus when MILVUS_URI is set (pymilvus is imported only
    then), else a Chroma server when CHROMA_HOST is set, else the embedded Chroma directory.

    Raises:
        StoreError: it cannot be opened (server down, credentials refused, directory locked).
    """
    if settings.milvus_uri:
        return open_milvus(settings.milvus_uri, settings.milvus_token)
    if settings.chroma_host:
        return ChromaStore(open_client(host=settings.chroma_host, port=settings.chroma_port))
    return ChromaStore(open_client(path=str(settings.chroma_dir)))
