"""Gather compression results into a Markdown table and a rate-distortion PNG.

    python tools/report_compression.py data/builtin data/ucf101 --out docs/results/rd.png
    (arguments: dataset roots, whose decoded sources hold manifests, or JSON-lines files)
"""

from __future__ import annotations

import argparse
import sys


from toolkit.reports import load_results, markdown_table, plot_rate_distortion


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="dataset roots or results .jsonl files")
    parser.add_argument("--out", default="rd.png", help="PNG path (the table is printed)")
    args = parser.parse_args(argv)
    rows = load_results(args.inputs)
    if not rows:
        print("error: no compressed sources found in " + ", ".join(args.inputs), file=sys.stderr)
        return 2
    print(markdown_table(rows))
    print(f"rate-distortion plot: {plot_rate_distortion(rows, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
