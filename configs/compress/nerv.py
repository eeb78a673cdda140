# NeRV, the D-NeRV paper's UCF101 baseline: one network over all videos, global time.
# The network and fit recipe: ../_base_/recipes/nerv.py; here what compression adds.
_base_ = ['./_base_/runtime.py', '../_base_/recipes/nerv.py']
codec = dict(_base_.recipe_nerv.codec, bits=8)
fit = dict(
    _base_.recipe_nerv.fit,
    max_epochs=300, batch_size=16, num_workers=2,
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    checkpoint_interval=25, log_interval=50)
