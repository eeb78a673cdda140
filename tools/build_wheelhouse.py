"""Download the wheels an offline GPU machine needs on top of its own torch stack.

A thin shim: the body is toolkit.cli.build_wheelhouse (installed as `inr-build-wheelhouse`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.build_wheelhouse import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
