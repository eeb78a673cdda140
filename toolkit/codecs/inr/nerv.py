"""NeRV (Chen et al., NeurIPS 2021): one network maps a frame index to a frame.

Used as D-NeRV's UCF101 baseline (one shared model over all videos concatenated, the
input being the global normalised frame index) and, configured as the NeRV and HNeRV
papers configure it, for the Big Buck Bunny anchors (``benchmarks/anchors/``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .blocks import PositionalEncoding
from .sizing import explicit_stride_plan, stride_plan

ACTIVATIONS = {"gelu": nn.GELU, "swish": nn.SiLU}

#: How a frame index becomes NeRV's input time: "closed" spans [0, 1], t = i / (N - 1) (what
#: this toolkit has always done); "open" spans [0, 1), t = i / N, as the official NeRV and
#: HNeRV code compute it (``float(idx) / len(video)``).
FRAME_TIMES = ("closed", "open")


def check_frame_times(span: str) -> str:
    if span not in FRAME_TIMES:
        raise ValueError(f"unknown frame_times {span!r}; use one of {', '.join(FRAME_TIMES)}")
    return span


def frame_times(index: torch.Tensor, total: int | torch.Tensor, span: str = "closed") -> torch.Tensor:
    """Input times (float64) of frames ``index`` among ``total`` frames (an int, or a tensor
    broadcast against ``index``: a batch's per-sample totals, read without a device sync)."""
    check_frame_times(span)
    if isinstance(total, torch.Tensor):
        total = total.double()
        denominator = (total - 1).clamp(min=1) if span == "closed" else total
    else:
        denominator = max(total - 1, 1) if span == "closed" else total
    return index.double() / denominator


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class NeRVBlock(nn.Module):
    """conv (kernel_size) -> PixelShuffle(stride) -> activation."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel_size: int = 3,
                 act: str = "gelu"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * stride * stride, kernel_size,
                              padding=kernel_size // 2)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


def nerv_block_widths(channels: int, num_blocks: int, min_channels: int,
                      expansion: float | None = 2.0, reduction: float = 2.0) -> tuple[int, ...]:
    """Output widths of the decoder blocks: ``expansion * channels`` (NeRV's rule, no floor),
    then divided by ``reduction`` per block, floored at ``min_channels`` (the papers'
    ``lower_width``). ``expansion=None``: the first block divides too (HNeRV's rule)."""
    if expansion is None:
        widths = [max(round(channels / reduction), min_channels)]
    else:
        widths = [max(round(channels * expansion), 1)]
    for _ in range(num_blocks - 1):
        widths.append(max(round(widths[-1] / reduction), min_channels))
    return tuple(widths)


class NeRV(nn.Module):
    """Frame index t in [0, 1] -> RGB frame in [0, 1].

    ``channels`` is the width of the base feature map the stem produces (``fc_dim`` in the
    official code). The stem is an MLP over the positional encoding with ``mlp_hidden``
    units (None: a single linear layer, as HNeRV's NeRV baseline). The first block widens
    the map to ``expansion * channels``; each later block divides by ``reduction``, floored
    at ``min_channels`` (``expansion=None``: the first block divides and is floored too). Defaults are D-NeRV's UCF101 baseline: at 256x320, ``channels``
    465 / 510 / 562 give about the 88.0M / 105.3M / 127.2M parameters of its S / M / L.
    The NeRV paper's Bunny model is ``pe_levels=40, expansion=1, min_channels=96,
    act='swish'`` at 720x1280 (strides 5, 2, 2, 2, 2 from 9x16); HNeRV's NeRV row is
    ``mlp_hidden=None, expansion=None, min_channels=12, head_kernel=3,
    strides=(5, 4, 2, 2)`` at 640x1280 (``expansion=0.5`` is the same but for the floor
    on the first block, which matters below 1M parameters). ``frame_times`` and
    ``pe_rounding="float64"`` together give the official NeRV / HNeRV code's input codes.
    """

    def __init__(self, height: int, width: int, channels: int, pe_levels: int = 80,
                 mlp_hidden: int | None = 512, min_channels: int = 16, expansion: float | None = 2.0,
                 reduction: float = 2.0, kernel_size: int = 3, head_kernel: int = 1,
                 act: str = "gelu", strides: Sequence[int] | None = None,
                 pe_rounding: str = "official", frame_times: str = "closed"):
        super().__init__()
        if channels < 1:
            raise ValueError(f"NeRV channels must be >= 1, got {channels}")
        self.frame_times = check_frame_times(frame_times)
        self.height, self.width = height, width
        self.base_h, self.base_w, self.strides = (
            stride_plan(height, width) if strides is None
            else explicit_stride_plan(height, width, strides))
        self.channels = channels
        self.encoding = PositionalEncoding(pe_levels, rounding=pe_rounding)
        base = channels * self.base_h * self.base_w
        if mlp_hidden:
            self.stem = nn.Sequential(nn.Linear(self.encoding.out_dim, mlp_hidden), activation(act),
                                      nn.Linear(mlp_hidden, base), activation(act))
        else:
            self.stem = nn.Sequential(nn.Linear(self.encoding.out_dim, base), activation(act))
        self.block_widths = nerv_block_widths(channels, len(self.strides), min_channels,
                                              expansion, reduction)
        in_widths = (channels,) + self.block_widths[:-1]
        self.blocks = nn.Sequential(*(
            NeRVBlock(c_in, c_out, s, kernel_size, act)
            for c_in, c_out, s in zip(in_widths, self.block_widths, self.strides)))
        self.head = nn.Conv2d(self.block_widths[-1], 3, head_kernel, padding=head_kernel // 2)

    def times(self, index: torch.Tensor, total: int | torch.Tensor) -> torch.Tensor:
        """This network's input times of frames ``index`` among ``total`` (see FRAME_TIMES)."""
        return frame_times(index, total, self.frame_times)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: (N,) frame times (``times``) -> frames (N, 3, H, W) in [0, 1]."""
        if t.dim() != 1:
            raise ValueError(f"NeRV expects t of shape (N,), got {tuple(t.shape)}")
        x = self.stem(self.encoding(t))
        x = x.view(t.shape[0], self.channels, self.base_h, self.base_w)
        x = self.head(self.blocks(x))
        return (torch.tanh(x) + 1) * 0.5
