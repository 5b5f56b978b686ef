"""Fixtures shared by the unit tests: real store engines, one per test module."""

from __future__ import annotations

import pytest

from tests.support import stores


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A `chroma run` server for the module, stopped after it."""
    with stores.chroma_server(tmp_path_factory.mktemp("chroma-server")) as address:
        yield address


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    """One Milvus Lite database for the module (its start and the index builds are the cost)."""
    with stores.milvus_lite(tmp_path_factory.mktemp("milvus") / "milvus.db") as store:
        yield store
