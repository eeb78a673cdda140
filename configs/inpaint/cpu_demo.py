# A CPU demonstration of the inpainting benchmark: tiny networks, a few epochs, 3 videos.
# The numbers mean little; the run shows the pipeline and its outputs end to end.
#   python tools/inpaint_eval.py configs/inpaint/cpu_demo.py --source-root data/builtin
_base_ = ['./default.py']
num_videos = 3
fit = dict(max_epochs=3, batch_size=4, num_workers=0, checkpoint_interval=1, log_interval=10)
models = dict(
    nerv=dict(codec=dict(network=dict(channels=8, pe_levels=16, mlp_hidden=32, min_channels=4))),
    nerv_shared=dict(codec=dict(network=dict(channels=12, pe_levels=16, mlp_hidden=32,
                                             min_channels=4))),
    dnerv=dict(codec=dict(network=dict(fc_dim=8, pe_levels=16, mlp_hidden=32, min_width=4,
                                       encoder_dim=8))),
    ffnerv=dict(codec=dict(network=dict(channels=8, min_channels=4, groups=2))),
)
