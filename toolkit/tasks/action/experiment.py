"""Fit TSM on one source, evaluate it on another and record ``results.json``.

Runs are mmengine Runners built from mmaction2 configs, so ``--launcher pytorch``
under ``torchrun`` spreads them over GPUs. Every rank takes the same decisions
(from the same files); only the main rank writes ``fit.json`` and ``results.json``.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from toolkit import compat
from toolkit.data.source import Source
from toolkit.engine.workdir import checkpoint_problem, resume_checkpoint
from toolkit.runinfo import atomic_write_json, run_facts
from toolkit.tasks.action.config import eval_config, final_checkpoint_name, fit_config, load_config
from toolkit.tasks.action.layout import (FIT_FILE, REFERENCE_SOURCE, ActionError, RunPlan,
                                         WorkLayout, plan_runs)

METRIC_NAMES = {"top1": "top1", "top5": "top5", "mean_class_accuracy": "mean1"}


@dataclass(frozen=True)
class RunOptions:
    """Everything ``tools/train_tsm.py`` passes on besides the source and setting."""

    config: Path
    data_root: Path
    work_root: Path
    cfg_options: dict = field(default_factory=dict)
    launcher: str = "none"
    resume: bool = False
    load_from: str | None = None
    validate: bool = True
    amp: bool = False
    auto_scale_lr: bool = False

    @property
    def layout(self) -> WorkLayout:
        return WorkLayout(Path(self.work_root).resolve())


@dataclass(frozen=True)
class FitResult:
    source: str
    work_dir: Path
    checkpoint: Path
    epochs: int
    reused: bool                 # the final checkpoint existed: nothing was trained
    resumed_from: str | None     # checkpoint an interrupted fit continued from


def _build_runner(cfg):
    compat.register_mmaction()
    if "runner_type" in cfg:
        from mmaction.registry import RUNNERS

        return RUNNERS.build(cfg)
    from mmengine.runner import Runner

    return Runner.from_cfg(cfg)


def _stop_workers(runner) -> None:
    """Shut the runner's persistent DataLoader workers down now, in order.

    A runner sits in reference cycles, so its loaders are otherwise freed by the cyclic
    garbage collector, which tears the worker queues down in arbitrary order: shutdown
    then waited about 5 s per worker, and Python 3.12 printed QueueFeederThread errors.
    """
    for loop in (runner._train_loop, runner._val_loop, runner._test_loop):
        loader = getattr(loop, "dataloader", None)  # loops never built are dicts or None
        if getattr(loader, "_iterator", None) is not None:
            loader._iterator = None  # the iterator's __del__ stops its workers


def _run(cfg, mode: str) -> dict | None:
    """Build a runner, run it (``train`` or ``test``) and free it with its DataLoader workers."""
    runner = _build_runner(cfg)
    metrics = None
    if mode == "test":
        metrics = runner.test()
    else:
        runner.train()
    _stop_workers(runner)
    del runner
    gc.collect()
    return metrics


def _model_signature(cfg) -> dict:
    """The model config as plain JSON data (tuples become lists), to compare fits."""
    return json.loads(json.dumps(cfg.model.to_dict(), default=str))


def _last_checkpoint(work_dir: Path) -> str | None:
    """What mmengine's ``last_checkpoint`` file names, if that checkpoint exists."""
    pointer = work_dir / "last_checkpoint"
    if not pointer.is_file():
        return None
    path = pointer.read_text().strip()
    return path if path and Path(path).is_file() else None


#: Manifest entries that say what a source holds (not when or where it was made).
_DATA_KEYS = ("height", "width", "fps", "classes", "videos", "prepare", "bitstream")


def _training_data(source: Source) -> str:
    """A digest of the data a fit trains on: the source's videos (paths, labels, splits,
    frame counts), frame format, how it was prepared or its bitstream, and its train list.
    A source prepared or decoded again with other content gets another digest."""
    described = {k: source.manifest.get(k) for k in _DATA_KEYS}
    text = json.dumps(described, sort_keys=True, default=str) + source.list_path("train").read_text()
    return hashlib.sha256(text.encode()).hexdigest()


def _check_same_fit(record_path: Path, cfg, source: Source) -> None:
    """A fit in ``record_path``'s directory is continued or reused only for the same model
    and the same training data (records without the data digest predate it: not compared)."""
    if not record_path.is_file():
        return
    recorded = json.loads(record_path.read_text())
    if recorded.get("model") != _model_signature(cfg):
        raise ActionError(
            f"{record_path.parent} holds a fit of a different model (config "
            f"{recorded.get('config')}); use another --work-dir or delete that directory")
    if recorded.get("train_data", _training_data(source)) != _training_data(source):
        raise ActionError(
            f"{record_path.parent} holds a fit made for other training data (source "
            f"{source.name!r} was prepared or decoded again since); use another --work-dir or "
            f"delete that directory to fit again")


def _write_fit_record(path: Path, cfg, options: RunOptions, source: Source, **status) -> None:
    from mmengine.dist import is_main_process

    if is_main_process():
        atomic_write_json(path, dict(
            source=source.name, config=str(Path(options.config).resolve()),
            model=_model_signature(cfg), train_data=_training_data(source),
            epochs=int(cfg.train_cfg.max_epochs),
            train_list=str(source.list_path("train").resolve()),
            load_from=options.load_from, **status, **run_facts()))


