"""Real disk failures for tests: a read-only directory (even for root) and a full disk.

- `read_only`: as root, permission bits are ignored, so the directory and its files get the
  immutable attribute (`chattr +i`): the kernel itself then refuses every change with EPERM, as a
  read-only mount refuses with EROFS. Other users get modes 0555/0444 (EACCES). Nothing is patched.
- `cap_sqlite_growth`: SQLite's own `PRAGMA max_page_count`, set to the database's current size on
  every new connection to that file, makes any write needing a new page fail inside SQLite with
  SQLITE_FULL ("database or disk is full"), exactly the error of a full disk.
- `full_disk_for_temp_files`: temporary files made in one directory are written through /dev/full,
  so each write fails with the kernel's ENOSPC (OSError 28). The real temporary file is created
  too, so the code's clean-up is exercised.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _writable(directory: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """`directory` (created if missing) and everything in it cannot be changed inside the block."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory, *directory.rglob("*")]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "+i", str(directory)], check=True, capture_output=True)
        restore = ["chattr", "-R", "-i", str(directory)]
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        restore = None
    try:
        if _writable(directory):
            pytest.fail(f"{directory} is still writable; the test would not exercise a read-only directory")
        yield directory
    finally:
        if restore:
            subprocess.run(restore, check=True, capture_output=True)
        else:
            for p, mode in modes.items():
                p.chmod(mode)


def cap_sqlite_growth(monkeypatch: pytest.MonkeyPatch, database: Path) -> None:
    """From now on, connections to `database` (which must exist) cannot make it any bigger."""
    real_connect = sqlite3.connect
    target = database.resolve()

    def connect(path, *args, **kwargs):
        conn = real_connect(path, *args, **kwargs)
        if str(path) != ":memory:" and Path(path).resolve() == target:
            conn.execute("PRAGMA max_page_count = 1")  # SQLite raises it to the current page count
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


def full_disk_for_temp_files(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """From now on, files made by tempfile.mkstemp in `directory` are written to /dev/full."""
    real_mkstemp = tempfile.mkstemp
    target = directory.resolve()

    def mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        if Path(name).parent.resolve() == target:
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
