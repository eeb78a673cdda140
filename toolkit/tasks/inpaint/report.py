"""Scoring filled-in videos against the originals, and the tables and pictures of a run.

PSNR is computed per frame and averaged over a video's frames: on the hidden pixels
only (the paper's measure), on the visible pixels (how well the fit reproduces what
it saw) and on the whole frame; all against the unmasked original.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from toolkit.quality import psnr
from toolkit.runinfo import atomic_write_bytes

METRICS = ("psnr_hidden", "psnr_full", "psnr_visible")
METRIC_TITLES = {"psnr_hidden": "PSNR on the hidden (masked) area, dB",
                 "psnr_full": "PSNR on the whole frame, dB",
                 "psnr_visible": "PSNR on the visible area, dB"}


def region_psnr(pred: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """PSNR (T,) over the pixels of ``region`` (T, H, W) bool of uint8 videos (T, H, W, 3).

    A frame whose region is empty gets NaN.
    """
    diff = pred.astype(np.float64) / 255 - target.astype(np.float64) / 255
    squared = (diff ** 2).sum(axis=-1)                      # (T, H, W), summed over RGB
    counts = region.reshape(len(region), -1).sum(axis=1) * 3
    sums = np.where(region, squared, 0.0).reshape(len(region), -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))


def score_video(original: np.ndarray, filled: np.ndarray, visible: np.ndarray) -> dict:
    """Per-frame PSNRs of one video and their means (keys of :data:`METRICS`)."""
    if filled.shape != original.shape:
        raise ValueError(f"filled video has shape {filled.shape}, the original {original.shape}")
    as_tensor = [torch.from_numpy(v).permute(0, 3, 1, 2).float() / 255 for v in (filled, original)]
    per_frame = {"psnr_hidden": region_psnr(filled, original, ~visible),
                 "psnr_visible": region_psnr(filled, original, visible),
                 "psnr_full": psnr(*as_tensor).double().numpy()}
    return {name: float(np.nanmean(per_frame[name])) for name in METRICS}


def mean_scores(per_video: Mapping[str, dict]) -> dict:
    return {name: float(np.mean([s[name] for s in per_video.values()])) for name in METRICS}


def markdown_tables(results: dict) -> str:
    """One Markdown table per metric: rows models, columns videos and their mean."""
    videos = [v["path"] for v in results["videos"]]
    headers = [Path(p).with_suffix("").as_posix() for p in videos]
    lines = [f"# Inpainting on `{results['source']}`", "",
             f"{len(videos)} videos; masks: {describe_masks(results['masks'])}.", ""]
    for metric in METRICS:
        lines += [f"## {METRIC_TITLES[metric]}", "",
                  "| model | " + " | ".join(headers) + " | mean |",
                  "|---" * (len(headers) + 2) + "|"]
        for name, model in results["models"].items():
            cells = [f"{model['per_video'][p][metric]:.2f}" for p in videos]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | **{model['mean'][metric]:.2f}** |")
        lines.append("")
    return "\n".join(lines)


def describe_masks(masks: dict) -> str:
    spec = masks["spec"]
    motion = "new boxes every frame" if spec["per_frame"] else "the same boxes on every frame"
    keyframes = "masked" if spec["mask_keyframes"] else "unmasked"
    return (f"{spec['num_boxes']} boxes of {masks['box_side']} px, {motion}, "
            f"{100 * masks['hidden_fraction']:.1f}% of pixels hidden, seed {spec['seed']}, "
            f"D-NeRV keyframes {keyframes}")


def summary_rows(results: dict) -> list[tuple[str, ...]]:
    """The short table the tool prints: model, mean PSNRs, parameters, fit time."""
    rows = [("model", "hidden dB", "full dB", "visible dB", "params", "fit s")]
    for name, model in results["models"].items():
        mean = model["mean"]
        rows.append((name, f"{mean['psnr_hidden']:.2f}", f"{mean['psnr_full']:.2f}",
                     f"{mean['psnr_visible']:.2f}", f"{model['parameters'] / 1e6:.2f}M",
                     f"{model['fit_time_s']:.1f}"))
    return rows


def format_rows(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def save_panel(path, title: str, original: np.ndarray, masked: np.ndarray,
               fills: Mapping[str, np.ndarray], boxes: np.ndarray,
               hidden_psnr: Mapping[str, float]) -> None:
    """One row of frames (H, W, 3): original, masked input, each model's output.

    The hidden boxes are outlined on the model outputs; titles give each output's
    hidden-area PSNR on this frame.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    panels = [("original", original, False), ("masked input", masked, False)]
    panels += [(f"{name}\n{hidden_psnr[name]:.2f} dB hidden", frame, True)
               for name, frame in fills.items()]
    height, width = original.shape[:2]
    scale = max(2.5 / width, 1.6 / height, 1 / 100)          # inches per pixel
    figure = Figure(figsize=(len(panels) * width * scale, height * scale + 0.9))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, image, outline) in zip(axes, panels):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
        if outline:
            for top, left, box_h, box_w in boxes:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), box_w, box_h, fill=False,
                                       edgecolor="yellow", linewidth=0.8, linestyle="--"))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())
