# Shared settings of the compression stage (tools/compress_dataset.py).
_base_ = ['../../_base_/fit.py']
data_root = 'data/builtin'   # dataset root holding the sources; --source-root overrides
source = 'raw'               # the source to compress (and to measure quality against)
size = 'M'                   # operating point, a key of `sizes`
# Nominal bits per pixel of S/M/L: the D-NeRV paper's UCF101 points. INR networks are
# sized to fit this budget; classical codecs match the bpp an INR actually reached.
sizes = dict(S=0.056, M=0.067, L=0.081)
target_bpp = None            # set to override the operating point
match_bpp_of = []            # classical codecs: sources whose measured bpp to match
split = None                 # None: every video of the source; or 'train' / 'test'
videos = None                # or a list of video indices
workers = 4                  # parallel encoders (classical codecs, keyframes)
seed = 0
launcher = 'none'
# Decode throughput (INR codecs): precisions and timed passes.
throughput = dict(dtypes=('float32', 'bfloat16'), repeats=3, warmup=1)
log_level = 'INFO'
# Optional fit settings of the INR codecs (each codec's config sets the rest of `fit`),
# declared here so that --cfg-options can set them and a misspelt key is refused:
# clip_grad=dict(max_norm=...), extra mmengine hooks, and a time limit per fit.
# The Runner's own keys (optim_wrapper, param_scheduler, default_hooks): ../../_base_/fit.py
fit = dict(clip_grad=None, custom_hooks=[], max_time_s=None)
