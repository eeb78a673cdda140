# D-NeRV's recipe (CVPR 2023): clips of 8 frames, AdamW, MSE + 0.03 (1 - SSIM). The one
# home of these numbers for configs/compress/dnerv.py and configs/inpaint/default.py (see
# ./nerv.py for how they use it).
recipe_dnerv = dict(
    codec=dict(type='dnerv', clip_len=8, network=dict(pe_levels=240)),
    fit=dict(warmup_ratio=0.2, amp='bfloat16',
             optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0),
             model=dict(loss=dict(mse=1.0, ssim=0.03))))
