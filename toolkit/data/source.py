"""Sources: a dataset's videos stored losslessly at the working rate and size.

A *dataset root* holds one directory per source (``raw``, ``h264_M``, ``nerv_L``, ...),
each with ``videos/``, mmaction2-format ``train_list.txt`` / ``test_list.txt``,
``classes.txt`` and ``manifest.json`` (see docs/design.md). :class:`Source` reads one;
:class:`SourceWriter` writes one, a video at a time, atomically, so an interrupted
run keeps every finished video and can resume.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from toolkit.data.video import (LOSSLESS_SUFFIX, VideoReader, decord_reads_size, probe, read_video,
                               write_video)
from toolkit.paths import PathError, path_under, plain_name, relative_path, writable_dir
from toolkit.runinfo import atomic_write_json, atomic_write_text, run_facts

MANIFEST = "manifest.json"
VIDEO_DIR = "videos"


class SourceError(ValueError):
    """A source is missing, unknown or inconsistent."""


def check_video_path(relpath: str, what: str) -> str:
    """A video's path under ``videos/`` as lists and manifests hold it: relative, without
    ``..``, and without white space (mmaction2's annotation lists split on spaces)."""
    if not isinstance(relpath, str):
        raise SourceError(f"{what}: the video path {relpath!r} is not a string")
    try:
        relative_path(relpath, what)
    except PathError as exc:
        raise SourceError(str(exc)) from None
    if any(c.isspace() for c in relpath):
        raise SourceError(f"{what}: {relpath!r} has white space in its name, which mmaction2's "
                          f"annotation lists cannot hold; rename it (e.g. spaces to '_')")
    return relpath


def check_source_name(name: str) -> str:
    """A source name is one directory under the dataset root."""
    try:
        return plain_name(name, "source name")
    except PathError as exc:
        raise SourceError(str(exc)) from None


@dataclass(frozen=True)
class VideoRecord:
    path: str          # relative to <source>/videos, e.g. "ApplyEyeMakeup/v_x_g01_c01.mkv"
    label: int
    split: str         # "train" | "test"
    num_frames: int


def list_sources(data_root) -> list[str]:
    """Names of the sources under a dataset root (directories with a manifest)."""
    data_root = Path(data_root)
    if not data_root.is_dir():
        return []
    return sorted(p.name for p in data_root.iterdir() if (p / MANIFEST).is_file())


class Source:
    """A prepared or decoded source (read-only)."""

    def __init__(self, root):
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise SourceError(f"{self.root}: not a source (no {MANIFEST}); "
                              f"create it with tools/prepare_dataset.py")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise SourceError(f"{manifest_path}: corrupt manifest ({exc}); "
                              f"re-create the source") from exc
        try:
            self.name = self.manifest["name"]
            self.videos = [VideoRecord(**v) for v in self.manifest["videos"]]
            self.classes = list(self.manifest["classes"])
            fps, height, width = (self.manifest[k] for k in ("fps", "height", "width"))
        except (KeyError, TypeError) as exc:
            raise SourceError(f"{manifest_path}: incomplete manifest ({exc}); "
                              f"re-create the source") from None
        for i, video in enumerate(self.videos):
            check_video_path(video.path, f"{manifest_path} video {i}")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0
                and all(isinstance(v, int) and v > 0 for v in (height, width))):
            raise SourceError(f"{manifest_path}: fps {fps}, height {height} and width {width} "
                              f"must be positive numbers; re-create the source")

    @classmethod
    def open(cls, data_root, name: str) -> "Source":
        """The source ``name`` under ``data_root``; unknown names list what exists."""
        root = Path(data_root) / check_source_name(name)
        if not (root / MANIFEST).is_file():
            existing = ", ".join(list_sources(data_root)) or "none"
            raise SourceError(f"unknown source {name!r} under {data_root} "
                              f"(sources there: {existing})")
        return cls(root)

    @property
    def height(self) -> int:
        return self.manifest["height"]

    @property
    def width(self) -> int:
        return self.manifest["width"]

    @property
    def fps(self) -> float:
        return self.manifest["fps"]

    @property
    def num_frames(self) -> int:
        return sum(v.num_frames for v in self.videos)

    @property
    def num_pixels(self) -> int:
        """H * W * frames over the whole source: the denominator of bpp."""
        return self.height * self.width * self.num_frames

    def split(self, name: str) -> list[VideoRecord]:
        return [v for v in self.videos if v.split == name]

    def video_path(self, video: VideoRecord) -> Path:
        return self.root / VIDEO_DIR / video.path

    def list_path(self, split: str) -> Path:
        return self.root / f"{split}_list.txt"

    def read_video(self, video: VideoRecord) -> np.ndarray:
        """All frames of one video (T, H, W, 3) uint8, checked against the manifest."""
        frames = read_video(self.video_path(video))
        if len(frames) != video.num_frames:
            raise SourceError(f"{self.video_path(video)}: {len(frames)} frames, manifest says "
                              f"{video.num_frames}; re-create the source")
        return frames

    def reader(self, video: VideoRecord) -> VideoReader:
        """Random access to one video's frames."""
        return VideoReader(self.video_path(video), expected_frames=video.num_frames)


