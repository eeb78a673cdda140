"""Reading and writing video files.

Reading: decord for random access by frame index (it is what mmaction2's pipeline
uses), PyAV for strict sequential decoding and as the fallback when decord is
missing or cannot open a file. decord decodes damaged files silently (a file cut
in half gives half the frames, overwritten bytes give garbage), so every full
decode goes through PyAV with ``err_detect=explode`` and checks the frame count.

Writing: lossless FFV1 (RGB stored as ``bgr0``) in Matroska, written to a
temporary name and renamed, with the frame count and a CRC32 of every frame's RGB
bytes in container tags: FFV1's own slice CRCs are only logged by the decoder,
so without these a damaged file would decode to wrong pixels silently.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from toolkit.runinfo import atomic_path

FRAME_COUNT_TAG = "TOOLKIT_FRAMES"
FRAME_CRC_TAG = "TOOLKIT_CRC32"
LOSSLESS_SUFFIX = ".mkv"


class VideoError(RuntimeError):
    """A video file is missing, empty, truncated, corrupt or unreadable."""

    def __init__(self, path, problem: str, hint: str = "re-create or re-download the file"):
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(f"{path}: {problem}; {hint}")

    def __reduce__(self):  # picklable, so worker processes can report it
        return type(self), (self.path, self.problem, self.hint)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    num_frames: int
    fps: float
    height: int
    width: int


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such file", "check the path")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    return path


def _open_container(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(path, f"not a readable video ({exc.__class__.__name__})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream")
    return container


def _declared_frames(container) -> int | None:
    tag = container.metadata.get(FRAME_COUNT_TAG) or container.metadata.get(FRAME_COUNT_TAG.lower())
    if tag is not None:
        return int(tag)
    frames = container.streams.video[0].frames
    return frames or None


def _frame_crcs(container) -> list[int] | None:
    tag = container.metadata.get(FRAME_CRC_TAG) or container.metadata.get(FRAME_CRC_TAG.lower())
    return [int(v, 16) for v in tag.split(",")] if tag else None


def _crc(frame: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(frame).data)


def probe(path) -> VideoInfo:
    """Frame count, rate and size of a video without decoding it all."""
    path = _check_file(path)
    with _open_container(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.base_rate or 0)
        num_frames = _declared_frames(container)
        if num_frames is None:
            num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        return VideoInfo(str(path), num_frames, fps, stream.height, stream.width)


def iter_frames(path) -> Iterator[np.ndarray]:
    """Decode every frame in order as (H, W, 3) uint8 RGB, strictly.

    Raises :class:`VideoError` on decoder errors and when fewer frames decode
    than the container declares (a truncated file).
    """
    import av

    path = _check_file(path)
    with _open_container(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"err_detect": "explode"}
        declared = _declared_frames(container)
        crcs = _frame_crcs(container)
        count = 0
        try:
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                if crcs is not None and (count >= len(crcs) or _crc(rgb) != crcs[count]):
                    raise VideoError(path, f"corrupt: frame {count} does not match its checksum")
                count += 1
                yield rgb
        except av.error.FFmpegError as exc:
            raise VideoError(path, f"corrupt or truncated: decoding failed after {count} frames "
                                   f"({exc.__class__.__name__})") from exc
        if count == 0:
            raise VideoError(path, "no decodable frames")
        if declared is not None and count < declared:
            raise VideoError(path, f"truncated: decoded {count} of {declared} frames")


def read_video(path) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 RGB (strict, see :func:`iter_frames`)."""
    return np.stack(list(iter_frames(path)))


class VideoReader:
    """Random access to frames by index (decord, or PyAV when decord fails)."""

    def __init__(self, path, expected_frames: int | None = None):
        self.path = _check_file(path)
        self._decord = None
        self._frames = None
        try:
            import decord

            self._decord = decord.VideoReader(str(self.path), num_threads=1)
            self.num_frames = len(self._decord)
        except Exception:  # decord missing or unable to open: decode with PyAV
            self._frames = read_video(self.path)
            self.num_frames = len(self._frames)
        if expected_frames is not None and self.num_frames != expected_frames:
            raise VideoError(self.path, f"truncated or altered: has {self.num_frames} frames, "
                                        f"expected {expected_frames}")

    def __len__(self) -> int:
        return self.num_frames

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` as (N, H, W, 3) uint8 RGB."""
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise IndexError(f"{self.path}: frame {bad[0]} out of range [0, {self.num_frames})")
        if self._decord is not None:
            try:
                return self._decord.get_batch(indices).asnumpy()
            except Exception:  # decord fails on some files it opened: decode with PyAV
                self._decord = None
        if self._frames is None:
            self._frames = read_video(self.path)
        return self._frames[indices]


@functools.lru_cache(maxsize=None)
def decord_reads_size(height: int, width: int) -> bool:
    """Whether decord decodes this toolkit's lossless video at this size correctly.

    decord 0.6.0 returns wrongly sized buffers for FFV1 RGB video at a few small
    widths (seen: 8, 16, 24, 48, 72); mmaction2's pipeline reads with decord, so
    sources must avoid them.
    """
    try:
        import decord
    except ImportError:
        return True
    import tempfile

    frames = np.random.default_rng(0).integers(0, 256, (2, height, width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "probe.mkv", frames, fps=1)
        try:
            return np.array_equal(decord.VideoReader(str(path)).get_batch([1, 0]).asnumpy(),
                                  frames[[1, 0]])
        except Exception:
            return False


def write_video(path, frames: np.ndarray | Sequence[np.ndarray], fps: float) -> Path:
    """Write RGB frames losslessly (FFV1 in Matroska), atomically.

    ``frames``: (T, H, W, 3) uint8. Reading the file back returns the same bytes.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"{path}: expected frames of shape (T, H, W, 3) uint8 with T >= 1, "
                         f"got {frames.shape} {frames.dtype}")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="matroska") as container:
            container.metadata[FRAME_COUNT_TAG] = str(len(frames))
            container.metadata[FRAME_CRC_TAG] = ",".join(f"{_crc(f):08x}" for f in frames)
            stream = container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "bgr0"
            stream.options = {"slicecrc": "1", "level": "3"}
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    return path
