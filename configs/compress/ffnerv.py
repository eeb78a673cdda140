# FFNeRV (ACM MM 2023): one network per video, flow-guided aggregation, 8-bit QAT.
# The network and fit recipe: ../_base_/recipes/ffnerv.py; here what compression adds.
_base_ = ['./_base_/runtime.py', '../_base_/recipes/ffnerv.py']
codec = dict(_base_.recipe_ffnerv.codec, bits=8)
# Batches of one frame, as published (the first GPU runs used 16: one step per epoch on a
# 14-frame video). 300 epochs is the paper's representation setting (600 for compression).
fit = dict(
    _base_.recipe_ffnerv.fit,
    max_epochs=300, batch_size=1, num_workers=0,
    # enabled=True: the training loss (network + loss) is compiled; other keys go to torch.compile
    compile=dict(enabled=False, backend='inductor', mode=None),
    checkpoint_interval=100, log_interval=50)
