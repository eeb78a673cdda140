"""Gather finished TSM runs (tools/train_tsm.py) into a table like the paper's Table 8.

A thin shim: the body is toolkit.cli.gather_tsm_results (installed as `inr-gather-tsm-results`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.gather_tsm_results import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
