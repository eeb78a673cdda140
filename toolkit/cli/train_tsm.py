"""Action recognition on decoded video: TSM in the two settings of the D-NeRV paper (Table 8).

  train setting: fit TSM on SOURCE's train list, evaluate on raw's test list.
  test setting:  fit TSM on raw's train list (once per work root, reused), evaluate on
                 SOURCE's test list.

Examples::

    python tools/train_tsm.py --data-root data/ucf101 --source dnerv_M --setting both
    python tools/train_tsm.py --data-root data/builtin --source h264_M --setting test \\
        --config configs/tsm/tsm_r18_builtin.py --cfg-options train_dataloader.num_workers=0
    torchrun --nproc_per_node 4 tools/train_tsm.py --launcher pytorch \\
        --data-root data/ucf101 --source raw --setting test
    python tools/train_tsm.py ... --resume      # continue an interrupted fit

Work root (default work_dirs/tsm/<dataset-root-name>, --work-dir overrides):
fit_<source>/ (checkpoints, logs), train_<source>/results.json, test_<source>/results.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


import torch

from toolkit.data.source import SourceError
from toolkit.engine.config import REPO_CONFIGS, add_runner_arguments, parse_runner_args
from toolkit.paths import PathError, writable_dir
from toolkit.tasks.action import (SETTING_CHOICES, ActionError, RunOptions,
                                  default_work_root, run)

DEFAULT_CONFIG = REPO_CONFIGS / "tsm" / "tsm_r50_ucf101.py"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True, help="dataset root holding the sources")
    parser.add_argument("--source", required=True, help="source to study, e.g. dnerv_M or raw")
    parser.add_argument("--setting", choices=SETTING_CHOICES, default="both",
                        help="train, test or both (default both)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="mmaction2 config (default configs/tsm/tsm_r50_ucf101.py)")
    parser.add_argument("--work-dir", type=Path,
                        help="work root (default work_dirs/tsm/<dataset-root-name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted fit from its last checkpoint")
    parser.add_argument("--load-from", help="initialise a new fit from this local checkpoint")
    parser.add_argument("--no-validate", action="store_true",
                        help="no validation during fitting (evaluation still runs)")
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision (GPU)")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale the lr by the real batch size (config's auto_scale_lr)")
    add_runner_arguments(parser, "train_cfg.max_epochs=5")
    return parse_runner_args(parser, argv)


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.amp and not torch.cuda.is_available():
        print("error: --amp needs a CUDA GPU (mmengine's AmpOptimWrapper); leave it out on a CPU",
              file=sys.stderr)
        return 2
    if args.load_from and not Path(args.load_from).is_file():
        print(f"error: --load-from {args.load_from}: no such file", file=sys.stderr)
        return 2
    options = RunOptions(
        config=args.config, data_root=Path(args.data_root),
        work_root=args.work_dir or default_work_root(args.data_root),
        cfg_options=dict(args.cfg_options), launcher=args.launcher, resume=args.resume,
        load_from=args.load_from, validate=not args.no_validate, amp=args.amp,
        auto_scale_lr=args.auto_scale_lr)
    try:
        writable_dir(options.work_root, "work dir")
        records = run(options, args.source, args.setting)
    except (SourceError, ActionError, PathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mmengine.dist import is_main_process

    if not is_main_process():
        return 0
    for r in records:
        print(f"{r['setting']} {r['source']} (fit {r['fit_source']}, eval {r['eval_source']}): "
              f"top-1 {_percent(r['top1'])}  top-5 {_percent(r['top5'])}  "
              f"mean class {_percent(r['mean_class_accuracy'])}  -> {r['work_dir']}/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
