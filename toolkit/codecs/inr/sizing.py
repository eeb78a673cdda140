"""Resolution and size rules shared by the INR networks.

``stride_plan`` turns a frame size into the decoder's base map and upsampling strides;
``solve_width`` turns a parameter budget (an S/M/L operating point) into a width.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

MIN_TOTAL_STRIDE = 8
PAPER_BLOCKS = 5  # decoder blocks of the NeRV papers' stride plans


def stride_plan(height: int, width: int, max_stride: int = 64) -> tuple[int, int, tuple[int, ...]]:
    """Return ``(base_h, base_w, strides)`` for a decoder that outputs ``height x width``.

    Sizes whose common divisor has a factor 5 (and 3) get the papers' plans: a stride 5,
    then 3, then 2s up to five blocks (720x1280 -> 9x16 and (5, 2, 2, 2, 2), NeRV's;
    1080x1920 -> 9x16 and (5, 3, 2, 2, 2); 640x1280 -> 8x16 and (5, 2, 2, 2, 2), HNeRV's
    crop). Otherwise the total stride P is the largest power of two ``<= max_stride``
    dividing both sides, with strides 4 then 2s when P >= 64 (256x320 -> 4x5 and
    (4, 2, 2, 2, 2), D-NeRV's plan), else all 2s.
    """
    if max_stride < MIN_TOTAL_STRIDE:
        raise ValueError(f"max_stride must be at least {MIN_TOTAL_STRIDE}, got {max_stride}")
    if height <= 0 or width <= 0 or height % MIN_TOTAL_STRIDE or width % MIN_TOTAL_STRIDE:
        raise ValueError(
            f"frame size {height}x{width} is not supported by the INR decoders: height and width "
            f"must be positive multiples of {MIN_TOTAL_STRIDE}; resize or crop the frames")
    common = math.gcd(height, width)
    odd = tuple(s for s in (5, 3) if common % s == 0)
    if odd:
        twos = (common // math.prod(odd)) & -(common // math.prod(odd))  # largest power of 2
        strides = odd + (2,) * min(twos.bit_length() - 1, PAPER_BLOCKS - len(odd))
    else:
        total = MIN_TOTAL_STRIDE
        while total * 2 <= max_stride and height % (total * 2) == 0 and width % (total * 2) == 0:
            total *= 2
        if total >= 64:
            strides = (4,) + (2,) * (total.bit_length() - 1 - 2)
        else:
            strides = (2,) * (total.bit_length() - 1)
    total = math.prod(strides)
    return height // total, width // total, strides


def explicit_stride_plan(height: int, width: int, strides: Sequence[int]) -> tuple[int, int, tuple[int, ...]]:
    """``(base_h, base_w, strides)`` for strides given in a config (e.g. HNeRV's (5, 4, 2, 2))."""
    strides = tuple(int(s) for s in strides)
    total = math.prod(strides)
    if not strides or min(strides) < 1 or height % total or width % total:
        raise ValueError(f"strides {strides} do not fit frames of {height}x{width}: their product "
                         f"{total} must divide both sides")
    return height // total, width // total, strides


class BudgetBelowSmallestNetwork(ValueError):
    """A parameter budget below the smallest network of a family; ``smallest`` holds that
    network's sizing arguments (e.g. ``{"channels": 4}``), which a caller may fall back to."""

    def __init__(self, message: str, smallest: dict):
        super().__init__(message)
        self.smallest = smallest


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


def solve_width(build: Callable[[int], nn.Module], target_params: int,
                lo: int = 1, hi: int = 4096) -> int:
    """Largest width in ``[lo, hi]`` whose model ``build(width)`` has ``<= target_params``.

    Models are built on the meta device, so even 100M-parameter candidates cost no memory.
    The parameter count must grow with the width (binary search). Returns ``hi`` when even
    ``hi`` fits; raises ValueError when ``lo`` does not.
    """
    if lo > hi:
        raise ValueError(f"solve_width needs lo <= hi, got lo={lo}, hi={hi}")

    def size(width: int) -> int:
        with torch.device("meta"):
            return count_parameters(build(width))

    smallest = size(lo)
    if smallest > target_params:
        raise BudgetBelowSmallestNetwork(
            f"target of {target_params} parameters is below the smallest model "
            f"(width {lo} has {smallest}); raise the target or lower `lo`", {"width": lo})
    if size(hi) <= target_params:
        return hi
    fits, too_big = lo, hi
    while too_big - fits > 1:
        mid = (fits + too_big) // 2
        if size(mid) <= target_params:
            fits = mid
        else:
            too_big = mid
    return fits
