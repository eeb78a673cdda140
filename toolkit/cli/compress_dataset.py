"""Compress a source with one codec at one operating point and decode it into a new source.

Examples::

    # common case: the nerv config, size M, on a prepared dataset root
    python tools/compress_dataset.py --source-root data/builtin --codec nerv --size M
    # a config file with overrides, a work dir, resume after an interruption
    python tools/compress_dataset.py configs/compress/dnerv.py --source-root data/ucf101 \
        --size L --cfg-options fit.max_epochs=800 --work-dir work_dirs/dnerv_L --resume
    # several GPUs (mmengine's pytorch launcher)
    torchrun --nproc_per_node 4 tools/compress_dataset.py --codec dnerv --size M \
        --source-root data/ucf101 --launcher pytorch
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolkit.codecs.bitstream import BitstreamError
from toolkit.data.names import SourceName
from toolkit.data.source import SourceError
from toolkit.data.video import VideoError
from toolkit.engine.workdir import WorkDirError
from toolkit.engine.config import (ConfigError, add_runner_arguments, find_config,
                                   load_config, parse_runner_args, positive)
from toolkit.paths import PathError, writable_dir


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="config file (default: configs/compress/<codec>.py)")
    parser.add_argument("--codec", help="nerv, dnerv, ffnerv, h264 or hevc (picks the config)")
    parser.add_argument("--size", help="operating point: S, M or L")
    parser.add_argument("--source-root", help="dataset root holding the sources")
    parser.add_argument("--source", help="source to compress (default raw)")
    parser.add_argument("--work-dir", help="where the bitstream, checkpoints and results go")
    parser.add_argument("--resume", action="store_true", help="resume an interrupted fit")
    parser.add_argument("--refit", action="store_true",
                        help="discard the work dir's fits (and prepared keyframes) and fit again")
    add_runner_arguments(parser, "fit.max_epochs=50")
    return parse_runner_args(parser, argv)


def build_config(args):
    if args.config is None and args.codec is None:
        raise ConfigError("give a config file or --codec (nerv, dnerv, ffnerv, h264, hevc)")
    path = Path(args.config) if args.config else find_config("compress", args.codec)
    # codec=dict(...) is checked by the codec's constructor (its network's keys included)
    cfg = load_config(path, args.cfg_options, extra_keys=("work_dir", "resume", "refit", "output"),
                      open_keys=("codec",))
    if args.codec and cfg.codec["type"] != args.codec:
        raise ConfigError(f"--codec {args.codec} does not match the config's codec {cfg.codec['type']}")
    for key, value in (("size", args.size), ("data_root", args.source_root), ("source", args.source)):
        if value is not None:
            cfg[key] = value
    positive(cfg.get("target_bpp"), "target_bpp", optional=True)
    if "max_epochs" in cfg.get("fit", {}):
        positive(cfg.fit.max_epochs, "fit.max_epochs", integer=True)
        positive(cfg.fit.batch_size, "fit.batch_size", integer=True)
    if cfg.size not in cfg.sizes and cfg.get("target_bpp") is None:
        raise ConfigError(f"unknown size {cfg.size!r}; available: {', '.join(cfg.sizes)}")
    name = SourceName(cfg.codec["type"], cfg.size).format()
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(
        Path("work_dirs") / "compress" / Path(cfg.data_root).name / name)
    cfg.resume = args.resume or cfg.get("resume", False)
    cfg.refit = args.refit or cfg.get("refit", False)
    cfg.launcher = args.launcher
    # before any fit: the bitstream goes to the work dir, the decoded source to the root
    writable_dir(cfg.work_dir, "work dir")
    if Path(cfg.data_root).is_dir():  # (a missing root is reported with its sources)
        writable_dir(cfg.data_root, "dataset root")
    return cfg


def print_table(summary: dict) -> None:
    fps = summary.get("decode_throughput", {}).get("fps", {})
    rows = [("source", summary["source"]), ("bpp", f"{summary['bpp']:.4f}"),
            ("PSNR (dB)", f"{summary['psnr']:.2f}"),
            (summary["ms_ssim_kind"].upper().replace("_", "-"), f"{summary['ms_ssim']:.4f}"),
            ("bitstream bytes", summary["bitstream"]["bytes"]),
            ("fit time (s)", f"{summary['fit_time_s']:.1f}")]
    rows += [(f"decode fps {k}", f"{v:.1f}") for k, v in fps.items()]
    rows.append(("device", summary["device"]))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        from toolkit.tasks.compress import compress_source

        summary = compress_source(cfg)
    except (ConfigError, SourceError, PathError, BitstreamError, VideoError, WorkDirError, KeyError,
            FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    if summary:
        print_table(summary)
        print(f"decoded source: {Path(cfg.data_root) / summary['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
