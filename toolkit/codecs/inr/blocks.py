"""Building blocks shared by the INR networks (NeRV, D-NeRV, FFNeRV)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PositionalEncoding(nn.Module):
    """sin/cos(base**i * pi * t) for i < levels, as in NeRV (2 * levels features)."""

    def __init__(self, levels: int, base: float = 1.25):
        super().__init__()
        self.levels = levels
        freqs = torch.tensor([base**i * math.pi for i in range(levels)], dtype=torch.float64)
        self.register_buffer("freqs", freqs.float(), persistent=False)

    @property
    def out_dim(self) -> int:
        return 2 * self.levels

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[..., None] * self.freqs
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def pixel_grid(height: int, width: int, device=None, dtype=None) -> torch.Tensor:
    """Normalised sampling grid (1, H, W, 2) in grid_sample's (x, y) order, align_corners=True."""
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)[None]


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (N, C, H, W) at ``pixel + flow`` (N, 2, H, W; x then y, in pixels).

    Bilinear, border padding, align_corners=True. Zero flow returns ``image`` up to
    float rounding of the grid.
    """
    return backward_warp_frames(image, flow[:, None])[:, 0]


def backward_warp_frames(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp each image by each of its T flows: image (N, C, H, W), flow (N, T, 2, H, W) -> (N, T, C, H, W).

    The T sampling grids are stacked along grid_sample's output height, so every image is
    read in place: no per-frame copies of it, and in the backward pass no sum over copies.
    Sampling as in :func:`backward_warp`.
    """
    n, frames, _, h, w = flow.shape
    grid = pixel_grid(h, w, device=flow.device, dtype=flow.dtype)[:, None]
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)],
                         device=flow.device, dtype=flow.dtype)
    grid = grid + flow.permute(0, 1, 3, 4, 2) * scale
    warped = F.grid_sample(image, grid.reshape(n, frames * h, w, 2).to(image.dtype),
                           mode="bilinear", padding_mode="border", align_corners=True)
    return warped.unflatten(2, (frames, h)).transpose(1, 2)


def backward_warp_fp32(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``backward_warp`` computed in float32 with autocast off; returns float32.

    Under bf16/fp16 autocast the normalised sampling grid would be rounded to the low
    precision (bf16 steps near 1.0 are wider than a pixel at 256 px), so warping is kept
    in float32 whatever the surrounding precision.
    """
    return backward_warp_frames_fp32(image, flow[:, None])[:, 0]


def backward_warp_frames_fp32(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``backward_warp_frames`` in float32 with autocast off (see ``backward_warp_fp32``)."""
    with torch.autocast(device_type=image.device.type, enabled=False):
        return backward_warp_frames(image.float(), flow.float())
