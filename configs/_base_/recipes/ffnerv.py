# FFNeRV's recipe (ACM MM 2023): flow-guided aggregation over 2 multi-resolution grids, 8-bit
# quantisation-aware training. The one home of these numbers for configs/compress/ffnerv.py
# and configs/inpaint/default.py (see ./nerv.py for how they use it).
recipe_ffnerv = dict(
    codec=dict(type='ffnerv', network=dict(num_grids=2, min_channels=24, groups=8)),
    fit=dict(warmup_ratio=0.2, amp='bfloat16',
             optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)),
             model=dict(qat_bits=8)))
