"""Tables and figures of compression results, from the decoded sources' manifests."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.data.names import SourceName

CODEC_ORDER = ("dnerv", "ffnerv", "nerv", "h264", "hevc")
SIZE_ORDER = ("S", "M", "L")


def load_results(paths) -> list[dict]:
    """Compression results from manifests under dataset roots, or from JSON-lines files."""
    rows = []
    for path in map(Path, paths):
        if path.is_dir():
            for manifest in sorted(path.glob("*/manifest.json")):
                data = json.loads(manifest.read_text())
                if data.get("codec") not in (None, "raw") and "bpp" in data:
                    rows.append(dict(data, dataset=path.name, source=data["name"]))
        else:
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def _sort_key(row):
    codec = CODEC_ORDER.index(row["codec"]) if row["codec"] in CODEC_ORDER else len(CODEC_ORDER)
    size = SIZE_ORDER.index(row["size"]) if row.get("size") in SIZE_ORDER else len(SIZE_ORDER)
    return row.get("dataset", ""), codec, size


def curve_label(row: dict) -> str:
    """A curve per codec variant: the source name without its size (nerv_M_ddp -> nerv_ddp).

    Classical codecs run at the bpp of INR sources (named ``<codec>_at_<INR source>``) form
    one curve per codec, ``<codec> at INR bpp``, whichever INR set each point.
    """
    return SourceName.parse(row["source"]).curve


def spread(values: list[float], published: float | None = None) -> dict:
    """Runs that differ only in their seed: their mean, standard deviation and error, range,
    and how many reach ``published`` (a paper's value, one run), where there is one."""
    import statistics

    sd = statistics.stdev(values) if len(values) > 1 else None
    return dict(runs=len(values), values=list(values), mean=statistics.fmean(values), sd=sd,
                se=sd / len(values) ** 0.5 if sd is not None else None, low=min(values),
                high=max(values), published=published,
                above=sum(v >= published for v in values) if published else None)


def spread_cells(row: dict, digits: int = 2) -> str:
    """A ``spread`` as markdown cells: mean (s.e.) | sd | range | published | k of n."""
    se = f" ({row['se']:.{digits}f})" if row["se"] is not None else ""
    sd = f"{row['sd']:.{digits}f}" if row["sd"] is not None else "-"
    above = f"{row['above']} of {row['runs']}" if row["above"] is not None else "-"
    return (f"{row['mean']:.{digits}f}{se} | {sd} | {row['low']:.{digits}f} to "
            f"{row['high']:.{digits}f} | {row['published'] or '-'} | {above}")


def markdown_table(rows: list[dict]) -> str:
    lines = ["| dataset | source | codec | size | bpp | PSNR (dB) | MS-SSIM | params | fit (s) | decode fps (bf16, network) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=_sort_key):
        fps = row.get("decode_throughput", {}).get("fps", {}).get("bfloat16_network")
        kind = "" if row.get("ms_ssim_kind", "ms_ssim") == "ms_ssim" else " (SSIM)"
        lines.append(
            f"| {row.get('dataset', '')} | {row['source']} | {row['codec']} | {row.get('size')} "
            f"| {row['bpp']:.4f} | {row['psnr']:.2f} | {row['ms_ssim']:.4f}{kind} "
            f"| {row.get('parameters', '-')} | {row.get('fit_time_s', 0):.0f} "
            f"| {f'{fps:.0f}' if fps else '-'} |")
    return "\n".join(lines) + "\n"


def plot_rate_distortion(rows: list[dict], path) -> Path:
    """PSNR vs bpp, one curve per codec, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r.get("dataset", "") for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        subset = [r for r in rows if r.get("dataset", "") == dataset]
        labels = {curve_label(r): r["codec"] for r in subset}
        for label in sorted(labels, key=lambda l: (_sort_key({"codec": labels[l]}), l)):
            points = sorted((r["bpp"], r["psnr"], r.get("size")) for r in subset if curve_label(r) == label)
            codec = labels[label]
            color = f"C{CODEC_ORDER.index(codec)}" if codec in CODEC_ORDER else None
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label,
                    color=color, linestyle="-" if label == codec else "--")
            for bpp, value, size in points:
                ax.annotate(size or "", (bpp, value), textcoords="offset points", xytext=(3, 3), fontsize=7)
        rates = [r["bpp"] for r in subset]
        if max(rates) > 4 * min(rates):  # operating points an order of magnitude apart
            from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter

            ax.set_xscale("log")
            ticks = [t * 10.0**e for e in range(-3, 2) for t in (1, 2, 5)]
            ax.xaxis.set_major_locator(FixedLocator(
                [t for t in ticks if min(rates) / 1.5 <= t <= max(rates) * 1.5]))
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(title=dataset or "results", xlabel="bits per pixel (from the bitstream file)",
               ylabel="PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