def fit(options: RunOptions, source: Source) -> FitResult:
    """Fit TSM on ``source``'s train list, or reuse the fit whose final checkpoint exists."""
    from mmengine.dist import barrier
    from mmengine.logging import print_log

    work_dir = options.layout.fit_dir(source.name)
    cfg = fit_config(load_config(options.config), source, work_dir, launcher=options.launcher,
                     cfg_options=options.cfg_options, validate=options.validate,
                     amp=options.amp, auto_scale_lr=options.auto_scale_lr)
    epochs = int(cfg.train_cfg.max_epochs)
    final = work_dir / final_checkpoint_name(cfg)
    record_path = work_dir / FIT_FILE
    _check_same_fit(record_path, cfg, source)
    problem = checkpoint_problem(final) if final.is_file() else None
    if problem and not options.resume:
        raise ActionError(f"{final} is truncated or corrupt ({problem}); rerun with --resume "
                          f"to continue from the checkpoint before it")
    if final.is_file() and not problem:
        print_log(f"fit on {source.name!r} is done, reusing {final}", logger="current")
        return FitResult(source.name, work_dir, final, epochs, reused=True, resumed_from=None)

    latest = _last_checkpoint(work_dir)
    if latest and not options.resume:
        raise ActionError(f"{work_dir} holds an unfinished fit (last checkpoint {latest}, the "
                          f"config asks for {epochs} epochs); pass --resume to continue it, "
                          f"or delete the directory to start over")
    # the newest checkpoint that loads; a truncated newer one is passed over, saying so
    resumed = resume_checkpoint(work_dir) if options.resume else None
    resumed_from = str(resumed) if resumed else None
    if options.load_from and not resumed_from:
        problem = checkpoint_problem(options.load_from)
        if problem:
            raise ActionError(f"--load-from {options.load_from} is not a checkpoint that loads "
                              f"({problem}); give an mmengine/mmaction2 checkpoint file")
    cfg.resume = resumed_from is not None
    # mmengine resumes from load_from when both are set (else from the checkpoint its
    # last_checkpoint names, which may be the corrupt one): a pretrained file must not be
    # mistaken for this fit's own checkpoint
    cfg.load_from = resumed_from if cfg.resume else options.load_from
    if cfg.resume or cfg.load_from:
        compat.apply_checkpoint_fix()
    _write_fit_record(record_path, cfg, options, source, finished=False, checkpoint=None)
    _run(cfg, "train")
    barrier()  # the main rank writes the checkpoint; the others wait for it
    if not final.is_file():
        raise ActionError(f"the fit on {source.name!r} ended without writing {final}; "
                          f"check the checkpoint hook settings in {options.config}")
    _write_fit_record(record_path, cfg, options, source, finished=True, checkpoint=str(final),
                      resumed_from=resumed_from)
    return FitResult(source.name, work_dir, final, epochs, reused=False, resumed_from=resumed_from)


def _metric(metrics: dict, name: str) -> float | None:
    """A metric from AccMetric's output (keys like ``acc/top1``), or None when absent."""
    for key, value in metrics.items():
        if key.rsplit("/", 1)[-1] == name:
            return float(value)
    return None


def evaluate(options: RunOptions, checkpoint: Path, source: Source, work_dir: Path) -> dict:
    """Top-1, top-5 (None under 5 classes) and mean-class accuracy on ``source``'s test list."""
    cfg = eval_config(load_config(options.config), source, work_dir, checkpoint,
                      launcher=options.launcher, cfg_options=options.cfg_options)
    compat.apply_checkpoint_fix()
    raw_metrics = {k: float(v) for k, v in _run(cfg, "test").items()}
    metrics = {name: _metric(raw_metrics, key) for name, key in METRIC_NAMES.items()}
    return dict(metrics, mmaction_metrics=raw_metrics)


def _check_same_classes(fit_source: Source, eval_source: Source) -> None:
    if fit_source.classes != eval_source.classes:
        raise ActionError(f"sources {fit_source.name!r} and {eval_source.name!r} have different "
                          f"classes; both must come from the same dataset root")


def run_plan(options: RunOptions, plan: RunPlan) -> dict:
    """Fit (or reuse) and evaluate one (source, setting); write and return its results."""
    from mmengine.dist import is_main_process

    named = Source.open(options.data_root, plan.source)
    fit_source = Source.open(options.data_root, plan.fit_source)
    eval_source = Source.open(options.data_root, plan.eval_source)
    _check_same_classes(fit_source, eval_source)
    fitted = fit(options, fit_source)
    eval_dir = options.layout.eval_dir(plan)
    metrics = evaluate(options, fitted.checkpoint, eval_source, eval_dir)
    record = dict(
        task="action_recognition",
        setting=plan.setting,
        source=plan.source,
        source_codec=named.manifest.get("codec"),
        source_size=named.manifest.get("size"),
        fit_source=plan.fit_source,
        eval_source=plan.eval_source,
        **metrics,
        num_classes=len(eval_source.classes),
        num_eval_videos=len(eval_source.split("test")),
        epochs=fitted.epochs,
        checkpoint=str(fitted.checkpoint),
        fit_reused=fitted.reused,
        resumed_from=fitted.resumed_from,
        config=str(Path(options.config).resolve()),
        data_root=str(Path(options.data_root).resolve()),
        eval_list=str(eval_source.list_path("test").resolve()),
        work_dir=str(eval_dir),
        **run_facts(),
    )
    if is_main_process():
        atomic_write_json(options.layout.results_path(plan), record)
    return record


def run(options: RunOptions, source: str, setting: str) -> list[dict]:
    """``tools/train_tsm.py``: every run of ``setting`` (train, test or both) for ``source``."""
    plans = plan_runs(source, setting)
    for name in (source, REFERENCE_SOURCE):  # fail before any long fit
        Source.open(options.data_root, name)
    return [run_plan(options, plan) for plan in plans]
