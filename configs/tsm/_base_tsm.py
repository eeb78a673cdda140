"""Settings shared by the TSM configs in this folder (not meant to be run on its own).

mmaction2 scope, mmengine Python-config style. ``tools/train_tsm.py`` fills the data
paths (``ann_file``, ``data_prefix``), ``model.cls_head.num_classes`` and ``work_dir``
from ``--data-root/--source/--setting``; ``--cfg-options`` overrides anything after that.
"""

default_scope = 'mmaction'

model = dict(
    type='Recognizer2D',
    backbone=dict(
        type='ResNetTSM',
        depth=50,
        # from scratch unless a checkpoint is given (--load-from, or
        # model.backbone.pretrained=<torchvision ResNet file> with pretrained2d=True)
        pretrained=None,
        pretrained2d=False,
        norm_eval=False,
        num_segments=8,
        shift_div=8),
    cls_head=dict(
        type='TSMHead',
        num_classes=101,  # set from the source's classes.txt by the tool
        in_channels=2048,
        num_segments=8,
        spatial_type='avg',
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.5,
        init_std=0.001,
        is_shift=True,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))

dataset_type = 'VideoDataset'
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file='', data_prefix=dict(video=''), pipeline=[]))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file='', data_prefix=dict(video=''), pipeline=[],
                 test_mode=True))
test_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file='', data_prefix=dict(video=''), pipeline=[],
                 test_mode=True))

# top-5 is dropped by the tool when a dataset has fewer than 5 classes
val_evaluator = dict(type='AccMetric', metric_list=('top_k_accuracy', 'mean_class_accuracy'),
                     metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # every epoch, so --resume loses little; the final epoch is the evaluated model
    # (no best-checkpoint selection: validation runs on a test list)
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
