"""Compress a source with one codec at one operating point and decode it into a new source.

A thin shim: the body is toolkit.cli.compress_dataset (installed as `inr-compress-dataset`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.compress_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
