"""Inpainting with INR models (the D-NeRV paper's Table 10): see docs/inpainting.md.

Masks (:mod:`.masks`), masked datasets for the fits (:mod:`.data`), the benchmark run
(:mod:`.benchmark`) and its scores, tables and pictures (:mod:`.report`).
"""

from toolkit.tasks.inpaint.benchmark import (InpaintModel, choose_videos, fit_networks,
                                             parse_models, render_videos, run_inpainting)
from toolkit.tasks.inpaint.data import MaskedSourceClips, MaskedSourceFrames
from toolkit.tasks.inpaint.masks import (MaskError, MaskSet, MaskSpec, apply_mask, draw_boxes,
                                         prepare_masks, visible_mask)
from toolkit.tasks.inpaint.report import markdown_tables, region_psnr, score_video

__all__ = [
    "InpaintModel", "MaskError", "MaskSet", "MaskSpec", "MaskedSourceClips", "MaskedSourceFrames",
    "apply_mask", "choose_videos", "draw_boxes", "fit_networks", "markdown_tables",
    "parse_models", "prepare_masks", "region_psnr", "render_videos", "run_inpainting",
    "score_video", "visible_mask",
]
