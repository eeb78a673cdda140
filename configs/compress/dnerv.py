# D-NeRV (CVPR 2023): one network over all videos, clips of 8 conditioned on coded keyframes.
_base_ = ['./_base_/runtime.py']
codec = dict(
    type='dnerv', bits=8, clip_len=8,
    keyframe_share=0.6,                        # share of the bit budget for keyframes
    keyframe_settings=dict(codec='hevc', preset='medium'),   # HEVC intra (x265)
    network=dict(pe_levels=240, use_saf=True, use_gtmlp=True, use_flow=True))
fit = dict(
    max_epochs=300, batch_size=32, num_workers=2, warmup_ratio=0.2, amp='bfloat16',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0),
    model=dict(loss=dict(mse=1.0, ssim=0.03)),
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    # sources of more frames are read on demand from frames.npy in the work dir (written
    # once), so host memory stays bounded by the batch; None: always held in memory
    max_frames_in_memory=20000,
    checkpoint_interval=25, log_interval=50)
