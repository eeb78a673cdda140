# Inpainting benchmark (the D-NeRV paper's Table 10 protocol) on a prepared source:
# tools/inpaint_eval.py. Sized for one GPU on the built-in set at 256x320 (8 videos x 28
# frames); see configs/inpaint/cpu_demo.py for a CPU run and docs/inpainting.md.
_base_ = ['../_base_/fit.py']
default_scope = 'toolkit'
data_root = 'data/builtin'   # dataset root holding the sources; --source-root overrides
source = 'raw'               # the (unmasked) source to inpaint; --source overrides
split = 'test'               # None: every video; or 'train' / 'test'
videos = None                # or a list of video indices of the source
num_videos = 8               # evenly spaced over the selection (one per class on the built-in set)
seed = 0                     # masks and fits
launcher = 'none'
log_level = 'INFO'

# 5 square boxes of 50 px per frame at the source's size (the paper: 50 px at 384x768 on
# DAVIS; set reference_size=(384, 768) to keep the paper's hidden fraction instead).
masks = dict(
    num_boxes=5,
    box_size=50,
    reference_size=None,     # (H, W) at which box_size is given; None: the source's size
    per_frame=True,          # new boxes every frame; False: the same boxes on every frame
    fill=128,                # value of hidden pixels in what the models see (grey)
    mask_keyframes=True)     # D-NeRV's keyframes are the masked frames

# Fit settings shared by the models; a model's own `fit` keys replace these (shallow).
# One epoch shows every frame of a network's videos once, so per-video and shared
# networks see each frame equally often.
fit = dict(
    max_epochs=200, batch_size=8, num_workers=2, warmup_ratio=0.2, amp='bfloat16',
    optimizer=dict(type='Adam', lr=5e-4, betas=(0.5, 0.999)),
    checkpoint_interval=50, log_interval=50,
    # optional, declared so that --cfg-options can set them (a misspelt key is refused)
    model=dict(), compile=None, clip_grad=None, custom_hooks=[], max_time_s=None)
# (the Runner's own keys, optim_wrapper, param_scheduler and default_hooks: ../_base_/fit.py)

# The models: INR codecs with explicit widths (no bit budget here), per-video or shared
# networks. Parameters at 256x320, 8 videos of 28 frames: 14-19M per model in total.
models = dict(
    # NeRV, one network per video (the paper's NeRV): 8 x 2.3M
    nerv=dict(
        codec=dict(type='nerv', network=dict(channels=64, pe_levels=80, mlp_hidden=512)),
        per_video=True,
        fit=dict(batch_size=4, model=dict(loss=dict(l1=0.7, ssim=0.3)))),
    # NeRV, one network shared by all videos (the paper's NeRV*): 16.2M
    nerv_shared=dict(
        codec=dict(type='nerv', network=dict(channels=192, pe_levels=80, mlp_hidden=512)),
        per_video=False,
        fit=dict(model=dict(loss=dict(l1=0.7, ssim=0.3)))),
    # D-NeRV, one network shared by all videos, clips of 8 on the (masked) keyframes: 15.0M
    dnerv=dict(
        codec=dict(type='dnerv', clip_len=8, network=dict(fc_dim=160, pe_levels=240)),
        per_video=False,
        fit=dict(batch_size=2,
                 optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0),
                 model=dict(loss=dict(mse=1.0, ssim=0.03)))),
    # FFNeRV, one network per video (flow-guided aggregation, 8-bit QAT as in compression):
    # 8 x 1.75M
    ffnerv=dict(
        codec=dict(type='ffnerv', network=dict(channels=32, num_grids=2, min_channels=24, groups=8)),
        per_video=True,
        fit=dict(batch_size=4, num_workers=0, model=dict(qat_bits=8))),
)
