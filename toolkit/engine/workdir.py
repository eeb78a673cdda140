"""What a work dir keeps between runs, and the rules for reusing it.

A compression work dir caches costly results: fitted networks (``fit/<job>/``) and what a
codec prepares before fitting (D-NeRV's coded keyframes). Each is reused only for the
settings it was made for: its *fingerprint* (videos and their checksums, network, fit
settings, codec, toolkit version) is recorded before the work starts, and a later run
whose fingerprint differs is refused with one line naming the difference, unless it asks
to redo the work (``--refit``). One run at a time holds a work dir (:class:`DirLock`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from toolkit.runinfo import atomic_write_json, process_alive, remove_stale_temporaries


class WorkDirError(RuntimeError):
    """A work dir is in use by another run, or holds results made for other settings."""


def notice(message: str) -> None:
    """A one-line note for the user (stderr): something was reused, replaced or taken over."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def file_sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plain(value):
    """``value`` as JSON gives it back (tuples become lists, mmengine dicts plain dicts)."""
    return json.loads(json.dumps(value, default=str))


# ---- one run at a time -------------------------------------------------------------------

class DirLock:
    """An exclusive lock on a directory, held by this process until :meth:`release`.

    The lock is an ``flock`` on ``<dir>/run.lock``, which the kernel drops when its
    process dies, so a killed run never blocks the next one; the file names the holder
    (pid, host, start) for the message a second run gets.
    """

    NAME = "run.lock"

    def __init__(self, directory, what: str = "work dir", leave_no_empty_dir: bool = False):
        self.directory = Path(directory)
        self.leave_no_empty_dir = leave_no_empty_dir
        self.path = self.directory / self.NAME
        self.what = what
        self._file = None
        self._created = False

    def acquire(self) -> "DirLock":
        self._created = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = self._describe(handle.read())
                handle.close()
                raise WorkDirError(f"{self.what} {self.directory} is in use by another run "
                                   f"({holder}); wait for it to end or use another directory")
            # The holder before us may have removed the file after we opened it: retry on
            # the file that is there now.
            if not self.path.exists() or os.stat(self.path).st_ino != os.fstat(handle.fileno()).st_ino:
                handle.close()
                continue
            break
        handle.seek(0)
        previous = handle.read().strip()
        if previous:
            notice(f"taking over the lock of {self.what} {self.directory} from a run that "
                   f"no longer holds it ({self._describe(previous)})")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(dict(pid=os.getpid(), host=socket.gethostname(),
                                     started=time.strftime("%Y-%m-%d %H:%M:%S"))))
        handle.flush()
        self._file = handle
        return self

    @staticmethod
    def _describe(text: str) -> str:
        try:
            holder = json.loads(text)
            alive = holder.get("host") != socket.gethostname() or process_alive(int(holder["pid"]))
            state = "" if alive else ", no longer running"
            return f"pid {holder['pid']} on {holder.get('host')}, started {holder.get('started')}{state}"
        except (ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        if self._file is not None:
            self.path.unlink(missing_ok=True)
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
            if self._created and self.leave_no_empty_dir:  # a run that wrote nothing leaves none
                try:
                    self.directory.rmdir()
                except OSError:
                    pass

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def clean_temporaries(directory) -> None:
    """Remove what killed runs left half-written under ``directory``, saying so."""
    removed = remove_stale_temporaries(directory)
    if removed:
        notice(f"removed {len(removed)} temporary file(s) left by an interrupted run under "
               f"{directory} (e.g. {removed[0].name})")


# ---- checkpoints -----------------------------------------------------------------------------

def checkpoint_problem(path) -> str | None:
    """Why the mmengine checkpoint ``path`` cannot be loaded (as a Runner loads it, through
    toolkit.compat's weights_only loader), or None when it loads."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from toolkit.compat import apply_checkpoint_fix

    apply_checkpoint_fix()
    try:
        CheckpointLoader.load_checkpoint(str(path), map_location="cpu", logger="silent")
    except Exception as exc:  # any failure to load means the file is unusable
        return type(exc).__name__
    return None


def _checkpoint_epoch(path: Path) -> int:
    try:
        return int(path.stem.split("_")[-1])
    except ValueError:
        return -1


def resume_checkpoint(fit_dir: Path) -> Path | None:
    """The newest checkpoint (``epoch_*.pth``) of ``fit_dir`` that loads; older ones stand in
    for a truncated or corrupt newest one (a run killed while saving), saying so. None: fit
    from the start."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from toolkit.compat import apply_checkpoint_fix

    apply_checkpoint_fix()
    unreadable = []
    for path in sorted(Path(fit_dir).glob("epoch_*.pth"), key=_checkpoint_epoch, reverse=True):
        try:  # as the Runner will load it (toolkit.compat's weights_only loader)
            state = CheckpointLoader.load_checkpoint(str(path), map_location="cpu", logger="silent")
            state["meta"]["epoch"], state["state_dict"]  # noqa: B018  (present, or corrupt)
        except Exception as exc:  # any failure to load means the file is unusable
            unreadable.append(path.name)
            notice(f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}); "
                   f"it is not resumed from")
            continue
        if unreadable:
            notice(f"resuming {fit_dir} from {path.name}, its last readable checkpoint")
        return path
    if unreadable:
        notice(f"{fit_dir} has no readable checkpoint: fitting from the start")
    return None


# ---- what a result was made for ------------------------------------------------------------

def differences(old: dict, new: dict, limit: int = 3) -> list[str]:
    """The keys (dotted) whose values differ, as ``key: old -> new``, at most ``limit``."""
    found = []

    def short(value) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                walk(a.get(key, "(unset)"), b.get(key, "(unset)"), f"{prefix}{key}.")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{prefix[:-1]}[{i}].")
        elif a != b:
            if isinstance(a, list) and isinstance(b, list):
                found.append(f"{prefix[:-1]}: {len(a)} -> {len(b)} entries")
            else:
                found.append(f"{prefix[:-1]}: {short(a)} -> {short(b)}")

    walk(old, new, "")
    return found[:limit] + ([f"{len(found) - limit} more"] if len(found) > limit else [])


class Fingerprint:
    """The record ``<directory>/<name>`` of what the results in ``directory`` are for."""

    def __init__(self, directory, name: str, what: str):
        self.directory = Path(directory)
        self.path = self.directory / name
        self.what = what

    def recorded(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())["for"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def check(self, wanted: dict, holds_results: bool) -> None:
        """Raise :class:`WorkDirError` unless the results there (if any) were made for ``wanted``."""
        recorded = self.recorded()
        if recorded == plain(wanted) or (recorded is None and not holds_results):
            return
        if recorded is None:
            why = "no record of the settings it was made for (an older toolkit, or a damaged record)"
        else:
            why = "other settings (" + "; ".join(differences(recorded, plain(wanted))) + ")"
        raise WorkDirError(f"{self.what} {self.directory} was made for {why}; rerun with --refit "
                           f"to make it again, or use another --work-dir")

    def write(self, wanted: dict) -> None:
        atomic_write_json(self.path, {"for": plain(wanted)})
