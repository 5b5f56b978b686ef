"""`python -m embedlab.check`: the server check's command line (see embedlab.servercheck.cli)."""

from __future__ import annotations

import sys

from embedlab.servercheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
