"""D-NeRV's keyframes, in one place: which frames they are, how clips use them, how they
are coded into the bitstream and how the decoded ones are stored for a fit.

A video is cut into clips of ``clip_len`` frames (:func:`plan_clips`); a clip is decoded
from its two keyframes, its first frame and the first frame of the next clip (capped at the
last frame). The keyframes (:func:`keyframe_indices`) are coded with a classical codec,
all-intra (:func:`code_keyframes`), and travel in the D-NeRV bitstream as chunks
``keyframes/<video>`` with the keyframe codec's header under ``header["keyframes"]``
(:func:`embed`, :func:`coded_keyframes`). A fit trains on the decoded keyframes, stored as
``.npz`` and read on demand (:func:`save_keyframes`, :func:`keyframe_rows`; in memory:
:func:`load_keyframes`, :func:`keyframes_by_index`).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from toolkit.codecs.bitstream import Bitstream
from toolkit.data.frame_file import FrameFile
from toolkit.runinfo import atomic_path

CHUNK_PREFIX = "keyframes/"


@dataclass(frozen=True)
class ClipPlan:
    """How one clip of a video is formed (all indices 0-based frame indices of the video).

    ``frame_indices`` has ``clip_len`` entries, the padding repeating the last real frame,
    and ``valid`` marks the real ones. ``times`` is the network's time input per frame,
    ``index / (num_frames - 1)``; ``end_weights`` is the weight of the end keyframe in the
    fusion, ``(index - start) / max(1, end - start)`` as in the official data loader (it equals
    ``k / clip_len`` except in a last clip whose end keyframe is capped at the last frame).
    """

    start: int
    frame_indices: tuple[int, ...]
    valid: tuple[bool, ...]
    keyframes: tuple[int, int]
    times: tuple[float, ...]
    end_weights: tuple[float, ...]


def plan_clips(num_frames: int, clip_len: int = 8) -> list[ClipPlan]:
    """Cut a video into clips: clip c covers frames clip_len*c ... clip_len*c + clip_len - 1.

    Its keyframes are its first frame and the first frame of the next clip, capped at the
    last frame, so neighbouring clips share a keyframe.
    """
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame to be planned, got num_frames={num_frames}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    last = num_frames - 1
    plans = []
    for start in range(0, num_frames, clip_len):
        end = min(start + clip_len, last)
        frames = [start + k for k in range(clip_len)]
        indices = tuple(min(i, last) for i in frames)
        plans.append(ClipPlan(
            start=start,
            frame_indices=indices,
            valid=tuple(i <= last for i in frames),
            keyframes=(start, end),
            times=tuple(i / max(last, 1) for i in indices),
            end_weights=tuple((i - start) / max(end - start, 1) for i in indices),
        ))
    return plans


def keyframe_indices(num_frames: int, clip_len: int = 8) -> list[int]:
    """Sorted 0-based indices of the frames stored as keyframes: 0, clip_len, ... and the last."""
    return sorted({k for plan in plan_clips(num_frames, clip_len) for k in plan.keyframes})


def keyframe_count(num_frames: int, clip_len: int = 8) -> int:
    """``len(keyframe_indices(num_frames, clip_len))`` without planning the clips: every
    clip start, plus the last frame unless it starts a clip."""
    if num_frames < 1 or clip_len < 1:
        raise ValueError(f"keyframe_count needs num_frames and clip_len >= 1, got {num_frames}, {clip_len}")
    return -(-num_frames // clip_len) + ((num_frames - 1) % clip_len != 0)


# ---- coding --------------------------------------------------------------------------------

def keyframe_coder(settings: dict):
    """The classical codec of the keyframes (``settings``: EncoderSettings fields), all-intra."""
    from toolkit.codecs.classical import ClassicalCodec, EncoderSettings

    return ClassicalCodec(EncoderSettings(**{**settings, "gop": 1}))


def code_keyframes(source, videos: Sequence[int], clip_len: int, target_bits: float, coder,
                   workers: int = 1) -> tuple[Bitstream, list[np.ndarray], dict]:
    """Encode each video's keyframes with ``coder`` in about ``target_bits`` and decode them
    back: (coded, decoded (K_v, H, W, 3) per video, the encoder's facts)."""
    stills = []
    for i in videos:
        frames = source.read_video(source.videos[i])
        stills.append(frames[keyframe_indices(len(frames), clip_len)])
    pixels = sum(len(s) for s in stills) * source.height * source.width
    coded, info = coder.compress(stills, source.fps, target_bpp=target_bits / pixels, workers=workers)
    return coded, list(coder.decompress(coded)), info


def embed(coded: Bitstream) -> tuple[dict, dict]:
    """The coded keyframes as a D-NeRV bitstream carries them: (header entries, chunks)."""
    chunks = {f"{CHUNK_PREFIX}{name.split('/')[-1]}": data for name, data in coded.chunks.items()}
    return {"keyframes": coded.header}, chunks


def chunk_names(num_videos: int) -> list[str]:
    """The keyframe chunks of a D-NeRV bitstream of ``num_videos`` videos."""
    return [f"{CHUNK_PREFIX}{i:05d}" for i in range(num_videos)]


def coded_keyframes(bitstream: Bitstream) -> Bitstream:
    """The keyframe codec's bitstream inside a D-NeRV bitstream (inverse of :func:`embed`)."""
    names = sorted(n for n in bitstream.chunks if n.startswith(CHUNK_PREFIX))
    return Bitstream(header=bitstream.header["keyframes"], path=bitstream.path,
                     chunks={f"video/{n.split('/')[-1]}": bitstream.chunks[n] for n in names})


# ---- storage of decoded keyframes ---------------------------------------------------------

def save_keyframes(path, decoded: Sequence[np.ndarray]) -> None:
    """Store each video's decoded keyframes (K_v, H, W, 3) in one ``.npz`` (as ``np.savez``
    stores them, uncompressed, so :class:`FrameFile` reads them on demand), atomically and
    a video at a time: memory holds one video's keyframes."""
    if len(decoded) == 0:
        raise ValueError(f"{path}: no keyframes to save")
    counts = np.array([len(d) for d in decoded], dtype=np.int64)
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


def stored_keyframes(path) -> tuple[FrameFile, np.ndarray]:
    """The keyframes :func:`save_keyframes` stored, read on demand, and each video's count."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: decoded keyframes not found; run the keyframe step first")
    with np.load(path) as data:
        counts = data["counts"]
    frames = FrameFile(path, member="frames")
    if int(counts.sum()) != len(frames):
        raise ValueError(f"{path}: {len(frames)} keyframes stored, the counts say {int(counts.sum())}")
    return frames, counts


def load_keyframes(path) -> list[np.ndarray]:
    """Each video's keyframes (K_v, H, W, 3) as :func:`save_keyframes` stored them, in memory."""
    frames, counts = stored_keyframes(path)
    starts = np.cumsum([0, *counts])
    return [frames[range(int(a), int(b))] for a, b in zip(starts[:-1], starts[1:])]


def keyframe_rows(path, num_frames: Sequence[int], clip_len: int
                  ) -> tuple[FrameFile, list[dict[int, int]]]:
    """The stored keyframes (read on demand) and, per video, a map frame index -> their row,
    checked against the clip plan."""
    frames, counts = stored_keyframes(path)
    if len(counts) != len(num_frames):
        raise ValueError(f"{path}: keyframes of {len(counts)} videos, expected {len(num_frames)}")
    out, offset = [], 0
    for count, n in zip(counts, num_frames):
        indices = keyframe_indices(n, clip_len)
        if count != len(indices):
            raise ValueError(f"{path}: {count} keyframes for a {n}-frame video, expected {len(indices)}")
        out.append(dict(zip(indices, range(offset, offset + int(count)))))
        offset += int(count)
    return frames, out


def keyframes_by_index(path, num_frames: Sequence[int], clip_len: int) -> list[dict[int, np.ndarray]]:
    """Per video, a map frame index -> decoded keyframe (in memory), checked against the clip plan."""
    frames, rows = keyframe_rows(path, num_frames, clip_len)
    return [dict(zip(video, frames[list(video.values())])) for video in rows]