class SourceWriter:
    """Writes a source: videos one at a time (atomic), then lists and manifest."""

    def __init__(self, root, name: str, *, codec: str, size: str | None, height: int,
                 width: int, fps: float, classes: list[str]):
        self.root = Path(root)
        self.name = check_source_name(name)
        if not decord_reads_size(height, width):
            raise SourceError(f"{height}x{width}: decord (used by mmaction2's pipeline) misreads "
                              f"lossless video of width {width}; choose another size, e.g. a "
                              f"width of 40, 64, 80 or more")
        self.header = dict(name=name, codec=codec, size=size, height=height, width=width,
                           fps=fps, classes=list(classes))
        try:
            writable_dir(self.root / VIDEO_DIR, f"source {name!r}:")
        except PathError as exc:
            raise SourceError(str(exc)) from None

    def video_path(self, relpath: str) -> Path:
        """Where a video is written; refused unless it stays under ``videos/``."""
        check_video_path(relpath, f"source {self.name!r}")
        try:
            return path_under(self.root / VIDEO_DIR, relpath, f"source {self.name!r}")
        except PathError as exc:
            raise SourceError(str(exc)) from None

    @staticmethod
    def relpath(name: str) -> str:
        """Output path for a video name (``class/video``), with the lossless suffix."""
        return name + LOSSLESS_SUFFIX

    def finished_frames(self, relpath: str) -> int | None:
        """Frame count of an already written video (resume), or None."""
        path = self.video_path(relpath)
        if not path.is_file():
            return None
        try:
            return probe(path).num_frames
        except Exception:
            return None

    def write_video(self, relpath: str, frames: np.ndarray) -> None:
        frames = np.asarray(frames)
        if frames.shape[1:] != (self.header["height"], self.header["width"], 3):
            raise SourceError(f"{relpath}: frames of shape {frames.shape[1:]} do not match the "
                              f"source size {self.header['height']}x{self.header['width']}")
        write_video(self.video_path(relpath), frames, self.header["fps"])

    def finalize(self, videos: Iterable[VideoRecord], **extra) -> Source:
        """Write lists, class index and manifest (last, so its presence means complete)."""
        videos = list(videos)
        for split in ("train", "test"):
            lines = [f"{v.path} {v.label}" for v in videos if v.split == split]
            atomic_write_text(self.root / f"{split}_list.txt", "".join(l + "\n" for l in lines))
        atomic_write_text(self.root / "classes.txt",
                          "".join(c + "\n" for c in self.header["classes"]))
        manifest = dict(self.header, num_videos=len(videos),
                        num_frames=sum(v.num_frames for v in videos))
        manifest.update(run_facts())
        manifest.update(extra)
        manifest.update(created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        videos=[asdict(v) for v in videos])
        atomic_write_json(self.root / MANIFEST, manifest)
        return Source(self.root)
