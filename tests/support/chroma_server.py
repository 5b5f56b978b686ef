"""A real `chroma run` server on a free loopback port, for tests and benches (stopped by PID)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import procs


def start_chroma_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str, int]:
    """Start `chroma run` persisting to `data_dir`; returns (process, host, port)."""
    port = procs.free_port()
    host = "127.0.0.1"
    proc = procs.start(
        [str(procs.VENV_BIN / "chroma"), "run", "--path", str(data_dir), "--host", host, "--port", str(port)],
        f"http://{host}:{port}/api/v2/heartbeat",
        log,
        timeout_s=60,
    )
    return proc, host, port
