# NeRV, the D-NeRV paper's UCF101 baseline: one network over all videos, global time.
_base_ = ['./_base_/runtime.py']
codec = dict(type='nerv', bits=8, network=dict(pe_levels=80, mlp_hidden=512))
fit = dict(
    max_epochs=300, batch_size=16, num_workers=2, warmup_ratio=0.2, amp='bfloat16',
    optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)),
    model=dict(loss=dict(l1=0.7, ssim=0.3)),
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    checkpoint_interval=25, log_interval=50)
