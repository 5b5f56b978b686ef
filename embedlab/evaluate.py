"""`python -m embedlab.evaluate`: the evaluation command line (see embedlab.evaluation.cli)."""

from __future__ import annotations

import sys

from embedlab.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
