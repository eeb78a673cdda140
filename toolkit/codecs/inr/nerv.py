"""NeRV (Chen et al., NeurIPS 2021): one network maps a frame index to a frame.

Used as D-NeRV's UCF101 baseline: one shared model over all videos concatenated, the input
being the global normalised frame index.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import PositionalEncoding
from .sizing import stride_plan


class NeRVBlock(nn.Module):
    """conv3x3 -> PixelShuffle(stride) -> GELU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * stride * stride, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


def nerv_block_widths(channels: int, num_blocks: int, min_channels: int) -> tuple[int, ...]:
    """Output widths of the decoder blocks: 2 * channels, then halving, floored at min_channels."""
    widths = [2 * channels]
    for _ in range(num_blocks - 1):
        widths.append(max(round(widths[-1] / 2), min_channels))
    return tuple(widths)


class NeRV(nn.Module):
    """Frame index t in [0, 1] -> RGB frame in [0, 1].

    ``channels`` is the width of the base feature map the MLP produces (``fc_dim`` in the
    official D-NeRV code); the first block expands it to ``2 * channels`` and each later block
    halves it (floor ``min_channels``). At 256x320, ``channels`` 465 / 510 / 562 give about the
    88.0M / 105.3M / 127.2M parameters of the paper's S / M / L baselines.
    """

    def __init__(self, height: int, width: int, channels: int, pe_levels: int = 80,
                 mlp_hidden: int = 512, min_channels: int = 16):
        super().__init__()
        if channels < 1:
            raise ValueError(f"NeRV channels must be >= 1, got {channels}")
        self.height, self.width = height, width
        self.base_h, self.base_w, self.strides = stride_plan(height, width)
        self.channels = channels
        self.encoding = PositionalEncoding(pe_levels)
        self.stem = nn.Sequential(
            nn.Linear(self.encoding.out_dim, mlp_hidden), nn.GELU(),
            nn.Linear(mlp_hidden, channels * self.base_h * self.base_w), nn.GELU(),
        )
        self.block_widths = nerv_block_widths(channels, len(self.strides), min_channels)
        in_widths = (channels,) + self.block_widths[:-1]
        self.blocks = nn.Sequential(*(
            NeRVBlock(c_in, c_out, s)
            for c_in, c_out, s in zip(in_widths, self.block_widths, self.strides)))
        self.head = nn.Conv2d(self.block_widths[-1], 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: (N,) normalised frame indices -> frames (N, 3, H, W) in [0, 1]."""
        if t.dim() != 1:
            raise ValueError(f"NeRV expects t of shape (N,), got {tuple(t.shape)}")
        x = self.stem(self.encoding(t))
        x = x.view(t.shape[0], self.channels, self.base_h, self.base_w)
        x = self.head(self.blocks(x))
        return (torch.tanh(x) + 1) * 0.5
