"""Prepare the source ``raw`` of a dataset: resample, resize, store losslessly.

Examples::

    # UCF101, official split 1, the D-NeRV protocol (2 fps, 256x320)
    python tools/prepare_dataset.py ucf101 --root UCF-101 --splits-dir ucfTrainTestlist \
        --out data/ucf101 --fps 2 --size 256x320
    # HMDB51-style class folders, optional official split files
    python tools/prepare_dataset.py folders --root hmdb51 --out data/hmdb51
    # generic "relative/path label" lists (the built-in dataset is written this way)
    python tools/prepare_dataset.py list --root data/builtin_videos --out data/builtin
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from toolkit.data.layouts import LayoutError, class_folder_index, list_index, ucf101_index
from toolkit.data.prepare import RESIZE_MODES, PrepareConfig, prepare_source


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH, e.g. 256x320, got {text!r}")
    return height, width


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layout", choices=["ucf101", "folders", "list"], help="dataset layout")
    parser.add_argument("--root", required=True, help="directory holding the videos")
    parser.add_argument("--out", required=True, help="dataset root to write the source into")
    parser.add_argument("--name", default="raw", help="source name (default: raw)")
    parser.add_argument("--splits-dir", help="ucf101: classInd/trainlist/testlist folder; "
                                             "folders: HMDB51 split files (optional)")
    parser.add_argument("--split", type=int, default=1, help="official split number (default 1)")
    parser.add_argument("--train-list", help="list: train list (default ROOT/train.txt)")
    parser.add_argument("--test-list", help="list: test list (default ROOT/test.txt)")
    parser.add_argument("--classes", help="list: class names, one per line (default ROOT/classes.txt if present)")
    parser.add_argument("--fps", type=float, default=2.0, help="frame rate of the source (default 2)")
    parser.add_argument("--size", type=parse_size, default=(256, 320), help="HEIGHTxWIDTH (default 256x320)")
    parser.add_argument("--resize", choices=RESIZE_MODES, default="crop",
                        help="crop: keep aspect, scale to cover, centre crop (default); stretch")
    parser.add_argument("--workers", type=int, default=PrepareConfig.workers, help="parallel videos")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def build_index(args):
    root = Path(args.root)
    if args.layout == "ucf101":
        if not args.splits_dir:
            raise LayoutError("ucf101 needs --splits-dir (the folder with classInd.txt)")
        return ucf101_index(root, args.splits_dir, args.split)
    if args.layout == "folders":
        return class_folder_index(root, args.splits_dir, args.split)
    classes = args.classes or (root / "classes.txt" if (root / "classes.txt").is_file() else None)
    return list_index(root, args.train_list or root / "train.txt",
                      args.test_list or root / "test.txt", classes)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        index = build_index(args)
        config = PrepareConfig(fps=args.fps, height=args.size[0], width=args.size[1],
                               resize=args.resize, workers=args.workers)
        report = prepare_source(index, args.out, config, name=args.name,
                                progress=not args.no_progress)
    except (LayoutError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    for path, why in report.failures:
        print(f"failed: {why}", file=sys.stderr)
    if report.missing:
        print(f"{len(report.missing)} listed videos are not on disk "
              f"(see {report.source.root / 'missing.txt'})", file=sys.stderr)
    print(f"source written: {report.source.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
