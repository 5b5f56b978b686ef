"""Second "app processes" for the store tests: one that holds an embedded Chroma path, one that
ingests and gets killed. Started in their own process group; callers stop them by PID."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import procs

ROOT = Path(__file__).resolve().parents[2]
HELD_COLLECTION = "held_by_other_v1"

# Opens the store like the app does, leaves a collection behind, then idles until killed.
_HOLDER = f"""
import sys, time
from embedlab.stores.base import CollectionSpec
from embedlab.stores.chroma import ChromaStore, open_client
store = ChromaStore(open_client(path=sys.argv[1]))
if not store.exists({HELD_COLLECTION!r}):
    store.create(CollectionSpec({HELD_COLLECTION!r}, sys.argv[2], int(sys.argv[3])))
print("ready", flush=True)
time.sleep(600)
"""

# Tries to open the store; prints what happened.
_OPENER = """
import sys
from embedlab.stores.base import StoreLocked
from embedlab.stores.chroma import open_client
try:
    open_client(path=sys.argv[1])
except StoreLocked as exc:
    print("locked:", exc, flush=True)
    sys.exit(3)
print("opened", flush=True)
"""


class Child:
    """A Python subprocess whose stdout lines are collected by a thread (no blocking reads)."""

    def __init__(self, args: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout_s: float = 30.0) -> str:
        """The first (new) line starting with `prefix`; fails if the child ends or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {prefix!r} within {timeout_s} s; got {self.lines[-20:]}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"child exited ({self.proc.wait()}) before {prefix!r}: {self.lines[-20:]}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def finish(self, timeout_s: float = 30.0) -> int:
        """Wait for the child to exit by itself and collect the rest of its output."""
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return code

    def stop(self) -> None:
        procs.stop(self.proc)
        self._reader.join(timeout=5)


def hold_store(path: Path, model_id: str = "some-model", dim: int = 8) -> Child:
    """A process that has the embedded store at `path` open (returns once it says "ready"),
    after creating HELD_COLLECTION for (model_id, dim) in it."""
    child = Child(["-c", _HOLDER, str(path), model_id, str(dim)])
    try:
        child.wait_for("ready", timeout_s=60)
    except BaseException:
        child.stop()
        raise
    return child


def try_open(path: Path) -> tuple[int, str]:
    """Open the store at `path` from another process: (exit code, its output)."""
    child = Child(["-c", _OPENER, str(path)])
    try:
        code = child.finish(timeout_s=60)
    finally:
        child.stop()
    return code, "\n".join(child.lines)
