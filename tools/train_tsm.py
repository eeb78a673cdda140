"""Action recognition on decoded video: TSM in the two settings of the D-NeRV paper (Table 8).

A thin shim: the body is toolkit.cli.train_tsm (installed as `inr-train-tsm`)."""

import sys
from pathlib import Path

# A clone runs its own toolkit, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli.train_tsm import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
