"""Decode a bitstream with nothing but the file into a lossless source; PSNR against a reference.

A thin shim: the body is toolkit.cli.decode_bitstream (installed as `inr-decode-bitstream`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.decode_bitstream import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
