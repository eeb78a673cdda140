"""Datasets that feed INR fitting: the frames or clips of a source.

The frames of the chosen videos are decoded once into one uint8 array (shared
copy-on-write with forked DataLoader workers), or, for sources too large to hold,
read on demand from a frame file (:class:`~toolkit.data.frame_file.FrameFile`: every frame
of the source as one raw ``.npy`` array, written once by
:func:`~toolkit.data.frame_file.write_frame_file`); the decoded keyframes are always read on
demand. Host memory then stays bounded by the batches in flight, not the dataset. Samples
are dicts ``{"inputs": {...}}`` so mmengine's default collate stacks them and the model's
``forward(inputs, data_samples, mode)`` receives them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from toolkit.codecs.inr.keyframes import keyframe_rows, plan_clips
from toolkit.data.frame_file import FrameFile, frame_file_starts
from toolkit.data.source import Source
from toolkit.registry import DATASETS


def load_frames(source: Source, videos: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Frames of ``videos`` concatenated (N, H, W, 3) uint8, and each video's first index."""
    arrays = [source.read_video(source.videos[i]) for i in videos]
    starts = np.cumsum([0] + [len(a) for a in arrays])
    return np.concatenate(arrays), starts


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

    ``index`` is the frame's position in the concatenation of all selected videos and
    ``total`` their frame count (NeRV's global time is made from both by its network, see
    ``NeRV.times``); ``frame_index`` is its index within its video (FFNeRV's input).
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
            "frame_index": torch.tensor(index - int(self.starts[video_pos])),
            "index": torch.tensor(index),
            "total": torch.tensor(len(self.frames)),
        }}


@DATASETS.register_module()
class SourceClips(Dataset):
    """D-NeRV clips: frames, validity, per-video time and the two decoded keyframes.

    ``keyframes`` is the path of the decoded keyframes (``keyframes.npz``, written by
    :func:`toolkit.codecs.inr.keyframes.save_keyframes`): the model trains on the keyframes
    the decoder will see; they are read on demand. ``frame_file``: a frame file of the whole
    source (:func:`~toolkit.data.frame_file.write_frame_file`) to read the frames from on
    demand instead of decoding the selected videos into memory.
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
        self.keyframe_frames, self.keyframes = keyframe_rows(
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
