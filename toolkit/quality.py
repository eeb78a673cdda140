"""Frame quality measures: PSNR and (MS-)SSIM on RGB frames in [0, 1].

One home for the image-quality arithmetic used by losses, metrics and reports.
SSIM uses an 11x11 Gaussian window (sigma 1.5) over the valid region; MS-SSIM the
standard 5 scales and weights. Frames too small for 5 scales (height or width
< 176) get plain SSIM, as the D-NeRV protocol does for small frames; callers can
ask :func:`ms_ssim_applies` which one a size gets.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

WINDOW = 11
SIGMA = 1.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR per image (N,) of (N, C, H, W) tensors."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


def _gaussian_window(device, dtype) -> torch.Tensor:
    """The 1-D Gaussian (WINDOW taps, SIGMA); the 2-D window is its outer product."""
    coords = torch.arange(WINDOW, device=device, dtype=dtype) - (WINDOW - 1) / 2
    gauss = torch.exp(-coords**2 / (2 * SIGMA**2))
    return gauss / gauss.sum()


def _blur(images: torch.Tensor) -> torch.Tensor:
    """Valid-region Gaussian blur of every channel: two 1-D passes (11 + 11 taps, not 121)."""
    channels = images.shape[1]
    gauss = _gaussian_window(images.device, images.dtype)
    rows = F.conv2d(images, gauss.view(1, 1, 1, WINDOW).expand(channels, 1, 1, WINDOW), groups=channels)
    return F.conv2d(rows, gauss.view(1, 1, WINDOW, 1).expand(channels, 1, WINDOW, 1), groups=channels)


def _ssim_and_contrast(x, y, data_range):
    # float32 with autocast off: under bf16/fp16 autocast the blurs would run in low
    # precision, and var = E[x^2] - E[x]^2 cancels catastrophically (losses then diverge)
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _ssim_and_contrast_fp32(x.float(), y.float(), data_range)


def _ssim_and_contrast_fp32(x, y, data_range):
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # the local means in two blurs: the target's alone, so that a loss against a fixed target
    # (no gradient) does not backpropagate through its two blurred channels
    mu_x, mean_xx, mean_xy = _blur(torch.cat([x, x * x, x * y], 1)).chunk(3, 1)
    mu_y, mean_yy = _blur(torch.cat([y, y * y], 1)).chunk(2, 1)
    var_x = mean_xx - mu_x**2
    var_y = mean_yy - mu_y**2
    cov = mean_xy - mu_x * mu_y
    contrast = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * contrast).flatten(1).mean(1), contrast.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Differentiable SSIM per image (N,) of (N, C, H, W) tensors."""
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW}, got {tuple(x.shape[-2:])}")
    return _ssim_and_contrast(x.float(), y.float(), data_range)[0]


def ms_ssim_applies(height: int, width: int) -> bool:
    return min(height, width) >= WINDOW * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """MS-SSIM per image (N,); plain SSIM for images too small for 5 scales."""
    x, y = x.float(), y.float()
    if not ms_ssim_applies(*x.shape[-2:]):
        return ssim(x, y, data_range)
    weights = torch.tensor(MS_SSIM_WEIGHTS, device=x.device)
    values = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        full, contrast = _ssim_and_contrast(x, y, data_range)
        values.append(full if level == len(MS_SSIM_WEIGHTS) - 1 else contrast)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(values, dim=1).clamp_min(0)  # (N, levels); relu as in common practice
    return torch.prod(stacked ** weights, dim=1)


# Working memory per pixel value of a frame pair during MS-SSIM, counted from the code (an
# estimate): about 30 float32 tensors of a frame's size live at once (the two frames, the
# five-way concatenation and its products, two blur passes, the local statistics).
# benchmarks/anchors records the measured peak beside it.
MEASURE_BYTES_PER_VALUE = 4 * 32


def frames_per_chunk(height: int, width: int, memory_bytes: float = 512 * 2**20) -> int:
    """Frames measured at once so that quality measurement stays within ``memory_bytes``."""
    return max(1, int(memory_bytes // (3 * height * width * MEASURE_BYTES_PER_VALUE)))


def frame_quality(reference: np.ndarray, decoded: np.ndarray, device="cpu",
                  memory_bytes: float = 512 * 2**20, with_ms_ssim: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-frame PSNR and MS-SSIM (SSIM for small frames; None without ``with_ms_ssim``) of
    uint8 videos (T, H, W, 3).

    Measured in chunks of frames so that memory stays bounded by ``memory_bytes`` whatever
    the video's length; every value is per frame, so chunking changes nothing.
    """
    if reference.shape != decoded.shape:
        raise ValueError(f"frame_quality: shapes differ, {reference.shape} and {decoded.shape}")
    chunk = frames_per_chunk(reference.shape[1], reference.shape[2], memory_bytes)
    psnrs, ssims = [], []
    for first in range(0, len(reference), chunk):
        ref = torch.from_numpy(reference[first:first + chunk]).to(device).permute(0, 3, 1, 2).float() / 255
        dec = torch.from_numpy(decoded[first:first + chunk]).to(device).permute(0, 3, 1, 2).float() / 255
        psnrs.append(psnr(dec, ref).cpu().numpy())
        if with_ms_ssim:
            ssims.append(ms_ssim(dec, ref).cpu().numpy())
        del ref, dec
    return np.concatenate(psnrs), np.concatenate(ssims) if with_ms_ssim else None


def masked_mean(per_sample: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of ``per_sample`` (N,) over the samples ``valid`` (N,) marks (all without it);
    weighted, not indexed: indexing by a mask needs its count on the host, a device sync."""
    if valid is None:
        return per_sample.mean()
    weights = valid.to(per_sample)
    return (per_sample * weights).sum() / weights.sum().clamp_min(1)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                        mse: float = 0.0, l1: float = 0.0, ssim_weight: float = 0.0) -> torch.Tensor:
    """Weighted MSE + L1 + (1 - SSIM) over images (..., 3, H, W); ``valid`` (...) masks images.

    D-NeRV on UCF101: mse=1, ssim_weight=0.03. NeRV/FFNeRV: l1=0.7, ssim_weight=0.3.
    Masked images are weighted out of the per-image means (``masked_mean``).
    """
    pred = pred.float().reshape(-1, *pred.shape[-3:])
    target = target.float().reshape(-1, *target.shape[-3:])
    keep = None if valid is None else valid.reshape(-1)
    loss = pred.new_zeros(())
    if mse:
        loss = loss + mse * masked_mean((pred - target).pow(2).mean(dim=(1, 2, 3)), keep)
    if l1:
        loss = loss + l1 * masked_mean((pred - target).abs().mean(dim=(1, 2, 3)), keep)
    if ssim_weight:
        loss = loss + ssim_weight * masked_mean(1 - ssim(pred, target), keep)
    return loss
