"""Building blocks shared by the INR networks (NeRV, D-NeRV, FFNeRV)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


#: How the encoding's angles are rounded: "official" as the official NeRV and D-NeRV code,
#: ``(t * base**i) * pi`` in float32; "fused" as this toolkit did before, ``t * (base**i * pi)``
#: in float32 (the meaning of a bitstream header that names no rounding); "float64" as the
#: HNeRV code's NeRV row trains, ``t * (base**i * pi)`` with the frequency rounded to float32
#: and the angle, sin and cos in float64 (its frame times reach the encoding as float64).
PE_ROUNDINGS = ("official", "fused", "float64")


class PositionalEncoding(nn.Module):
    """sin/cos(t * base**i * pi) for i < levels, as in NeRV (2 * levels features).

    Computed in float32, by default in the official order, ``(t * base**i) * pi``, two
    roundings: beyond about level 60 the angle exceeds float32's integer range, so each
    feature is a pseudo-random function of how the angle was rounded, and the one-rounding
    ``t * (base**i * pi)`` (``rounding="fused"``) gives other features there; with the angle
    in float64 (``rounding="float64"``, HNeRV's NeRV row) every feature is a sampled sinusoid
    of the frame index. A network decodes only with the rounding it was fitted with.
    """

    def __init__(self, levels: int, base: float = 1.25, rounding: str = "official"):
        super().__init__()
        if rounding not in PE_ROUNDINGS:
            raise ValueError(f"positional encoding rounding must be one of {PE_ROUNDINGS}, got {rounding!r}")
        self.levels, self.rounding = levels, rounding
        if rounding == "float64":
            scales = base ** torch.arange(levels) * math.pi  # float32, as HNeRV's PositionEncoding
        else:
            scales = torch.tensor([base**i for i in range(levels)], dtype=torch.float64)
            if rounding == "fused":
                scales = scales * math.pi
        self.register_buffer("scales", scales.float(), persistent=False)

    @property
    def out_dim(self) -> int:
        return 2 * self.levels

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if self.rounding == "float64":
            angles = t.double()[..., None] * self.scales.double()
            return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()
        angles = t.float()[..., None] * self.scales
        if self.rounding == "official":
            angles = angles * math.pi
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
    grid_x, grid_y = pixel_grid(h, w, device=flow.device, dtype=flow.dtype)[:, None].unbind(-1)
    flow_x, flow_y = flow.unbind(2)
    # Python-float scales: a tensor of them would be copied from the host, a device sync per call
    grid = torch.stack([grid_x + flow_x * (2.0 / max(w - 1, 1)),
                        grid_y + flow_y * (2.0 / max(h - 1, 1))], dim=-1)
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


def pixel_shuffle_channels_last(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``nn.PixelShuffle(stride)`` of a channels-last (N, C*s*s, h, w) tensor, returned channels-last.

    PyTorch's pixel shuffle writes NCHW, so the next convolution would transpose back; here
    the one copy goes straight from NHWC to NHWC.
    """
    n, cs2, h, w = x.shape
    c = cs2 // (stride * stride)
    nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, c, stride, stride)
    out = nhwc.permute(0, 1, 4, 2, 5, 3).reshape(n, h * stride, w * stride, c)
    return out.permute(0, 3, 1, 2)


def warp_and_blend_channels_last(keys: torch.Tensor, flow: torch.Tensor,
                                 end_weight: torch.Tensor) -> torch.Tensor:
    """D-NeRV's fused warped content, every (frame, keyframe) pair, channels-last in and out.

    keys (B, 2, C, h, w): start and end keyframe features (any memory format, any dtype);
    flow (B, T, 2, 2, h, w): per frame and keyframe, (x, y) in pixels; end_weight (B, T, 1, 1, 1).
    Returns ``sum_k weight_k * warp(keys_k, flow_k)`` as a channels-last (B*T, C, h, w) float32
    tensor: bilinear, border padding, align_corners=True, as :func:`backward_warp` samples.

    Sampling positions and bilinear weights are float32 whatever the autocast state (a bf16
    position is coarser than a pixel at 256 px); the features are gathered in their own
    dtype, so under autocast the bf16 keyframe features are read as they were computed.
    Each gather reads whole C-vectors of the NHWC features.
    """
    batch, num_keys, c, h, w = keys.shape
    frames = flow.shape[1]
    pixels = keys.permute(0, 1, 3, 4, 2).reshape(batch * num_keys * h * w, c)
    with torch.autocast(device_type=keys.device.type, enabled=False):
        flow = flow.float()
        xs = torch.arange(w, device=flow.device, dtype=torch.float32)
        ys = torch.arange(h, device=flow.device, dtype=torch.float32).view(h, 1)
        x = (xs + flow[:, :, :, 0]).clamp(0, w - 1)  # (B, T, 2, h, w)
        y = (ys + flow[:, :, :, 1]).clamp(0, h - 1)
        x0 = x.detach().floor().clamp(max=max(w - 2, 0))
        y0 = y.detach().floor().clamp(max=max(h - 2, 0))
        wx, wy = x - x0, y - y0
        x0, y0 = x0.long(), y0.long()
        x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
        key_index = torch.arange(batch * num_keys, device=flow.device).view(batch, 1, num_keys, 1, 1)
        row0, row1 = key_index * (h * w) + y0 * w, key_index * (h * w) + y1 * w
        end = end_weight.float().reshape(batch, frames, 1, 1, 1)
        key_weight = torch.cat([1 - end, end], dim=2)  # (B, T, 2, 1, 1)
        out = None
        for index, weight in ((row0 + x0, (1 - wx) * (1 - wy)), (row0 + x1, wx * (1 - wy)),
                              (row1 + x0, (1 - wx) * wy), (row1 + x1, wx * wy)):
            term = pixels[index] * (weight * key_weight)[..., None]  # (B, T, 2, h, w, C)
            out = term if out is None else out + term
        out = out.sum(dim=2)
    return out.reshape(batch * frames, h, w, c).permute(0, 3, 1, 2)
