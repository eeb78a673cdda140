# Inpainting benchmark (the D-NeRV paper's Table 10 protocol) on a prepared source:
# tools/inpaint_eval.py. Sized for one GPU on the built-in set at 256x320 (8 videos x 28
# frames); see configs/inpaint/cpu_demo.py for a CPU run and docs/inpainting.md.
# Each model is an INR codec fitted by its codec's recipe (../_base_/recipes/, shared with
# configs/compress/), with what differs for inpainting: explicit widths, per-video or shared
# networks, batch size.
_base_ = ['../_base_/fit.py', '../_base_/recipes/nerv.py', '../_base_/recipes/dnerv.py',
          '../_base_/recipes/ffnerv.py']
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

# Fit settings of the task, shared by the models; a model's own `fit` (its codec's recipe:
# optimizer, warmup_ratio, amp, model, and what it changes here) adds to these keys or
# replaces them (shallow). One epoch shows every frame of a network's videos once, so
# per-video and shared networks see each frame equally often.
fit = dict(
    max_epochs=200, batch_size=8, num_workers=2, checkpoint_interval=50, log_interval=50,
    # optional, declared so that --cfg-options can set them (a misspelt key is refused)
    compile=None, clip_grad=None, custom_hooks=[], max_time_s=None)
# (the Runner's own keys, optim_wrapper, param_scheduler and default_hooks: ../_base_/fit.py)

# The models: INR codecs with explicit widths (no bit budget here), per-video or shared
# networks. Parameters at 256x320, 8 videos of 28 frames: 14-19M per model in total.
models = dict(
    # NeRV, one network per video (the paper's NeRV): 8 x 2.3M
    nerv=dict(
        codec=dict(_base_.recipe_nerv.codec,
                   network=dict(_base_.recipe_nerv.codec.network, channels=64)),
        per_video=True,
        fit=dict(_base_.recipe_nerv.fit, batch_size=4)),
    # NeRV, one network shared by all videos (the paper's NeRV*): 16.2M
    nerv_shared=dict(
        codec=dict(_base_.recipe_nerv.codec,
                   network=dict(_base_.recipe_nerv.codec.network, channels=192)),
        per_video=False,
        fit=dict(_base_.recipe_nerv.fit)),
    # D-NeRV, one network shared by all videos, clips of 8 on the (masked) keyframes: 15.0M
    dnerv=dict(
        codec=dict(_base_.recipe_dnerv.codec,
                   network=dict(_base_.recipe_dnerv.codec.network, fc_dim=160)),
        per_video=False,
        fit=dict(_base_.recipe_dnerv.fit, batch_size=2)),
    # FFNeRV, one network per video (flow-guided aggregation, 8-bit QAT as in compression):
    # 8 x 1.75M
    ffnerv=dict(
        codec=dict(_base_.recipe_ffnerv.codec,
                   network=dict(_base_.recipe_ffnerv.codec.network, channels=32)),
        per_video=True,
        fit=dict(_base_.recipe_ffnerv.fit, batch_size=4, num_workers=0)),
)
