# NeRV as the HNeRV paper re-implements it for its NeRV row (Table 2; Big Buck Bunny,
# 640x1280 centre crop, 300 epochs, batch 2): positional encoding straight into an 8x16
# map, strides 5, 4, 2, 2, 3x3 kernels, widths halving to a floor of 12 from the first
# block on (expansion=None; the runs of 2026-11-28 used expansion=0.5, unfloored), 3x3 head;
# L2 loss, Adam lr 1e-3, 10 % warm-up from 0.1 then cosine. IEEE float32 as on the paper's
# RTX 2080 Ti (tf32=False; the fits up to 2026-11-28 had TF32 convolutions, PyTorch's default).
# The HNeRV code's input: frame times t = i / N and the encoding computed in float64
# (+0.02 to +0.17 dB over i / (N - 1) in float32 at 300 epochs; docs/results/anchors.md).
_base_ = ['../nerv.py']
codec = dict(network=dict(pe_levels=80, mlp_hidden=None, expansion=None, reduction=2.0,
                          min_channels=12, kernel_size=3, head_kernel=3, strides=(5, 4, 2, 2),
                          pe_rounding='float64', frame_times='open'))
fit = dict(
    max_epochs=300, batch_size=2, warmup_ratio=0.1, amp=None, tf32=False,
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999)),
    model=dict(loss=dict(_delete_=True, mse=1.0)),
    checkpoint_interval=50, log_interval=200)
