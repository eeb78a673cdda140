"""The whole pipeline on the built-in dataset, on a CPU, in minutes.

A thin shim: the body is toolkit.cli.demo (installed as `inr-demo`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
