"""TSM ResNet-50 on UCF101: 8 segments, 224 crops, mmaction2's TSM schedule.

From scratch by default (``pretrained=None, pretrained2d=False``). To start from a
local checkpoint: ``--load-from tsm_kinetics400.pth`` (an mmaction2 TSM checkpoint;
the 400-way fc is skipped with a warning), or an ImageNet ResNet-50 in torchvision
format via ``--cfg-options model.backbone.pretrained=resnet50.pth
model.backbone.pretrained2d=True``.

lr 0.01 is for 64 clips per step (4 GPUs x 16); use ``--auto-scale-lr`` for other
batch sizes.
"""

_base_ = ['./_base_tsm.py']

num_segments = 8

model = dict(
    backbone=dict(depth=50, num_segments=num_segments),
    cls_head=dict(in_channels=2048, num_segments=num_segments, num_classes=101))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=num_segments),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224, scales=(1, 0.875, 0.75, 0.66),
         random_crop=False, max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=num_segments,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = val_pipeline

train_dataloader = dict(batch_size=16, num_workers=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=8, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(batch_size=16, num_workers=8, dataset=dict(pipeline=test_pipeline))

train_cfg = dict(max_epochs=50, val_interval=5)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', begin=0, end=50, by_epoch=True, milestones=[25, 45], gamma=0.1),
]

optim_wrapper = dict(
    constructor='TSMOptimWrapperConstructor',
    paramwise_cfg=dict(fc_lr5=True),
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=20, norm_type=2))

auto_scale_lr = dict(enable=False, base_batch_size=64)
