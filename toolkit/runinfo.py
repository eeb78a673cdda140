"""Atomic file writes and the facts recorded with every result (command, commit, device)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path


#: The name :func:`atomic_path` gives its temporary file: ``.<stem>.tmp-<pid><suffix>``.
_TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(\d+)(\.[^.]*)?$")


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(root) -> list[Path]:
    """Delete the temporary files that runs killed inside :func:`atomic_path` left under ``root``.

    Only files of processes that no longer run are removed; returns them.
    """
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for path in root.rglob(".*.tmp-*"):
        match = _TEMPORARY_NAME.match(path.name)
        if match and path.is_file() and not process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary name keeps the suffix (writers that pick a format by suffix still work);
    a failed block leaves neither a partial file nor a changed ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def git_commit() -> str | None:
    """The toolkit checkout's commit (with ``-dirty`` when modified).

    Outside a git checkout (e.g. a copy of the tree on a GPU machine) the value of
    ``TOOLKIT_COMMIT`` is used, else None.
    """
    if os.environ.get("TOOLKIT_COMMIT"):
        return os.environ["TOOLKIT_COMMIT"]
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo,
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def device_name() -> str:
    """The GPU model when CUDA is available, else the CPU, so numbers say where they came from."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} x{torch.cuda.device_count()}"
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def run_facts() -> dict:
    """Command, commit, versions, device and date for ``results.json`` and manifests."""
    import torch

    from toolkit import __version__

    return {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "toolkit_version": __version__,
        "torch_version": torch.__version__,
        "device": device_name(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
