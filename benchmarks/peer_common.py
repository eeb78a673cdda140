"""What the peer benchmarks (peer_ffnerv.py, peer_dnerv.py) share about an official checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path


def official_commit(path) -> str | None:
    """The commit of an official checkout: its ``COMMIT`` file (a copy made for a GPU call
    carries one), else git's, when ``path`` is the top of its own repository (never the
    commit of a repository that merely contains it)."""
    path = Path(path).resolve()
    stored = path / "COMMIT"
    if stored.is_file():
        return stored.read_text().strip() or None
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel", "HEAD"],
                         capture_output=True, text=True)
    lines = top.stdout.split()
    if top.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != path:
        return None
    return lines[1]
