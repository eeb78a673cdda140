# NeRV as the NeRV paper fits Big Buck Bunny (full 720x1280, batch 1; NeRV-S/M/L =
# 3.2M / 6.3M / 12.5M parameters): 40 positional-encoding levels, an MLP of 512 to a 9x16
# map, strides 5, 2, 2, 2, 2, first block as wide as the map, then halving to a floor of
# 96, swish; 0.7 L1 + 0.3 (1 - SSIM), Adam lr 5e-4 betas (0.5, 0.999), 20 % warm-up.
# bf16 autocast (the project's default; SSIM stays float32): fp32 ran 223 of 300 epochs in
# the 7-minute budget of a GPU call (H100, 2026-11-28).
_base_ = ['../nerv.py']
codec = dict(network=dict(pe_levels=40, mlp_hidden=512, expansion=1.0, reduction=2.0,
                          min_channels=96, act='swish'))
fit = dict(max_epochs=300, batch_size=1, warmup_ratio=0.2, amp='bfloat16',
           checkpoint_interval=50, log_interval=500)
