"""Prepare the source ``raw`` of a dataset: resample, resize, store losslessly.

A thin shim: the body is toolkit.cli.prepare_dataset (installed as `inr-prepare-dataset`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.prepare_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
