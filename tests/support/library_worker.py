"""A second app process for the instruction-library tests.

Run as `python -m tests.support.library_worker DATA_DIR PREFIX COUNT START_FILE`: it prints
"ready", waits until START_FILE exists (so several workers start together), then creates COUNT
instructions named PREFIX-0 ... in the library under DATA_DIR, one change at a time, as app
sessions do, and prints "done".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from embedlab.instructions import load_library


def main(argv: list[str]) -> None:
    data_dir, prefix, count, start = argv[0], argv[1], int(argv[2]), Path(argv[3])
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not start.exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal within 60 s")
        time.sleep(0.001)
    library = load_library(data_dir)
    for i in range(count):
        library.create(f"{prefix}-{i}", f"Given question {i} of {prefix}, retrieve the passage that answers it")
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
