"""Inpainting masks: random square boxes per frame, drawn reproducibly and stored with results.

A :class:`MaskSpec` says how many boxes hide each frame, how large they are and
whether they move. Boxes are drawn from a numpy Generator seeded by
``(seed, video index in the source)``, so a video's masks do not depend on which
other videos are evaluated. Boxes lie wholly inside the frame and may overlap.

Convention: a *visible* mask is True (1) where the model may see the pixel, the
convention of the fit models' ``mask`` input; hidden pixels are False (0).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from toolkit.runinfo import atomic_write_json

MASKS_FILE = "masks.json"


class MaskError(ValueError):
    """A mask setting is impossible or a stored mask file does not match the setting."""


@dataclass(frozen=True)
class MaskSpec:
    """How frames are masked.

    ``box_size``: side of each square box in pixels, at ``reference_size`` (H, W) when
    given (the side is then scaled by sqrt(H*W / (H_ref*W_ref)), which keeps the hidden
    fraction of the frame), else at the source's own size. ``per_frame``: new boxes on
    every frame; otherwise one set of boxes for the whole video. ``fill``: the value
    (0-255) hidden pixels get in every frame a model is shown. ``mask_keyframes``:
    D-NeRV's keyframes are the masked frames (True) or the originals (False).
    """

    num_boxes: int = 5
    box_size: int = 50
    reference_size: tuple[int, int] | None = None
    per_frame: bool = True
    fill: int = 128
    mask_keyframes: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.num_boxes < 1 or self.box_size < 1:
            raise MaskError(f"masks need num_boxes >= 1 and box_size >= 1, got "
                            f"num_boxes={self.num_boxes}, box_size={self.box_size}")
        if not 0 <= self.fill <= 255:
            raise MaskError(f"masks.fill must be a pixel value in 0..255, got {self.fill}")
        if self.reference_size is not None:
            if len(self.reference_size) != 2 or min(self.reference_size) < 1:
                raise MaskError(f"masks.reference_size must be (height, width), got "
                                f"{self.reference_size!r}")
            object.__setattr__(self, "reference_size", tuple(int(s) for s in self.reference_size))

    @classmethod
    def from_config(cls, masks: dict, seed: int) -> "MaskSpec":
        """From the config's ``masks`` dict; unknown keys are refused by name."""
        known = {f for f in cls.__dataclass_fields__ if f != "seed"}
        unknown = sorted(set(masks) - known)
        if unknown:
            raise MaskError(f"unknown masks settings {unknown}; known: {', '.join(sorted(known))}")
        return cls(**dict(masks), seed=int(seed))

    def box_side(self, height: int, width: int) -> int:
        """The box side in pixels at a frame size, checked to fit inside the frame."""
        side = self.box_size
        if self.reference_size is not None:
            ref_h, ref_w = self.reference_size
            side = max(1, round(self.box_size * math.sqrt(height * width / (ref_h * ref_w))))
        if side > min(height, width):
            raise MaskError(f"boxes of {side} px do not fit in {height}x{width} frames; lower "
                            f"masks.box_size or set masks.reference_size")
        return side


def draw_boxes(spec: MaskSpec, video_index: int, num_frames: int, height: int, width: int
               ) -> np.ndarray:
    """Boxes (num_frames, num_boxes, 4) as [top, left, height, width] for one video."""
    side = spec.box_side(height, width)
    rng = np.random.default_rng([spec.seed, video_index])
    draws = num_frames if spec.per_frame else 1
    tops = rng.integers(0, height - side + 1, size=(draws, spec.num_boxes))
    lefts = rng.integers(0, width - side + 1, size=(draws, spec.num_boxes))
    sides = np.full_like(tops, side)
    boxes = np.stack([tops, lefts, sides, sides], axis=-1)
    return np.repeat(boxes, num_frames // draws, axis=0)


def visible_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H, W) bool, False inside any box of the frame."""
    visible = np.ones((len(boxes), height, width), dtype=bool)
    for frame, frame_boxes in zip(visible, boxes):
        for top, left, box_h, box_w in frame_boxes:
            frame[top:top + box_h, left:left + box_w] = False
    return visible


def apply_mask(frames: np.ndarray, visible: np.ndarray, fill: int) -> np.ndarray:
    """A copy of uint8 frames (T, H, W, 3) with the hidden pixels set to ``fill``."""
    masked = np.array(frames, copy=True)
    masked[~visible] = fill
    return masked


class MaskSet:
    """The boxes of every evaluated video, as stored in ``masks.json``."""

    def __init__(self, spec: MaskSpec, height: int, width: int, boxes: dict[int, np.ndarray]):
        self.spec, self.height, self.width = spec, height, width
        self.boxes = boxes

    @classmethod
    def draw(cls, spec: MaskSpec, height: int, width: int,
             num_frames: dict[int, int]) -> "MaskSet":
        """Boxes for ``num_frames`` (source video index -> frame count)."""
        return cls(spec, height, width, {i: draw_boxes(spec, i, n, height, width)
                                         for i, n in num_frames.items()})

    def visible(self, video_index: int) -> np.ndarray:
        if video_index not in self.boxes:
            raise MaskError(f"no masks for video {video_index} (masks cover videos "
                            f"{sorted(self.boxes)})")
        return visible_mask(self.boxes[video_index], self.height, self.width)

    def hidden_fraction(self) -> float:
        """Share of all pixels hidden (overlapping boxes counted once)."""
        hidden = sum(int((~self.visible(i)).sum()) for i in self.boxes)
        total = sum(len(b) for b in self.boxes.values()) * self.height * self.width
        return hidden / total

    def to_json(self) -> dict:
        return dict(spec=asdict(self.spec), height=self.height, width=self.width,
                    box_side=self.spec.box_side(self.height, self.width),
                    boxes_format="per frame: [top, left, height, width] of each box",
                    videos={str(i): b.tolist() for i, b in self.boxes.items()})

    def save(self, path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path) -> "MaskSet":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: masks not found; tools/inpaint_eval.py writes them")
        data = json.loads(path.read_text())
        spec = data["spec"]
        if spec.get("reference_size") is not None:
            spec["reference_size"] = tuple(spec["reference_size"])
        return cls(MaskSpec(**spec), data["height"], data["width"],
                   {int(i): np.asarray(b, dtype=np.int64).reshape(-1, spec["num_boxes"], 4)
                    for i, b in data["videos"].items()})


def prepare_masks(path, spec: MaskSpec, height: int, width: int,
                  num_frames: dict[int, int]) -> MaskSet:
    """Draw the masks and save them at ``path``, or check the stored ones are the same.

    A work directory holds networks fitted to its masks, so other masks there are an error.
    """
    masks = MaskSet.draw(spec, height, width, num_frames)
    path = Path(path)
    if path.is_file():
        if json.loads(path.read_text()) != json.loads(json.dumps(masks.to_json())):
            raise MaskError(f"{path} holds other masks (another mask setting, seed or video "
                            f"selection) than this run's; use another --work-dir")
        return masks
    masks.save(path)
    return masks


def keyframe_images(frames: np.ndarray, visible: np.ndarray, spec: MaskSpec,
                    indices: Sequence[int]) -> np.ndarray:
    """D-NeRV's keyframes of one video: masked frames unless ``spec.mask_keyframes`` is off."""
    chosen = frames[list(indices)]
    return apply_mask(chosen, visible[list(indices)], spec.fill) if spec.mask_keyframes else chosen
