"""Containment: paths read from lists, split files and manifests stay inside their root.

Every relative path that comes from a file (a ``path label`` list line, a UCF101 split
line, a manifest entry) or from a name option goes through :func:`relative_path` (read)
or :func:`path_under` (write) before it is joined to a directory, so no input can make
the toolkit read or write outside the directory it belongs to.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath


class PathError(ValueError):
    """A path would leave its root, or a directory cannot be written."""


def relative_path(relpath, what: str) -> PurePosixPath:
    """``relpath`` as a relative POSIX path; refused when empty, absolute or with ``..``.

    ``what`` names where the path came from (e.g. ``train.txt line 3``) for the error.
    """
    text = str(relpath)
    if "\x00" in text:
        raise PathError(f"{what}: {text!r} contains a NUL character")
    if text.startswith(("/", "\\")):
        raise PathError(f"{what}: {text!r} is an absolute path; paths here must be relative "
                        f"to their root")
    path = PurePosixPath(text)
    if ".." in path.parts or ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise PathError(f"{what}: {text!r} has a '..' component; paths here must stay inside "
                        f"their root")
    if not text.strip() or path == PurePosixPath("."):
        raise PathError(f"{what}: empty path")
    return path


def path_under(root, relpath, what: str) -> Path:
    """``root / relpath`` for writing: :func:`relative_path`, and the result resolved through
    symbolic links still lies inside ``root``."""
    rel = relative_path(relpath, what)
    root = Path(root)
    target = root / rel
    if not target.resolve().is_relative_to(root.resolve()):
        raise PathError(f"{what}: {str(relpath)!r} leads outside {root} through a symbolic link")
    return target


def plain_name(name, what: str) -> str:
    """A name used as one directory or file name (a source, an output): one component."""
    text = str(name)
    if (not text or text in (".", "..") or "/" in text or "\\" in text or "\x00" in text
            or text != text.strip()):
        raise PathError(f"{what}: {text!r} is not a plain name (no '/', '..' or surrounding "
                        f"spaces)")
    return text


def writable_dir(path, what: str) -> Path:
    """Create ``path`` (with parents) and check a file can be written in it; a one-line
    :class:`PathError` otherwise, so a run fails before its work, not after."""
    path = Path(path)
    probe = path / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PathError(f"{what} {path} cannot be written ({reason}); choose a writable "
                        f"directory") from exc
    return path
