# FFNeRV (ACM MM 2023): one network per video, flow-guided aggregation, 8-bit QAT.
_base_ = ['./_base_/runtime.py']
codec = dict(type='ffnerv', bits=8, network=dict(num_grids=2, min_channels=24, groups=8))
# Batches of one frame, as published (the first GPU runs used 16: one step per epoch on a
# 14-frame video). 300 epochs is the paper's representation setting (600 for compression).
fit = dict(
    max_epochs=300, batch_size=1, num_workers=0, warmup_ratio=0.2, amp='bfloat16',
    optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)),
    model=dict(qat_bits=8),
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    checkpoint_interval=100, log_interval=50)
