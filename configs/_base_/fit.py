# The Runner keys of every INR fit (compression and inpainting: toolkit/engine/fit.py).
# Each task's config sets the short keys beside them (max_epochs, batch_size, optimizer,
# amp, clip_grad, warmup_ratio, log_interval, checkpoint_interval, ...), from which the
# parts that must follow --cfg-options are filled in at fit time:
#   optim_wrapper    gets `optimizer` and `clip_grad`; on a GPU with `amp` an OptimWrapper
#                    becomes an AmpOptimWrapper of that dtype. Other keys are the wrapper's,
#                    e.g. fit.optim_wrapper.accumulative_counts=4
#   param_scheduler  None: a linear warmup over `warmup_ratio` of `max_epochs`, then cosine
#                    decay to 0 at `max_epochs`. A list of mmengine schedulers replaces it.
#   default_hooks    the logger's and checkpointer's `interval` default to `log_interval` and
#                    `checkpoint_interval`; a hook set to None is left out.
#   tf32             None: PyTorch's setting (on GPUs with TF32, convolutions in TF32 and
#                    matmuls in IEEE float32); False: IEEE float32 for both (the papers' RTX
#                    2080 Ti had no TF32); True: TF32 for both. Set while the fit trains and
#                    renders. It matters for float32 fits (amp=None); under autocast,
#                    convolutions and matmuls run in the autocast dtype.
#   sync_each_step   False: the losses are read back from the device only when the logger
#                    prints them (`LossReadAtLogging`), and on a GPU batches come from pinned
#                    memory and are copied without blocking, so the host need not wait for
#                    the GPU at each step. True: mmengine's way, each step's losses read as
#                    Python floats and its batch copied from pageable memory, both of which
#                    wait for the GPU (for timing the two against each other; what is fitted
#                    is the same).
fit = dict(
    optim_wrapper=dict(type='OptimWrapper'),
    param_scheduler=None,
    tf32=None,
    sync_each_step=False,
    default_hooks=dict(
        timer=dict(type='IterTimerHook'),
        logger=dict(type='LoggerHook'),
        param_scheduler=dict(type='ParamSchedulerHook'),
        checkpoint=dict(type='CheckpointHook', max_keep_ckpts=2, save_last=True),
        sampler_seed=dict(type='DistSamplerSeedHook')))
