"""mmaction2 configs for fitting and evaluating TSM on sources.

The tool's arguments fill the data paths, the class count and the work dir; the
user's ``--cfg-options`` are merged after that, so they override everything.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path

from toolkit.data.source import VIDEO_DIR, Source
from toolkit.engine.config import ConfigError, check_overrides, merge_overrides
from toolkit.tasks.action.layout import ActionError

TOP5_MIN_CLASSES = 5
_DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_EVALUATORS = ("val_evaluator", "test_evaluator")
_TRAIN_PARTS = ("train_dataloader", "train_cfg", "optim_wrapper", "param_scheduler")
_VAL_PARTS = ("val_dataloader", "val_cfg", "val_evaluator")
_TEST_PARTS = ("test_dataloader", "test_cfg", "test_evaluator")
# Top-level keys mmengine's Runner reads from the config besides its constructor's
# arguments (Runner.from_cfg, wrap_model, ...), and mmaction2's runner_type.
_RUNNER_CONFIG_KEYS = ("model_wrapper_cfg", "compile", "activation_checkpointing",
                       "efficient_conv_bn_eval", "find_unused_parameters", "sync_bn",
                       "runner_type")


def load_config(path):
    """Read an mmengine config file (the tools' one loader, :func:`toolkit.engine.config.load_config`),
    with a clear error when it is missing. ``--cfg-options`` are checked and merged later,
    by :func:`fit_config` and :func:`eval_config`, after the tool has filled in its paths."""
    from toolkit.engine.config import load_config as load

    try:
        return load(path)
    except ConfigError as error:
        raise ActionError(f"{error}; pick one of configs/tsm/*.py") from None


def final_checkpoint_name(cfg) -> str:
    """The checkpoint the last epoch writes (CheckpointHook's ``save_last``)."""
    return f"epoch_{int(cfg.train_cfg.max_epochs)}.pth"


def _set_split(loader_cfg, source: Source, split: str) -> None:
    list_path = source.list_path(split).resolve()
    if not list_path.is_file() or not list_path.read_text().strip():
        raise ActionError(f"source {source.name!r} has no {split} videos ({list_path} is "
                          f"missing or empty); re-create the source")
    loader_cfg.dataset.ann_file = str(list_path)
    loader_cfg.dataset.data_prefix = dict(video=str((source.root / VIDEO_DIR).resolve()))


def _set_topk(cfg, num_classes: int) -> None:
    """Top-5 needs at least 5 classes; with fewer, only top-1 is computed."""
    topk = (1, 5) if num_classes >= TOP5_MIN_CLASSES else (1,)
    for key in _EVALUATORS:
        evaluator = cfg.get(key)
        if isinstance(evaluator, dict) and evaluator.get("type") == "AccMetric":
            evaluator.setdefault("metric_options", {})["top_k_accuracy"] = dict(topk=topk)


def _prepare(cfg, *, work_dir: Path, num_classes: int, launcher: str, stage: str):
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.launcher = launcher
    cfg.model.cls_head.num_classes = num_classes
    # mmengine keys its logger/visualizer singletons by this name (plus a timestamp in
    # seconds): unique, so two runs in one process and one second keep their own logs
    cfg.experiment_name = f"{stage}_{uuid.uuid4().hex[:6]}"
    _set_topk(cfg, num_classes)
    return cfg


def runner_keys() -> tuple[str, ...]:
    """The top-level config keys a Runner uses."""
    import inspect

    from mmengine.runner import Runner

    return (*(p for p in inspect.signature(Runner.__init__).parameters if p != "self"),
            *_RUNNER_CONFIG_KEYS)


def check_cfg_options(cfg, cfg_options: dict) -> None:
    """Refuse ``--cfg-options`` keys the config does not have (at any depth), and top-level
    keys no Runner reads: a config file's own variables (``max_epochs``, ``num_segments``)
    were used when the file was loaded, so overriding them would change nothing."""
    from toolkit import compat

    compat.register_mmaction()  # so that mmaction2's types can be looked up by name
    name = Path(cfg.filename).name if getattr(cfg, "filename", None) else "the TSM config"
    known = runner_keys()
    for key in cfg_options:
        top = key.split(".")[0]
        if top in cfg and top not in known:
            raise ActionError(f"--cfg-options {key}: {top!r} is a variable of {name}, used when "
                              f"the file was read; override the entries that use it instead "
                              f"(e.g. train_cfg.max_epochs)")
    try:
        check_overrides(cfg, cfg_options, name, extra_keys=known)
    except ConfigError as exc:
        raise ActionError(str(exc)) from None


def _finish(cfg, cfg_options: dict | None, unused: tuple[str, ...]):
    """Merge the user's options, then drop the parts this run does not use."""
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        merge_overrides(cfg, cfg_options)
    for key in unused:
        cfg[key] = None
    for key in _DATALOADERS:
        loader = cfg.get(key)
        if loader is not None and not loader.get("num_workers", 0):
            loader.persistent_workers = False  # DataLoader refuses it without workers
    return cfg


def fit_config(base_cfg, source: Source, work_dir: Path, *, launcher: str = "none",
               cfg_options: dict | None = None, validate: bool = True,
               amp: bool = False, auto_scale_lr: bool = False):
    """Config that fits TSM on ``source``'s train list (validating on its test list)."""
    cfg = _prepare(base_cfg, work_dir=work_dir, num_classes=len(source.classes),
                   launcher=launcher, stage=f"fit_{source.name}")
    _set_split(cfg.train_dataloader, source, "train")
    if validate:
        _set_split(cfg.val_dataloader, source, "test")
    if amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    unused = _TEST_PARTS + (() if validate else _VAL_PARTS)
    return _finish(cfg, cfg_options, unused)


def eval_config(base_cfg, source: Source, work_dir: Path, checkpoint: Path, *,
                launcher: str = "none", cfg_options: dict | None = None):
    """Config that evaluates ``checkpoint`` on ``source``'s test list."""
    cfg = _prepare(base_cfg, work_dir=work_dir, num_classes=len(source.classes),
                   launcher=launcher, stage=f"eval_{source.name}")
    _set_split(cfg.test_dataloader, source, "test")
    cfg = _finish(cfg, cfg_options, _TRAIN_PARTS + _VAL_PARTS)
    cfg.load_from = str(checkpoint)
    cfg.resume = False
    return cfg
