"""Gather finished TSM runs (tools/train_tsm.py) into a table like the paper's Table 8.

Prints the Markdown tables (top-1, top-5, mean class accuracy) and writes them with a
top-1 bar chart to <work-root>/tsm_results.{md,png} (or --out PREFIX.{md,png}).

    python tools/gather_tsm_results.py --work-root work_dirs/tsm/ucf101
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from toolkit.tasks.action import ActionError, gather


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-root", required=True, type=Path,
                        help="work root of tools/train_tsm.py (its --work-dir)")
    parser.add_argument("--out", type=Path, help="output prefix (default WORK_ROOT/tsm_results)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = gather(args.work_root, args.out)
    except ActionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.markdown)
    print(f"written: {report.markdown_path}, {report.chart_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
