"""Frame files: every frame of a source as one raw uint8 array on disk, read on demand.

A fit of a source too large to hold in memory reads its frames from a frame file
(:func:`write_frame_file`, a plain ``.npy``); D-NeRV's decoded keyframes are read the same
way from their uncompressed ``.npz`` (:class:`FrameFile` with ``member``). Host memory then
stays bounded by the frames being read, not the source.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from toolkit.data.source import Source
from toolkit.runinfo import atomic_path


class FrameFile:
    """Read-only frames (N, H, W, 3) uint8 stored raw in a ``.npy`` file, or in an
    uncompressed member of an ``.npz`` (``member``), read on demand with ``os.pread``.

    Nothing is mapped or cached in the process: a read costs one system call per run of
    neighbouring frames, and repeated reads come from the kernel's page cache. The file is
    opened per process (picklable for DataLoader workers, forked or spawned).
    """

    def __init__(self, path, member: str | None = None):
        self.path, self.member = Path(path), member
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: frame file not found")
        with open(self.path, "rb") as f:
            base = _npz_member_offset(f, self.path, member) if member else 0
            f.seek(base)
            try:
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(f)]
                shape, fortran, dtype = read_header(f)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{self.path}: not a frame file ({exc})") from None
            self.offset = f.tell()
        if dtype != np.uint8 or fortran or len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{self.path}: frames must be (N, H, W, 3) uint8 in C order, "
                             f"found {shape} {dtype}")
        self.shape = tuple(shape)
        self.frame_bytes = int(np.prod(shape[1:]))
        if os.path.getsize(self.path) < self.offset + self.shape[0] * self.frame_bytes:
            raise ValueError(f"{self.path}: truncated frame file; delete it to write it again")
        self._fd, self._pid = None, None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self):
        return {**self.__dict__, "_fd": None, "_pid": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)

    def _read(self, first: int, count: int) -> np.ndarray:
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        size = count * self.frame_bytes
        data = os.pread(self._fd, size, self.offset + first * self.frame_bytes)
        if len(data) != size:
            raise OSError(f"{self.path}: short read at frame {first}; the file changed")
        return np.frombuffer(data, np.uint8).reshape(count, *self.shape[1:])

    def __getitem__(self, index):
        """One frame (an int) or frames (a sequence of ints) as a new array."""
        if np.isscalar(index):
            return self._read(self._checked(int(index)), 1)[0].copy()
        indices = np.asarray([self._checked(int(i)) for i in index], dtype=np.int64)
        if len(indices) == 0:
            return np.empty((0, *self.shape[1:]), np.uint8)
        first, last = int(indices.min()), int(indices.max())
        if last - first + 1 <= 2 * len(indices):  # e.g. a clip: one read of its span
            return self._read(first, last - first + 1)[indices - first]
        return np.stack([self._read(int(i), 1)[0] for i in indices])

    def _checked(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.path}: frame {i} out of range [0, {len(self)})")
        return i


def _npz_member_offset(f, path: Path, member: str) -> int:
    """Where the bytes of ``member`` (an ``.npy`` stored uncompressed) start in an ``.npz``."""
    with zipfile.ZipFile(f) as archive:
        try:
            info = archive.getinfo(member + ".npy")
        except KeyError:
            raise ValueError(f"{path}: no array {member!r} in it") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: array {member!r} is compressed; cannot be read on demand")
    f.seek(info.header_offset)
    local = f.read(30)  # the local file header: name and extra field lengths at 26 and 28
    return info.header_offset + 30 + int.from_bytes(local[26:28], "little") + \
        int.from_bytes(local[28:30], "little")


def frame_file_starts(source: Source) -> np.ndarray:
    """First row of each video of ``source`` in its frame file (all videos, manifest order)."""
    return np.cumsum([0] + [v.num_frames for v in source.videos])


def write_frame_file(path, source: Source, workers: int = 1) -> Path:
    """Write every frame of ``source`` (all videos, manifest order) into one raw ``.npy``
    at ``path``, atomically; videos are decoded one at a time per worker process."""
    from concurrent.futures import ProcessPoolExecutor

    starts = frame_file_starts(source)
    shape = (int(starts[-1]), source.height, source.width, 3)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_2_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            offset = f.tell()
            f.truncate(offset + int(np.prod(shape)))
        jobs = [(str(tmp), str(source.root), i, offset + int(starts[i]) * int(np.prod(shape[1:])))
                for i in range(len(source.videos))]
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
                list(pool.map(_write_video_frames, jobs, chunksize=4))
        else:
            for job in jobs:
                _write_video_frames(job)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    return Path(path)


def _write_video_frames(job) -> None:
    path, source_root, video, offset = job
    source = Source(source_root)
    frames = source.read_video(source.videos[video])
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, np.ascontiguousarray(frames).data, offset)
    finally:
        os.close(fd)
