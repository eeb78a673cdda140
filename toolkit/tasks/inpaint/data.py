"""Masked datasets for inpainting fits: what the fit models see of each video.

They are :class:`~toolkit.engine.datasets.SourceFrames` / ``SourceClips`` whose frames
have the hidden pixels replaced by the mask's fill (so no model, and no loss term,
sees a hidden pixel) and whose samples carry ``mask`` (1 = visible), which the fit
models' loss uses to give hidden pixels no weight.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from toolkit.codecs.inr.keyframes import keyframe_indices, save_keyframes
from toolkit.engine.datasets import SourceClips, SourceFrames
from toolkit.registry import DATASETS
from toolkit.tasks.inpaint.masks import MaskSet, keyframe_images


def _mask_in_place(dataset, masks: MaskSet) -> np.ndarray:
    """Fill the hidden pixels of ``dataset.frames``; return the visible mask (N, H, W)."""
    visible = np.concatenate([masks.visible(i) for i in dataset.videos])
    if visible.shape != dataset.frames.shape[:3]:
        raise ValueError(f"masks of shape {visible.shape} do not match the frames "
                         f"{dataset.frames.shape[:3]}; the masks file is from another source")
    dataset.frames[~visible] = masks.spec.fill
    return visible


@DATASETS.register_module()
class MaskedSourceFrames(SourceFrames):
    """Frames with hidden pixels filled; ``mask`` (1, H, W) float per sample."""

    def __init__(self, data_root, masks: str, source: str = "raw",
                 videos: Sequence[int] | None = None, split: str | None = None):
        super().__init__(data_root, source, videos, split)
        self.visible = _mask_in_place(self, MaskSet.load(masks))

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        sample["inputs"]["mask"] = torch.from_numpy(self.visible[index][None]).float()
        return sample


@DATASETS.register_module()
class MaskedSourceClips(SourceClips):
    """D-NeRV clips with hidden pixels filled; ``mask`` (T, 1, H, W) float per sample.

    ``keyframes`` is written by :func:`save_masked_keyframes` (masked keyframes unless
    the mask setting says otherwise).
    """

    def __init__(self, data_root, keyframes: str, masks: str, source: str = "raw",
                 videos: Sequence[int] | None = None, split: str | None = None, clip_len: int = 8):
        super().__init__(data_root, keyframes, source, videos, split, clip_len)
        self.visible = _mask_in_place(self, MaskSet.load(masks))

    def __getitem__(self, index: int) -> dict:
        sample = super().__getitem__(index)
        pos, plan = self.clips[index]
        start = int(self.starts[pos])
        visible = self.visible[[start + i for i in plan.frame_indices]]
        sample["inputs"]["mask"] = torch.from_numpy(visible[:, None]).float()
        return sample


def masked_keyframes(source, videos: Sequence[int], masks: MaskSet, clip_len: int
                     ) -> list[np.ndarray]:
    """Each video's D-NeRV keyframes (K_v, H, W, 3) as the mask setting says to show them."""
    out = []
    for i in videos:
        frames = source.read_video(source.videos[i])
        out.append(keyframe_images(frames, masks.visible(i), masks.spec,
                                   keyframe_indices(len(frames), clip_len)))
    return out


def save_masked_keyframes(path, source, videos: Sequence[int], masks: MaskSet,
                          clip_len: int) -> list[np.ndarray]:
    keyframes = masked_keyframes(source, videos, masks, clip_len)
    save_keyframes(path, keyframes)
    return keyframes
