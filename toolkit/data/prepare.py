"""Turn a dataset index into the source ``raw``: resampled, resized, lossless.

Frames are taken at ``fps`` (the frame nearest each instant k / fps) and resized to
``height`` x ``width``. ``resize="crop"`` (default) scales the frame to cover the
target and crops the centre, keeping the aspect ratio (UCF101's 240x320 becomes
256x341, then the middle 320 columns); ``resize="stretch"`` scales each axis
independently. Videos run in parallel; each is written atomically, finished ones
are skipped on a rerun, and failures are listed instead of stopping the run.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.data.layouts import DatasetIndex, VideoEntry
from toolkit.data.source import Source, SourceWriter, VideoRecord, check_video_path
from toolkit.data.video import VideoError, iter_frames, probe
from toolkit.runinfo import atomic_write_text, remove_stale_temporaries

RESIZE_MODES = ("crop", "stretch")
MAX_SIDE = 8192     # pixels; beyond 8K a frame size is a typo, not a working size


@dataclass(frozen=True)
class PrepareConfig:
    fps: float = 2.0
    height: int = 256
    width: int = 320
    resize: str = "crop"
    workers: int = max(1, (os.cpu_count() or 1))

    def __post_init__(self):
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        for key in ("height", "width"):
            value = getattr(self, key)
            if not (isinstance(value, int) and 1 <= value <= MAX_SIDE):
                raise ValueError(f"{key} must be a whole number of pixels from 1 to {MAX_SIDE}, "
                                 f"got {value}")
        if not (isinstance(self.workers, int) and self.workers >= 1):
            raise ValueError(f"workers must be at least 1, got {self.workers}")


@dataclass
class PrepareReport:
    source: Source | None
    videos: int = 0
    frames: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        rows = [("videos written", self.videos - self.skipped), ("videos resumed", self.skipped),
                ("frames", self.frames), ("failures", len(self.failures)),
                ("missing files", len(self.missing)), ("time (s)", f"{self.seconds:.1f}")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def resample_indices(num_frames: int, src_fps: float, dst_fps: float) -> list[int]:
    """Source frame indices nearest the instants k / dst_fps, k = 0, 1, ..."""
    if src_fps <= 0:
        return list(range(num_frames))
    step = src_fps / dst_fps
    indices, k = [], 0
    while True:
        index = int(np.floor(k * step + 0.5))
        if index >= num_frames:
            break
        indices.append(index)
        k += 1
    return indices


def resize_frame(frame: np.ndarray, height: int, width: int, mode: str = "crop") -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    if mode == "stretch":
        new_h, new_w = height, width
    else:
        scale = max(height / h, width / w)
        new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    interp = cv2.INTER_AREA if new_h * new_w < h * w else cv2.INTER_CUBIC
    out = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return np.ascontiguousarray(out[top:top + height, left:left + width])


def _intact_frames(path: Path) -> int | None:
    """Frame count of a video written by an earlier run, if every frame decodes and matches
    its checksum; None when it is missing or damaged (then it is prepared again)."""
    if not path.is_file():
        return None
    try:
        return sum(1 for _ in iter_frames(path))
    except VideoError:
        return None


def _prepare_one(entry: VideoEntry, writer: SourceWriter, config: PrepareConfig):
    """Worker: returns (record, resumed) or raises with the reason."""
    relpath = writer.relpath(entry.name)
    done = _intact_frames(writer.video_path(relpath))
    if done:
        return VideoRecord(relpath, entry.label, entry.split, done), True
    info = probe(entry.source_path)
    wanted = resample_indices(info.num_frames, info.fps, config.fps)
    keep = set(wanted)
    frames = [resize_frame(f, config.height, config.width, config.resize)
              for i, f in enumerate(iter_frames(entry.source_path)) if i in keep]
    if not frames:
        raise ValueError(f"{entry.source_path}: no frames at {config.fps} fps")
    writer.write_video(relpath, np.stack(frames))
    return VideoRecord(relpath, entry.label, entry.split, len(frames)), False


def prepare_source(index: DatasetIndex, data_root, config: PrepareConfig = PrepareConfig(),
                   name: str = "raw", progress: bool = True) -> PrepareReport:
    """Write the source ``name`` under ``data_root`` from ``index``."""
    from tqdm import tqdm

    start = time.time()
    for entry in index.entries:  # before anything is written: names the lists cannot hold
        check_video_path(SourceWriter.relpath(entry.name), str(entry.source_path))
    writer = SourceWriter(Path(data_root) / name, name, codec="raw", size=None,
                          height=config.height, width=config.width, fps=config.fps,
                          classes=index.classes)
    report = PrepareReport(source=None)
    remove_stale_temporaries(writer.root)  # half-written videos of a killed run
    present = []
    for entry in index.entries:
        if entry.source_path.is_file():
            present.append(entry)
        else:
            report.missing.append(str(entry.source_path))
    records: dict[int, VideoRecord] = {}
    # spawn, not fork: a forked child of a process that already runs decord/PyAV/OpenMP
    # threads can crash or hang (seen in the test suite).
    with ProcessPoolExecutor(max_workers=config.workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_prepare_one, entry, writer, config): i
                   for i, entry in enumerate(present)}
        bar = tqdm(total=len(futures), desc=f"prepare {name}", unit="video", disable=not progress)
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            i = futures[future]
            try:
                record, resumed = future.result()
                records[i] = record
                report.skipped += resumed
            except Exception as exc:  # reported per video, the run goes on
                report.failures.append((str(present[i].source_path), str(exc)))
            bar.update()
        bar.close()
    ordered = [records[i] for i in sorted(records)]
    report.videos = len(ordered)
    report.frames = sum(r.num_frames for r in ordered)
    if report.failures:
        atomic_write_text(writer.root / "failures.txt",
                          "".join(f"{p}\t{why}\n" for p, why in report.failures))
    if report.missing:
        atomic_write_text(writer.root / "missing.txt", "".join(p + "\n" for p in report.missing))
    if not ordered:
        raise ValueError(f"no video could be prepared ({len(report.failures)} failures, "
                         f"{len(report.missing)} missing); see {writer.root}")
    report.seconds = time.time() - start
    report.source = writer.finalize(
        ordered, prepare=dict(fps=config.fps, height=config.height, width=config.width,
                              resize=config.resize),
        failures=[dict(path=p, error=why) for p, why in report.failures],
        missing_files=len(report.missing))
    return report
