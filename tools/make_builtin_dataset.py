"""Generate the built-in labelled action set (8 motion classes, no downloads).

A thin shim: the body is toolkit.cli.make_builtin_dataset (installed as `inr-make-builtin-dataset`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.make_builtin_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
