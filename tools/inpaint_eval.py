"""Inpainting benchmark: fit INR models to masked videos and measure how they fill the holes.

A thin shim: the body is toolkit.cli.inpaint_eval (installed as `inr-inpaint-eval`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.inpaint_eval import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
