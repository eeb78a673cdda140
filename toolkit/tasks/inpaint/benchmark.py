"""The inpainting benchmark: fit INR models to masked videos, score how they fill the holes.

``run_inpainting(cfg, models)`` (configs/inpaint/):

1. Choose the videos, draw their masks (``masks.json``, checked on a rerun).
2. For each model (``cfg.models[name]``: an INR codec with explicit widths, per-video or
   shared networks, fit settings), let the codec plan its networks, fit them with the
   fitting service (:func:`toolkit.engine.fit.fit_networks`: mmengine Runner, AMP,
   checkpoints, resume, torchrun) on the masked datasets of
   :mod:`toolkit.tasks.inpaint.data` (mask-aware loss), then render every video with the
   codec (:meth:`~toolkit.codecs.inr.codec.INRCodec.render_fitted`).
3. Score each rendered video against the unmasked original (hidden area, visible
   area, whole frame), write ``results.json``, ``results.md`` and a PNG panel per video.

Work directory::

    <work_dir>/masks.json  results.json  results.md  panels/<video>.png
    <work_dir>/<model>/jobs.json  [keyframes_<job>.npz]  fit/<job>/...  (the fitting service's)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from toolkit.codecs.base import FitJob
from toolkit.codecs.inr.codec import INRCodec
from toolkit.codecs.inr.keyframes import load_keyframes
from toolkit.codecs.layout import BitstreamLayout
from toolkit.data.source import Source
from toolkit.engine.config import ConfigError, build_codec, positive
from toolkit.engine.datasets import select_videos
from toolkit.engine.fit import Fitted
from toolkit.paths import PathError, plain_name
from toolkit.registry import CODECS
from toolkit.runinfo import atomic_write_json, atomic_write_text, run_facts
from toolkit.tasks.inpaint import report
from toolkit.tasks.inpaint.data import save_masked_keyframes  # also registers the datasets
from toolkit.tasks.inpaint.masks import MASKS_FILE, MaskSet, MaskSpec, apply_mask, prepare_masks

MODEL_KEYS = ("codec", "per_video", "fit")
#: Fit keys each model takes from its codec's recipe (configs/_base_/recipes/, shared with the
#: compression configs) in its own ``fit``, never from the shared one.
RECIPE_FIT_KEYS = ("optimizer", "warmup_ratio", "amp", "model")


@dataclass
class InpaintModel:
    """One benchmark entry: an INR codec (explicit widths), how its networks split the videos,
    and its fit settings (the shared ``fit`` with the model's own ``fit`` keys on top)."""

    name: str
    codec_cfg: dict
    codec: INRCodec
    per_video: bool
    fit: dict

    @classmethod
    def from_config(cls, name: str, entry: dict, shared_fit: dict) -> "InpaintModel":
        where = f"models.{name}"
        try:
            plain_name(name, "model name")  # its fits go to <work_dir>/<name>
        except PathError as exc:
            raise ConfigError(str(exc)) from None
        unknown = sorted(set(entry) - set(MODEL_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; known: {', '.join(MODEL_KEYS)}")
        if "codec" not in entry:
            raise ConfigError(f"{where}: set codec=dict(type='nerv'|'dnerv'|'ffnerv', network=...)")
        codec_cfg = _plain(entry["codec"])
        inr_codecs = sorted(key for key, cls in CODECS.module_dict.items()
                            if isinstance(cls, type) and issubclass(cls, INRCodec))
        if codec_cfg.get("type") not in inr_codecs:
            raise ConfigError(f"{where}: codec type {codec_cfg.get('type')!r} is not an INR codec; "
                              f"use one of {', '.join(inr_codecs)}")
        codec = build_codec(codec_cfg)
        if codec.network_overrides.get(codec.width_key) is None:
            raise ConfigError(f"{where}: set codec.network.{codec.width_key} (inpainting models "
                              f"are sized explicitly, not by a bit budget)")
        per_video = bool(entry.get("per_video", codec.per_video))
        if codec.per_video and not per_video:
            raise ConfigError(f"{where}: {codec.name} fits one network per video; "
                              f"set per_video=True")
        shared, own = _plain(shared_fit), _plain(entry.get("fit", {}))
        in_shared = sorted(set(shared) & set(RECIPE_FIT_KEYS))
        if in_shared:
            raise ConfigError(f"fit: {in_shared} belong to each model's recipe; set "
                              f"models.<name>.fit.{in_shared[0]} instead")
        unknown = sorted(set(own) - set(shared) - set(RECIPE_FIT_KEYS))
        if unknown:
            raise ConfigError(f"{where}.fit: unknown keys {unknown}; known (those of the shared "
                              f"fit and the recipe): {', '.join([*shared, *RECIPE_FIT_KEYS])}")
        missing = [key for key in RECIPE_FIT_KEYS if key not in own]
        if missing:
            raise ConfigError(f"{where}.fit: no {', '.join(missing)}; start it from its codec's "
                              f"recipe, e.g. fit=dict(_base_.recipe_nerv.fit, ...) "
                              f"(configs/_base_/recipes/)")
        fit = {**shared, **own}
        positive(fit.get("max_epochs"), f"{where}.fit.max_epochs", integer=True)
        positive(fit.get("batch_size"), f"{where}.fit.batch_size", integer=True)
        return cls(name, codec_cfg, codec, per_video, fit)

    def jobs(self, source: Source, videos: Sequence[int]) -> list[FitJob]:
        """The networks to fit (as the codec plans them, at their explicit widths): one per
        video, or one shared by all ``videos``."""
        return self.codec.fit_jobs(source, videos, 0.0, per_video=self.per_video)

    def describe(self, jobs: Sequence[FitJob]) -> dict:
        return dict(codec=self.codec_cfg, per_video=self.per_video,
                    jobs=[dict(name=j.name, videos=j.videos, network=j.network) for j in jobs])

    def result(self, fitted: Sequence[Fitted], per_video: dict[str, dict]) -> dict:
        """The model's entry of ``results.json``."""
        jobs = [dict(job=item.job.name, reused=item.info["reused"], fit_seconds=item.info.get("seconds"),
                     epochs=item.info.get("epochs"), precision=item.info.get("precision"),
                     parameters=sum(p.numel() for p in item.network.parameters())) for item in fitted]
        return dict(codec=self.codec_cfg, networks="per video" if self.per_video else "shared",
                    fit=self.fit, parameters=sum(j["parameters"] for j in jobs),
                    fit_time_s=sum(j["fit_seconds"] or 0.0 for j in jobs), jobs=jobs,
                    mean=report.mean_scores(per_video), per_video=per_video)


def _plain(value):
    """A config value as plain dicts / lists (mmengine ConfigDicts and tuples included)."""
    return json.loads(json.dumps(value.to_dict() if hasattr(value, "to_dict") else value))


def parse_models(names: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Model names from ``--models a,b`` (None: every model of the config), checked."""
    if names is None:
        return list(available)
    chosen = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in chosen if n not in available]
    if unknown or not chosen:
        raise ConfigError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                          f"available: {', '.join(available)}")
    return list(dict.fromkeys(chosen))


def choose_videos(source: Source, videos, split, num_videos) -> list[int]:
    """The selected videos, thinned to ``num_videos`` evenly spaced ones when set."""
    chosen = select_videos(source, videos, split)
    if num_videos is not None:
        if num_videos < 1:
            raise ConfigError(f"num_videos must be >= 1 or None, got {num_videos}")
        if num_videos < len(chosen):
            chosen = [chosen[k * len(chosen) // num_videos] for k in range(num_videos)]
    return chosen


@dataclass
class RunContext:
    """What every model of one run shares."""

    cfg: object
    data_root: Path
    source: Source
    videos: list[int]
    masks: MaskSet
    masks_path: Path
    work_dir: Path
    device: str

    def fit_cfg(self, model: InpaintModel):
        """The config the fitting service reads: fit settings, launcher, seed, resume."""
        from mmengine.config import ConfigDict

        cfg = self.cfg
        return ConfigDict(fit=model.fit, launcher=cfg.get("launcher", "none"),
                          seed=cfg.get("seed", 0), resume=bool(cfg.get("resume", False)),
                          log_level=cfg.get("log_level", "INFO"))


def _check_jobs(path: Path, description: dict, rank: int) -> None:
    """Refuse a work directory whose fits were made for other networks or videos."""
    from mmengine.dist import barrier

    if path.is_file() and json.loads(path.read_text()) != description:
        raise ConfigError(f"{path}: this work directory holds fits of another configuration of "
                          f"the model; use another --work-dir (or delete {path.parent})")
    if rank == 0 and not path.is_file():
        atomic_write_json(path, description)
    barrier()


def fit_networks(model: InpaintModel, run: RunContext) -> list[Fitted]:
    """Fit (or reuse) every network of ``model`` on the masked videos (D-NeRV: with the
    keyframes as the mask setting shows them, written first)."""
    from mmengine.dist import barrier, get_rank

    from toolkit.engine.fit import fit_networks as fit_service

    rank = get_rank()
    model_dir = run.work_dir / model.name
    jobs = model.jobs(run.source, run.videos)
    _check_jobs(model_dir / "jobs.json", model.describe(jobs), rank)
    keyframes = _masked_keyframe_files(model, run, jobs, model_dir, rank)
    barrier()

    def dataset_of(job):
        dataset = dict(type=f"Masked{model.codec.dataset_type}", data_root=str(run.data_root),
                       source=run.source.root.name, videos=job.videos, masks=str(run.masks_path))
        if job.name in keyframes:
            dataset.update(keyframes=str(keyframes[job.name]), clip_len=model.codec.clip_len)
        return dataset

    return fit_service(run.fit_cfg(model), model.codec, jobs, model_dir, dataset_of)


def _masked_keyframe_files(model: InpaintModel, run: RunContext, jobs, model_dir: Path,
                           rank: int) -> dict[str, Path]:
    """D-NeRV's keyframes per job from the masked frames (written by the main process once)."""
    if model.codec.dataset_type != "SourceClips":
        return {}
    files = {job.name: model_dir / f"keyframes_{job.name}.npz" for job in jobs}
    if rank == 0:
        for job in jobs:
            if not files[job.name].is_file():
                save_masked_keyframes(files[job.name], run.source, job.videos, run.masks,
                                      model.codec.clip_len)
    return files


def render_videos(model: InpaintModel, fitted: Sequence[Fitted], run: RunContext
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """(source video index, rendered frames (T, H, W, 3) uint8) of every fitted video."""
    jobs = [item.job for item in fitted]
    videos = [video for job in jobs for video in job.videos]
    context = {}
    if model.codec.dataset_type == "SourceClips":
        context = {"keyframes": [frames for job in jobs for frames in load_keyframes(
            run.work_dir / model.name / f"keyframes_{job.name}.npz")]}
    layout = BitstreamLayout.of_source(run.source, videos)
    rendered = model.codec.render_fitted([item.network for item in fitted], jobs, layout, context,
                                         run.device)
    yield from zip(videos, rendered)


def prepare_run(cfg) -> RunContext:
    """Open the source, choose the videos, start the launcher, draw (or check) the masks."""
    from mmengine.dist import barrier, get_rank

    from toolkit.engine.distributed import start_distributed

    data_root = Path(cfg.data_root)
    source = Source.open(data_root, cfg.source)
    videos = choose_videos(source, cfg.get("videos"), cfg.get("split"), cfg.get("num_videos"))
    spec = MaskSpec.from_config(_plain(cfg.masks), cfg.get("seed", 0))
    work_dir = Path(cfg.work_dir)
    launcher = cfg.get("launcher", "none")
    start_distributed(launcher)
    masks_path = work_dir / MASKS_FILE
    if get_rank() == 0:
        work_dir.mkdir(parents=True, exist_ok=True)
        prepare_masks(masks_path, spec, source.height, source.width,
                      {i: source.videos[i].num_frames for i in videos})
    barrier()
    return RunContext(cfg, data_root, source, videos, MaskSet.load(masks_path), masks_path,
                      work_dir, "cuda" if torch.cuda.is_available() else "cpu")


def run_inpainting(cfg, model_names: Sequence[str] | str | None) -> dict:
    """Run the benchmark described by ``cfg`` for ``model_names`` (None: all of the config).

    Every rank fits; the main rank renders, scores and writes the outputs and returns the
    results (``results.json``'s content); other ranks return ``{}``.
    """
    from mmengine.dist import get_rank

    entries = cfg.get("models") or {}
    models = [InpaintModel.from_config(n, entries[n], cfg.fit)
              for n in parse_models(model_names, list(entries))]
    run = prepare_run(cfg)
    main_rank = get_rank() == 0
    originals = ({i: run.source.read_video(run.source.videos[i]) for i in run.videos}
                 if main_rank else {})
    entries_out, middle_frames = {}, {i: {} for i in run.videos}
    for model in models:
        fitted = fit_networks(model, run)
        if not main_rank:
            continue
        per_video = {}
        for video, filled in render_videos(model, fitted, run):
            per_video[run.source.videos[video].path] = report.score_video(
                originals[video], filled, run.masks.visible(video))
            middle_frames[video][model.name] = filled[len(filled) // 2]
        entries_out[model.name] = model.result(fitted, per_video)
    if not main_rank:
        return {}
    panels = [_save_panel(run, i, originals[i], middle_frames[i]) for i in run.videos]
    results = _results(run, entries_out, panels)
    atomic_write_json(run.work_dir / "results.json", results)
    atomic_write_text(run.work_dir / "results.md", report.markdown_tables(results))
    return results


def _results(run: RunContext, models: dict, panels: Sequence[Path]) -> dict:
    masks = {k: v for k, v in run.masks.to_json().items() if k != "videos"}
    return dict(
        source=run.source.name, data_root=str(run.data_root), height=run.source.height,
        width=run.source.width, work_dir=str(run.work_dir),
        videos=[dict(index=i, path=run.source.videos[i].path,
                     num_frames=run.source.videos[i].num_frames) for i in run.videos],
        masks=dict(masks, file=str(run.masks_path), hidden_fraction=run.masks.hidden_fraction()),
        models=models, panels=[str(p) for p in panels], **run_facts())


def _save_panel(run: RunContext, video: int, original: np.ndarray,
                fills: dict[str, np.ndarray]) -> Path:
    """The panel of the video's middle frame: original, masked input, each model's output."""
    middle = len(original) // 2
    visible = run.masks.visible(video)[middle:middle + 1]
    frame = original[middle:middle + 1]
    hidden = {name: float(report.region_psnr(fill[None], frame, ~visible)[0])
              for name, fill in fills.items()}
    name = Path(run.source.videos[video].path).with_suffix("").as_posix()
    path = run.work_dir / "panels" / (name.replace("/", "__") + ".png")
    report.save_panel(path, f"{name}, frame {middle}", frame[0],
                      apply_mask(frame, visible, run.masks.spec.fill)[0], fills,
                      run.masks.boxes[video][middle], hidden)
    return path
