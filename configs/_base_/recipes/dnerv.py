# D-NeRV's recipe (CVPR 2023): clips of 8 frames, AdamW, MSE + 0.03 (1 - SSIM). The one
# home of these numbers for configs/compress/dnerv.py and configs/inpaint/default.py (see
# ./nerv.py for how they use it).
# mean/std: the official train.py's UCF101 statistics, which normalise the keyframes and
# de-normalise the output. The network's default (0.5, 0.25), far from the mean of natural
# video (~0.38), cost 0.3-0.7 dB on real clips (issue 13); it stays the default because
# headers written before this state no mean/std and decode with it.
recipe_dnerv = dict(
    codec=dict(type='dnerv', clip_len=8,
               network=dict(pe_levels=240, mean=[0.3986, 0.3829, 0.3546],
                            std=[0.2805, 0.2747, 0.2787])),
    fit=dict(warmup_ratio=0.2, amp='bfloat16',
             optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0),
             model=dict(loss=dict(mse=1.0, ssim=0.03))))
