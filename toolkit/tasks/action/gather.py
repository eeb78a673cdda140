"""Gather finished TSM runs into the layout of the paper's Table 8 (Markdown + bar chart).

Rows are codecs (raw, h264, hevc, nerv, dnerv, ffnerv, then any other), columns are
``train S/M/L`` and ``test S/M/L`` (other sizes after). The ``raw`` row is the
raw-trained model evaluated on raw, the same number in every column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.data.names import SourceName
from toolkit.runinfo import atomic_write_text
from toolkit.tasks.action.layout import REFERENCE_SOURCE, SETTINGS, ActionError, WorkLayout

ROW_ORDER = ("raw", "h264", "hevc", "nerv", "dnerv", "ffnerv")
SIZE_ORDER = ("S", "M", "L")
METRIC_TITLES = {"top1": "top-1", "top5": "top-5", "mean_class_accuracy": "mean class accuracy"}
NO_SIZE = "-"


def load_results(work_root) -> list[dict]:
    """Every finished run's results.json under a work root."""
    return [json.loads(p.read_text()) for p in WorkLayout(Path(work_root)).results_files()]


def _ordered(names, canonical) -> list:
    names = set(names)
    return [n for n in canonical if n in names] + sorted(names - set(canonical))


def _row_name(record: dict) -> str:
    return record.get("source_codec") or SourceName.parse(record["source"]).codec


def _size_name(record: dict) -> str:
    return record.get("source_size") or SourceName.parse(record["source"]).size or NO_SIZE


@dataclass(frozen=True)
class ResultTable:
    """One metric (in %) per (row, column); columns are (setting, size)."""

    metric: str
    rows: list[str]
    columns: list[tuple[str, str]]
    cells: dict[tuple[str, tuple[str, str]], float]

    def value(self, row: str, column: tuple[str, str]) -> float | None:
        return self.cells.get((row, column))

    def to_markdown(self) -> str:
        if not self.rows:
            why = " (top-5 needs at least 5 classes)" if self.metric == "top5" else ""
            return f"_no {METRIC_TITLES.get(self.metric, self.metric)} values{why}_"
        header = ["source"] + [f"{setting} {size}" for setting, size in self.columns]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            values = [self.value(row, c) for c in self.columns]
            cells = ["–" if v is None else f"{v:.1f}" for v in values]
            lines.append("| " + " | ".join([row, *cells]) + " |")
        return "\n".join(lines)


def build_table(records: list[dict], metric: str = "top1") -> ResultTable:
    """Arrange results into Table 8's rows and columns (later runs win on duplicates)."""
    sizes = _ordered({*SIZE_ORDER, *(_size_name(r) for r in records
                                     if r["source"] != REFERENCE_SOURCE)}, SIZE_ORDER)
    columns = [(setting, size) for setting in SETTINGS for size in sizes]
    cells = {}
    for record in sorted(records, key=lambda r: r.get("date", "")):
        value = record.get(metric)
        if value is None:
            continue
        if record["source"] == REFERENCE_SOURCE:
            cells.update({(REFERENCE_SOURCE, c): 100 * value for c in columns})
        else:
            cells[(_row_name(record), (record["setting"], _size_name(record)))] = 100 * value
    rows = _ordered({row for row, _ in cells}, ROW_ORDER)
    return ResultTable(metric, rows, columns, cells)


def plot_table(table: ResultTable, path) -> Path:
    """Grouped bars per column, one bar per codec; raw as a dashed line (Agg, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    codecs = [r for r in table.rows if r != REFERENCE_SOURCE]
    figure = Figure(figsize=(max(6.0, 1.2 * len(table.columns)), 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(codecs))
    for i, codec in enumerate(codecs):
        xs = [c + (i - (len(codecs) - 1) / 2) * width for c in range(len(table.columns))]
        ys = [table.value(codec, col) or 0.0 for col in table.columns]
        axes.bar(xs, ys, width=width, label=codec)
    reference = table.value(REFERENCE_SOURCE, table.columns[0])
    if reference is not None:
        axes.axhline(reference, color="black", linestyle="--", label=f"raw ({reference:.1f})")
    axes.set_xticks(range(len(table.columns)))
    axes.set_xticklabels([f"{s} {z}" for s, z in table.columns])
    axes.set_ylabel(f"{METRIC_TITLES.get(table.metric, table.metric)} (%)")
    axes.set_ylim(0, 100)
    axes.set_title("TSM: train = fitted on decoded, test = evaluated on decoded")
    axes.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


@dataclass(frozen=True)
class GatherReport:
    markdown: str
    markdown_path: Path
    chart_path: Path
    num_runs: int


def gather(work_root, out_prefix=None) -> GatherReport:
    """Tables of top-1, top-5 and mean-class accuracy plus a top-1 chart.

    Writes ``<out_prefix>.md`` and ``<out_prefix>.png`` (default ``<work_root>/tsm_results``).
    """
    work_root = Path(work_root)
    records = load_results(work_root)
    if not records:
        raise ActionError(f"no finished runs under {work_root} (no */results.json); "
                          f"run tools/train_tsm.py first or check --work-root")
    prefix = Path(out_prefix) if out_prefix else work_root / "tsm_results"
    sections = [f"# TSM action recognition ({len(records)} runs in {work_root})", "",
                "train: TSM fitted on the decoded source, evaluated on raw. "
                "test: TSM fitted on raw, evaluated on the decoded source. Accuracy in %.", ""]
    for metric, title in METRIC_TITLES.items():
        sections += [f"## {title}", "", build_table(records, metric).to_markdown(), ""]
    markdown = "\n".join(sections)
    markdown_path = atomic_write_text(prefix.with_name(prefix.name + ".md"), markdown)
    chart_path = plot_table(build_table(records, "top1"),
                            prefix.with_name(prefix.name + ".png"))
    return GatherReport(markdown, markdown_path, chart_path, len(records))
