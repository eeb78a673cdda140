# NeRV as the NeRV paper fits Big Buck Bunny (full 720x1280, batch 1; NeRV-S/M/L =
# 3.2M / 6.3M / 12.5M parameters): 40 positional-encoding levels, an MLP of 512 to a 9x16
# map, strides 5, 2, 2, 2, 2, first block as wide as the map, then halving to a floor of
# 96, swish; 0.7 L1 + 0.3 (1 - SSIM), Adam lr 5e-4 betas (0.5, 0.999), 20 % warm-up.
# float32 as the paper (its RTX 2080 Ti had no TF32, so IEEE float32 convolutions too:
# tf32=False); the fits up to 2026-11-28 ran bf16 autocast or float32 with TF32 convolutions
# (PyTorch's default on an H100/H200): docs/results/anchors.md says which.
_base_ = ['../nerv.py']
# The official code's frame times, t = i / N (its CustomDataSet; benchmarks/peer_nerv.py).
codec = dict(network=dict(pe_levels=40, mlp_hidden=512, expansion=1.0, reduction=2.0,
                          min_channels=96, act='swish', frame_times='open'))
fit = dict(max_epochs=300, batch_size=1, warmup_ratio=0.2, amp=None, tf32=False,
           checkpoint_interval=50, log_interval=500)
