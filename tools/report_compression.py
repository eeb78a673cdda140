"""Gather compression results into a Markdown table and a rate-distortion PNG.

A thin shim: the body is toolkit.cli.report_compression (installed as `inr-report-compression`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.report_compression import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
