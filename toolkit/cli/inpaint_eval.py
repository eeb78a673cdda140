r"""Inpainting benchmark: fit INR models to masked videos and measure how they fill the holes.

Each frame loses random boxes (5 of 50 px by default); every model is fitted to the
masked videos with a loss that ignores the hidden pixels, and PSNR is measured on the
hidden area (and the whole frame) against the original. Writes results.json,
results.md, masks.json and a PNG panel per video. See docs/inpainting.md.

Examples::

    # every model of the default config on the built-in set (one GPU)
    python tools/inpaint_eval.py --source-root data/builtin
    # two models, a work dir, resume after an interruption
    python tools/inpaint_eval.py --source-root data/builtin --models nerv,dnerv \
        --work-dir work_dirs/inpaint_builtin --resume
    # a quick CPU demonstration (tiny networks, 3 epochs)
    python tools/inpaint_eval.py configs/inpaint/cpu_demo.py --source-root data/builtin
    # several GPUs (mmengine's pytorch launcher)
    torchrun --nproc_per_node 2 tools/inpaint_eval.py --source-root data/builtin --launcher pytorch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.data.source import SourceError
from toolkit.engine.config import (ConfigError, add_runner_arguments, find_config,
                                   load_config, parse_runner_args)
from toolkit.tasks.inpaint.masks import MaskError
from toolkit.paths import PathError, writable_dir


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="config file (default: configs/inpaint/default.py)")
    parser.add_argument("--models", help="comma-separated models of the config "
                                         "(default: all, e.g. nerv,nerv_shared,dnerv,ffnerv)")
    parser.add_argument("--source-root", help="dataset root holding the sources")
    parser.add_argument("--source", help="source to inpaint (default raw)")
    parser.add_argument("--work-dir", help="where masks, fits, results and panels go")
    parser.add_argument("--resume", action="store_true", help="resume interrupted fits")
    add_runner_arguments(parser, "fit.max_epochs=50 masks.per_frame=False")
    return parse_runner_args(parser, argv)


def build_config(args):
    path = Path(args.config) if args.config else find_config("inpaint", "default")
    # models.<name> entries are checked when the models are built (run_inpainting)
    cfg = load_config(path, args.cfg_options, extra_keys=("work_dir", "resume"),
                      open_keys=("models",))
    for key, value in (("data_root", args.source_root), ("source", args.source)):
        if value is not None:
            cfg[key] = value
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(
        Path("work_dirs") / "inpaint" / Path(cfg.data_root).name / cfg.source)
    cfg.resume = args.resume or cfg.get("resume", False)
    cfg.launcher = args.launcher
    writable_dir(cfg.work_dir, "work dir")
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        from toolkit.tasks.inpaint import run_inpainting

        results = run_inpainting(cfg, args.models)
    except (ConfigError, SourceError, MaskError, PathError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    if results:
        from toolkit.tasks.inpaint.report import format_rows, summary_rows

        print(format_rows(summary_rows(results)))
        print(f"results: {Path(cfg.work_dir) / 'results.md'} (panels in "
              f"{Path(cfg.work_dir) / 'panels'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
