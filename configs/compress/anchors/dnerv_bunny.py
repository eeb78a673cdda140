# D-NeRV on Big Buck Bunny at the NeRV anchors' bit budgets: one clip of 8 frames a batch
# (batch 32 clips of 640x1280 frames does not fit a GPU), otherwise the UCF101 recipe.
_base_ = ['../dnerv.py']
fit = dict(batch_size=1, checkpoint_interval=50, log_interval=200)
