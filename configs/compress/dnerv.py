# D-NeRV (CVPR 2023): one network over all videos, clips of 8 conditioned on coded keyframes.
# The network and fit recipe: ../_base_/recipes/dnerv.py; here what compression adds.
_base_ = ['./_base_/runtime.py', '../_base_/recipes/dnerv.py']
codec = dict(
    _base_.recipe_dnerv.codec, bits=8,
    keyframe_share=0.6,                        # share of the bit budget for keyframes
    keyframe_settings=dict(codec='hevc', preset='medium'),   # HEVC intra (x265)
    network=dict(_base_.recipe_dnerv.codec.network, use_saf=True, use_gtmlp=True, use_flow=True))
fit = dict(
    _base_.recipe_dnerv.fit,
    max_epochs=300, batch_size=32, num_workers=2,
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    # sources of more frames are read on demand from frames.npy in the work dir (written
    # once), so host memory stays bounded by the batch; None: always held in memory
    max_frames_in_memory=20000,
    checkpoint_interval=25, log_interval=50)
