"""Datasets that feed INR fitting: the frames or clips of a source.

The frames of the chosen videos are decoded once into one uint8 array (shared
copy-on-write with forked DataLoader workers), or, for sources too large to hold,
read on demand from a frame file (:class:`FrameFile`: every frame of the source as one
raw ``.npy`` array, written once by :func:`write_frame_file`); the decoded keyframes are
always read on demand. Host memory then stays bounded by the batches in flight, not
the dataset. Samples are dicts ``{"inputs": {...}}`` so mmengine's default collate
stacks them and the model's ``forward(inputs, data_samples, mode)`` receives them.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from toolkit.codecs.inr.dnerv import keyframe_indices, plan_clips
from toolkit.data.source import Source
from toolkit.registry import DATASETS


def load_frames(source: Source, videos: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames of ``videos`` concatenated (N, H, W, 3) uint8, and each video's first index."""
    arrays = [source.read_video(source.videos[i]) for i in videos]
    starts = np.cumsum([0] + [len(a) for a in arrays])
    return np.concatenate(arrays), starts


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

    from toolkit.runinfo import atomic_path

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


def select_videos(source: Source, videos: Sequence[int] | None, split: str | None) -> list[int]:
    chosen = list(range(len(source.videos))) if videos is None else list(videos)
    if split is not None:
        chosen = [i for i in chosen if source.videos[i].split == split]
    if not chosen:
        raise ValueError(f"{source.root}: no videos selected (videos={videos}, split={split})")
    return chosen


def to_chw(frames: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) uint8 tensor (scaled to [0, 1] on the device)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(frames, -1, -3)))


@DATASETS.register_module()
class SourceFrames(Dataset):
    """Every frame of the selected videos, with its time inputs.

    ``t`` is the frame's position in the concatenation of all selected videos,
    normalised to [0, 1] (NeRV's global index); ``frame_index`` is its index within
    its video (FFNeRV's input).
    """

    def __init__(self, data_root, source: str = "raw", videos: Sequence[int] | None = None,
                 split: str | None = None):
        self.source = Source.open(data_root, source)
        self.videos = select_videos(self.source, videos, split)
        self.frames, self.starts = load_frames(self.source, self.videos)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        video_pos = int(np.searchsorted(self.starts, index, side="right") - 1)
        return {"inputs": {
            "frame": to_chw(self.frames[index]),
            "t": torch.tensor(index / max(len(self.frames) - 1, 1), dtype=torch.float32),
            "frame_index": torch.tensor(index - int(self.starts[video_pos])),
            "index": torch.tensor(index),
        }}


@DATASETS.register_module()
class SourceClips(Dataset):
    """D-NeRV clips: frames, validity, per-video time and the two decoded keyframes.

    ``keyframes`` is the path of the decoded keyframes (``keyframes.npz``, written by
    :func:`save_keyframes`): the model trains on the keyframes the decoder will see; they
    are read on demand. ``frame_file``: a frame file of the whole source
    (:func:`write_frame_file`) to read the frames from on demand instead of decoding the
    selected videos into memory.
    """

    def __init__(self, data_root, keyframes: str, source: str = "raw",
                 videos: Sequence[int] | None = None, split: str | None = None, clip_len: int = 8,
                 frame_file: str | None = None):
        self.source = Source.open(data_root, source)
        self.videos = select_videos(self.source, videos, split)
        if frame_file is None:
            self.frames, self.starts = load_frames(self.source, self.videos)
        else:
            self.frames = FrameFile(frame_file)
            expected = (self.source.num_frames, self.source.height, self.source.width, 3)
            if self.frames.shape != expected:
                raise ValueError(f"{frame_file}: frames {self.frames.shape}, the source {self.source.root} "
                                 f"has {expected}; delete the frame file to write it again")
            self.starts = frame_file_starts(self.source)[self.videos]
        self.keyframe_frames, self.keyframes = load_keyframes(
            keyframes, [self.source.videos[i].num_frames for i in self.videos], clip_len)
        self.clip_len = clip_len
        self.clips = [(pos, plan) for pos, i in enumerate(self.videos)
                      for plan in plan_clips(self.source.videos[i].num_frames, clip_len)]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        pos, plan = self.clips[index]
        start = int(self.starts[pos])
        rows = self.keyframes[pos]
        return {"inputs": {
            "frames": to_chw(self.frames[[start + i for i in plan.frame_indices]]),
            "valid": torch.tensor(plan.valid),
            "keyframes": to_chw(self.keyframe_frames[[rows[k] for k in plan.keyframes]]),
            "t": torch.tensor(plan.times, dtype=torch.float32),
            "end_weight": torch.tensor(plan.end_weights, dtype=torch.float32),
            "index": torch.tensor(index),
        }}


def save_keyframes(path, decoded: Sequence[np.ndarray]) -> None:
    """Store each video's decoded keyframes (K_v, H, W, 3) in one ``.npz`` (as ``np.savez``
    stores them, uncompressed), written a video at a time: memory holds one video's."""
    from toolkit.runinfo import atomic_path

    counts = np.array([len(d) for d in decoded], dtype=np.int64)
    if len(decoded) == 0:
        raise ValueError(f"{path}: no keyframes to save")
    shape = (int(counts.sum()), *decoded[0].shape[1:])
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("frames.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_2_0(
                    f, {"descr": np.lib.format.dtype_to_descr(decoded[0].dtype),
                        "fortran_order": False, "shape": shape})
                for frames in decoded:
                    if frames.shape[1:] != shape[1:] or frames.dtype != decoded[0].dtype:
                        raise ValueError(f"{path}: keyframes of shape {frames.shape[1:]} "
                                         f"{frames.dtype}, expected {shape[1:]} {decoded[0].dtype}")
                    f.write(np.ascontiguousarray(frames).data)
            with archive.open("counts.npy", "w") as f:
                np.lib.format.write_array(f, counts)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


def load_keyframes(path, num_frames: Sequence[int], clip_len: int
                   ) -> tuple[FrameFile, list[dict[int, int]]]:
    """The decoded keyframes (read on demand) and, per video, a map frame index -> their row,
    checked against the clip plan."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: decoded keyframes not found; run the keyframe step first")
    with np.load(path) as data:
        counts = data["counts"]
    frames = FrameFile(path, member="frames")
    if len(counts) != len(num_frames):
        raise ValueError(f"{path}: keyframes of {len(counts)} videos, expected {len(num_frames)}")
    out, offset = [], 0
    for count, n in zip(counts, num_frames):
        indices = keyframe_indices(n, clip_len)
        if count != len(indices):
            raise ValueError(f"{path}: {count} keyframes for a {n}-frame video, expected {len(indices)}")
        out.append(dict(zip(indices, range(offset, offset + count))))
        offset += count
    if offset != len(frames):
        raise ValueError(f"{path}: {len(frames)} keyframes stored, the counts say {offset}")
    return frames, out
