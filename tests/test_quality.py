"""Quality measures under mixed precision: losses must not change with autocast."""

from __future__ import annotations

import torch

from toolkit.quality import ms_ssim, reconstruction_loss, ssim


def test_ssim_and_loss_are_float32_under_bf16_autocast():
    """Under autocast the SSIM blurs would run in bf16, where E[x^2] - E[x]^2 cancels
    catastrophically; the measures switch autocast off, so values and gradients match fp32."""
    torch.manual_seed(0)
    target = torch.rand(4, 3, 32, 40)
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_()
    reference = reconstruction_loss(pred, target, l1=0.7, ssim_weight=0.3)
    (reference_grad,) = torch.autograd.grad(reference, pred)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = reconstruction_loss(pred, target, l1=0.7, ssim_weight=0.3)
        assert torch.equal(ssim(pred, target), ssim(pred.detach(), target))
        assert ms_ssim(pred, target).dtype == torch.float32
    (mixed_grad,) = torch.autograd.grad(mixed, pred)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, reference, atol=1e-6)
    assert torch.allclose(mixed_grad, reference_grad, atol=1e-7)


def test_ssim_matches_scikit_image_gaussian_ssim():
    """An independent reference: scikit-image's Gaussian-weighted SSIM (sigma 1.5, 11 taps,
    population statistics, mean over the region the window fits in)."""
    import numpy as np
    from skimage.metrics import structural_similarity

    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 48, 64, generator=generator)
    y = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    ours = ssim(x, y)
    for i in range(2):
        a, b = (t[i].permute(1, 2, 0).double().numpy() for t in (x, y))
        _, full = structural_similarity(a, b, data_range=1.0, channel_axis=2, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False, full=True)
        reference = full[5:-5, 5:-5].mean()
        assert abs(ours[i].item() - reference) < 1e-5, (ours[i].item(), reference)
        assert np.isfinite(reference)


def test_long_video_measured_in_chunks_equals_measured_at_once():
    """frame_quality bounds memory by measuring a few frames at a time; per-frame values
    (PSNR, and MS-SSIM at a size that has all five scales) are the same as at once."""
    import numpy as np

    from toolkit.quality import frame_quality, frames_per_chunk, ms_ssim, psnr

    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (23, 176, 192, 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, reference.shape)
    decoded = np.clip(reference.astype(int) + noise, 0, 255).astype(np.uint8)
    budget = 3 * 176 * 192 * 4 * 32 * 4  # four frames a chunk
    assert frames_per_chunk(176, 192, budget) == 4
    chunked_psnr, chunked_ssim = frame_quality(reference, decoded, memory_bytes=budget)
    ref = torch.from_numpy(reference).permute(0, 3, 1, 2).float() / 255
    dec = torch.from_numpy(decoded).permute(0, 3, 1, 2).float() / 255
    assert chunked_psnr.shape == chunked_ssim.shape == (23,)
    np.testing.assert_allclose(chunked_psnr, psnr(dec, ref).numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(chunked_ssim, ms_ssim(dec, ref).numpy(), rtol=0, atol=1e-6)


def test_masked_loss_is_the_loss_of_the_kept_images_without_indexing_by_the_mask():
    """D-NeRV's padded frames are weighted out; the mask is never used to index (on a GPU that
    would read its count back: a device sync at every step)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        seen: set = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Ops.seen.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    target = torch.rand(2, 3, 3, 32, 40)
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_()
    valid = torch.tensor([[1, 1, 0], [1, 0, 0]])
    weights = dict(mse=1.0, l1=0.7, ssim_weight=0.3)
    with Ops():
        masked = reconstruction_loss(pred, target, valid, **weights)
    assert not {"nonzero", "masked_select", "index"} & Ops.seen, Ops.seen
    kept = reconstruction_loss(pred[valid.bool()], target[valid.bool()], **weights)
    assert torch.allclose(masked, kept, atol=1e-6)
    (grad,) = torch.autograd.grad(masked, pred)
    assert not grad[~valid.bool()].any()  # padded frames get no gradient
    nothing = reconstruction_loss(pred, target, torch.zeros_like(valid), **weights)
    assert nothing.item() == 0.0
