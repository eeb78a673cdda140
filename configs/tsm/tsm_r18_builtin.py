"""TSM ResNet-18 for the built-in dataset: a CPU demo that learns from scratch.

Classes are motion patterns, some mirror images of each other (pan_left/pan_right,
rotate_cw/rotate_ccw), so there is no Flip augmentation. Frames are resized to 64x80
(height x width). On tiny from-scratch data mmaction2's SGD recipe stays at chance;
AdamW lr 1e-3 with a cosine schedule learns, given random multi-scale crops and 60
epochs (30 epochs with fixed-position crops stayed near chance on the built-in set).
See docs/action_recognition.md.
"""

_base_ = ['./_base_tsm.py']

num_segments = 8
input_hw = (64, 80)
input_wh = (input_hw[1], input_hw[0])  # mmaction2's Resize/crop sizes are (w, h)

model = dict(
    backbone=dict(depth=18, num_segments=num_segments),
    cls_head=dict(in_channels=512, num_segments=num_segments, num_classes=8))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=input_wh, keep_ratio=False),
    dict(type='MultiScaleCrop', input_size=input_wh, scales=(1, 0.875, 0.75, 0.66),
         random_crop=True, max_wh_scale_gap=1),
    dict(type='Resize', scale=input_wh, keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=num_segments,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=input_wh, keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = val_pipeline

train_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(pipeline=test_pipeline))

max_epochs = 60
train_cfg = dict(max_epochs=max_epochs, val_interval=10)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=1e-5, by_epoch=True, begin=2,
         end=max_epochs),
]

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(logger=dict(interval=5))

auto_scale_lr = dict(enable=False, base_batch_size=8)
