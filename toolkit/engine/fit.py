"""The fitting service: fit the networks a codec plans, with mmengine Runners.

Used by every task that fits INR networks (compression, inpainting): :func:`fit_networks`
fits the jobs a codec plans (:class:`~toolkit.codecs.base.FitJob`), each in
``<work_dir>/fit/<job>/`` (AMP, checkpoints, ``--resume``, DDP or spread over ``torchrun``'s
processes), reuses a finished fit made for the same fingerprint (see
:mod:`toolkit.engine.workdir`) and returns the networks on the CPU. What a fit trains on is
the caller's dataset config; rendering the fitted networks is the codec's
(:meth:`~toolkit.codecs.base.Codec.render_fitted`).
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from toolkit.codecs.base import FitJob
from toolkit.data.source import Source
from toolkit.engine.config import ConfigError
from toolkit.engine.workdir import Fingerprint, WorkDirError, notice, resume_checkpoint
from toolkit.runinfo import atomic_write_bytes, atomic_write_json, device_name


@dataclass
class Fitted:
    """A fitted network (on the CPU) and its job's record: ``seconds`` (the fit's, a resumed
    fit counting its time before the interruption), ``epochs``, ``reused`` and more."""

    job: FitJob
    network: torch.nn.Module
    info: dict


def fit_summary(fitted: Sequence[Fitted]) -> dict:
    """``{"seconds", "epochs", "reused", "precision"}`` over fits: the seconds summed, the
    epochs each job ran (fewer than planned when ``fit.max_time_s`` ended it), how many were
    reused and the arithmetic they ran in (see :func:`fit_precision`; "; " between kinds)."""
    return dict(seconds=sum(item.info["seconds"] for item in fitted),
                epochs=[item.info.get("epochs") for item in fitted],
                reused=sum(bool(item.info.get("reused", False)) for item in fitted),
                precision="; ".join(sorted({item.info["precision"] for item in fitted
                                            if item.info.get("precision")})) or None)


def check_tf32(tf32) -> None:
    if not (tf32 is None or isinstance(tf32, bool)):
        raise ConfigError(f"fit.tf32 is {tf32!r}: give None (PyTorch's setting), False (IEEE "
                          f"float32) or True (TF32)")


def check_sync_each_step(value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"fit.sync_each_step is {value!r}: give False (losses read back when "
                          f"logged, batches copied without blocking) or True (each step waits "
                          f"for the GPU, as in mmengine's loop)")
    return value


@contextmanager
def float32_precision(tf32: bool | None):
    """``fit.tf32`` while a fit trains and renders. None leaves PyTorch's setting (by default,
    on GPUs that have TF32: cuDNN convolutions in TF32, matmuls in IEEE float32); False: IEEE
    float32 for both, as on the RTX 2080 Ti of the NeRV and HNeRV papers; True: TF32 for both.

    Set through the legacy ``allow_tf32`` flags, which every supported torch reads alike. The
    newer ``fp32_precision`` attributes refuse a mix of the two: a process that sets those
    (or ``torch.set_float32_matmul_precision``) must leave ``fit.tf32`` at None. With True,
    inductor's Triton convolution templates still follow ``cudnn.fp32_precision``."""
    check_tf32(tf32)
    if tf32 is None:
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def tf32_flags() -> tuple[bool, bool] | None:
    """(convolutions, matmuls) in TF32 now, on a GPU that has TF32 (compute capability 8.0 or
    later); None elsewhere (float32 is IEEE there)."""
    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 0):
        return None
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def fit_precision(autocast: str | None, tf32: tuple[bool, bool] | None) -> str:
    """The arithmetic a fit ran in, for its record: the autocast dtype, or float32 with how
    convolutions and matmuls rounded (``tf32``: :func:`tf32_flags` while it trained)."""
    if autocast:
        return f"{autocast} autocast"
    if tf32 is None:
        return "float32"
    conv, matmul = ("TF32" if flag else "IEEE" for flag in tf32)
    return f"float32 (convolutions {conv}, matmuls {matmul})"


def autocast_of(optim_wrapper) -> str | None:
    """The dtype an mmengine optimizer wrapper autocasts to (float16 unless it names one), or
    None for a plain wrapper: what a fit really ran in, whatever the config keys said."""
    from mmengine.optim import AmpOptimWrapper

    if not isinstance(optim_wrapper, AmpOptimWrapper):
        return None
    return str(optim_wrapper.cast_dtype or torch.float16).removeprefix("torch.")


def _compile_options(compile_cfg) -> dict | None:
    """``fit.compile`` (``enabled`` plus torch.compile options) as the FitModel's ``compile``
    (which checks the compiled step's gradients against eager's on the first batch and on
    each batch of a new shape)."""
    if not compile_cfg or not compile_cfg.get("enabled"):
        return None
    return {k: v for k, v in compile_cfg.items() if k != "enabled" and v is not None}


def _plain(value):
    """A config value as plain dicts and lists (ConfigDicts included)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def warmup_cosine_schedule(max_epochs: int, warmup_ratio: float) -> list[dict]:
    """A linear warmup from 0.1 x lr over ``warmup_ratio`` of the epochs, then cosine decay to
    0 at ``max_epochs`` (by iteration): the schedule when ``fit.param_scheduler`` is None."""
    warmup = max(1, round(max_epochs * warmup_ratio))
    schedule = [dict(type="LinearLR", start_factor=0.1, by_epoch=True, begin=0, end=warmup,
                     convert_to_iter_based=True)]
    if max_epochs > warmup:
        schedule.append(dict(type="CosineAnnealingLR", by_epoch=True, begin=warmup, end=max_epochs,
                             T_max=max_epochs - warmup, eta_min=0.0, convert_to_iter_based=True))
    return schedule


def runner_keys(fit, on_gpu: bool) -> dict:
    """The Runner's ``optim_wrapper``, ``param_scheduler`` and ``default_hooks``: the config's
    (configs/_base_/fit.py) completed from the short fit keys, which ``--cfg-options`` sets:
    the wrapper gets ``optimizer`` (its own ``optimizer`` keys on top) and ``clip_grad`` (an OptimWrapper becomes an
    AmpOptimWrapper of dtype ``amp`` on a GPU); no ``param_scheduler``: the warmup-cosine
    schedule over ``max_epochs``; the logger's and checkpointer's intervals default to
    ``log_interval`` and ``checkpoint_interval``; a hook set to None is left out."""
    optim_wrapper = _plain(fit.get("optim_wrapper") or dict(type="OptimWrapper"))
    optim_wrapper["optimizer"] = {**_plain(fit.optimizer), **optim_wrapper.get("optimizer", {})}
    optim_wrapper.setdefault("clip_grad", _plain(fit.get("clip_grad")))
    amp = fit.get("amp", "bfloat16") if on_gpu else None
    if amp and optim_wrapper.get("type") == "OptimWrapper":
        optim_wrapper.update(type="AmpOptimWrapper", dtype=amp)
        if amp == "bfloat16":
            # bf16 has float32's exponent range: no loss scaling, whose inf check would read a
            # flag back from the GPU at every step
            optim_wrapper.setdefault("loss_scale", dict(enabled=False))
    schedule = fit.get("param_scheduler")
    if schedule is None:
        schedule = warmup_cosine_schedule(fit.max_epochs, fit.get("warmup_ratio", 0.2))
    # a hook set to None stays None: mmengine then leaves its default of that name out
    hooks = dict(_plain(fit.get("default_hooks") or {}))
    for name, key in (("logger", "log_interval"), ("checkpoint", "checkpoint_interval")):
        if hooks.get(name) is not None:
            hooks[name].setdefault("interval", fit.get(key, 50 if name == "logger" else 10))
    return dict(optim_wrapper=optim_wrapper, param_scheduler=_plain(schedule), default_hooks=hooks)


def runner_config(cfg, codec, job, fit_dir: Path, dataset: dict, resume_from: Path | None = None):
    from mmengine.config import Config

    fit = cfg.fit
    on_gpu = torch.cuda.is_available()
    epochs = fit.max_epochs
    keys = runner_keys(fit, on_gpu)
    # Unless fit.sync_each_step, a step's losses are read back only when logged and its batch
    # comes from pinned memory, copied without blocking: neither makes the host wait for the
    # GPU at each step, so it can queue the next step while the GPU runs this one (a sync of
    # another kind, e.g. mmengine logging fit.clip_grad's norm, still waits).
    sync_each_step = check_sync_each_step(fit.get("sync_each_step", False))
    return Config(dict(
        default_scope="toolkit",
        # Unique per Runner: mmengine keys its logger and message hub by this name, so two
        # fits started in the same second would otherwise log into the first one's work dir.
        experiment_name=f"{codec.name}_{job.name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:8]}",
        work_dir=str(fit_dir),
        model=dict(type=codec.fit_model, network=job.network, **fit.get("model", {}),
                   data_preprocessor=dict(type="BaseDataPreprocessor",
                                          non_blocking=on_gpu and not sync_each_step),
                   compile=_compile_options(fit.get("compile")),
                   compile_check_across_processes=cfg.get("launcher", "none") != "none"),
        train_dataloader=dict(
            batch_size=fit.batch_size, num_workers=fit.get("num_workers", 0),
            persistent_workers=fit.get("num_workers", 0) > 0,
            pin_memory=on_gpu and not sync_each_step,
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="default_collate"), dataset=dataset),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        **keys,
        # the hub holds one loss per printed period (LossReadAtLogging): print the last one
        log_processor=dict(custom_cfg=[] if sync_each_step else [
            dict(data_src="loss", method_name="mean", window_size=1)]),
        custom_hooks=[dict(type="FitClock")] + list(fit.get("custom_hooks", [])) + (
            [dict(type="FitTimeLimit", seconds=fit.max_time_s)] if fit.get("max_time_s") else []) + (
            [] if sync_each_step else [dict(type="LossReadAtLogging")]),
        env_cfg=dict(cudnn_benchmark=on_gpu, dist_cfg=dict(backend="nccl" if on_gpu else "gloo")),
        launcher=cfg.get("launcher", "none"),
        randomness=dict(seed=cfg.get("seed", 0)),
        resume=resume_from is not None,
        load_from=str(resume_from) if resume_from is not None else None,
        log_level=cfg.get("log_level", "INFO"),
    ))


#: Fit settings that change how a fit runs or is logged, not what it fits: left out of its
#: fingerprint, so a fit may be resumed with more loader workers or another time limit.
FIT_KEYS_NOT_FINGERPRINTED = ("num_workers", "log_interval", "checkpoint_interval", "default_hooks",
                              "custom_hooks", "max_time_s", "compile", "max_frames_in_memory",
                              "sync_each_step")

#: Fit keys at their defaults (configs/_base_/fit.py) are left out of a fit's fingerprint,
#: so fits made before the keys existed are still reused.
FIT_KEY_DEFAULTS = dict(optim_wrapper=dict(type="OptimWrapper"), param_scheduler=None, tf32=None)


def source_identity(source: Source, videos, checksum) -> dict:
    """The source's name and frame format, and each video's path, length and file checksum."""
    return dict(name=source.name, height=source.height, width=source.width, fps=source.fps,
                videos=[dict(path=source.videos[i].path, num_frames=source.videos[i].num_frames,
                             sha256=checksum(source.video_path(source.videos[i])))
                        for i in videos])


def fit_fingerprint(cfg, job, identity: dict, prepared: dict) -> dict:
    """What a fit is for: its videos (by checksum), network, fit settings, codec and the
    codec's prepared inputs (e.g. D-NeRV's keyframes), and the toolkit version."""
    from toolkit import __version__

    fit = {k: v for k, v in cfg.fit.items() if k not in FIT_KEYS_NOT_FINGERPRINTED
           and not (k in FIT_KEY_DEFAULTS and _plain(v) == FIT_KEY_DEFAULTS[k])}
    return dict(toolkit_version=__version__, source=identity, network=job.network, fit=fit,
                seed=cfg.get("seed", 0), codec=cfg.codec, prepared=prepared)


def _holds_fit(fit_dir: Path) -> bool:
    return (fit_dir / "network_final.pth").is_file() or any(fit_dir.glob("epoch_*.pth"))


def _load_final(codec, job, cfg, final: Path):
    network = fit_model_network(codec, job, cfg.fit.get("model", {}))
    try:
        network.load_state_dict(torch.load(final, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated or corrupt: fit again
        notice(f"{final} is truncated or corrupt ({type(exc).__name__}); fitting again")
        return None
    return network


def fit_job(cfg, codec, job, work_dir: Path, dataset: dict, fingerprint: dict | None = None):
    """Fit one network with an mmengine Runner and return it; a finished fit made for the
    same ``fingerprint`` is reused, one made for another is refused (``refit``: redone).
    Without a ``fingerprint`` the caller has checked what the work dir holds."""
    from mmengine.dist import barrier, get_rank
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    from toolkit.compat import apply_checkpoint_fix
    from toolkit.engine.distributed import launch_env
    from toolkit.engine.hooks import FitClock

    fit_dir = work_dir / "fit" / job.name
    final = fit_dir / "network_final.pth"
    record = Fingerprint(fit_dir, "fit_for.json", "the fit in")
    main = get_rank() == 0
    if cfg.get("refit"):
        if main and fit_dir.exists():
            notice(f"discarding the fit in {fit_dir} to fit again (--refit)")
            shutil.rmtree(fit_dir)
    elif fingerprint is not None:
        record.check(fingerprint, holds_results=_holds_fit(fit_dir))
    barrier()
    apply_checkpoint_fix()
    if final.is_file():
        try:
            network, info = read_fit(cfg, codec, job, work_dir)
        except WorkDirError:
            network = None
        if network is None:
            barrier()
            if main:
                final.unlink(missing_ok=True)
        elif (stopped := _stopped_early(info)) and cfg.get("resume"):
            notice(f"continuing the fit in {fit_dir}: {stopped}")
        else:
            notice(f"reusing the fit in {fit_dir}, made for the same videos and settings "
                   f"(--refit fits again)" + (f"; {stopped}, --resume continues it" if stopped else ""))
            return network, {**info, "reused": True}
    resume_from = resume_checkpoint(fit_dir) if cfg.get("resume") else None
    if resume_from is None and not cfg.get("resume") and _holds_fit(fit_dir):
        notice(f"starting the fit in {fit_dir} over; --resume continues it from its checkpoint")
    check_tf32(cfg.fit.get("tf32"))
    check_sync_each_step(cfg.fit.get("sync_each_step", False))
    if main and fingerprint is not None:
        record.write(fingerprint)
    runner = Runner.from_cfg(runner_config(cfg, codec, job, fit_dir, dataset, resume_from))
    with float32_precision(cfg.fit.get("tf32")):
        flags = tf32_flags()
        runner.train()
    precision = fit_precision(autocast_of(runner.optim_wrapper), flags)
    clock = next(h for h in runner.hooks if isinstance(h, FitClock))
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    network = model.network
    info = dict(seconds=clock.seconds(), epochs=runner.epoch, epochs_planned=cfg.fit.max_epochs,
                resumed_from=resume_from.name if resume_from else None, precision=precision,
                device=device_name(), launcher_rank=launch_env()[0])
    if main:
        buffer = io.BytesIO()
        torch.save(network.state_dict(), buffer)
        atomic_write_bytes(final, buffer.getvalue())
        atomic_write_json(fit_dir / "fit.json", info)
    return network, {**info, "reused": False}


def _stopped_early(info: dict) -> str | None:
    """How a finished fit fell short of its planned epochs (``fit.max_time_s``), or None."""
    epochs, planned = info.get("epochs"), info.get("epochs_planned")
    if epochs is None or planned is None or epochs >= planned:
        return None
    return f"it stopped at epoch {epochs} of {planned} (fit.max_time_s)"


def fit_networks(cfg, codec, jobs: Sequence[FitJob], work_dir: Path,
                 dataset_of: Callable[[FitJob], dict],
                 fingerprint_of: Callable[[FitJob], dict | None] = lambda job: None,
                 spread: bool = False) -> list[Fitted]:
    """Fit (or reuse) every job in ``<work_dir>/fit/<job>/`` on ``dataset_of(job)``; a fit is
    reused only for the same ``fingerprint_of(job)`` (None: the caller checked the work dir).

    By default each job is fitted in turn, data-parallel over the launcher's processes
    (DDP) when there are several. With ``spread`` (per-video codecs under ``torchrun``) the
    jobs are divided among the processes instead, each fitting whole networks without DDP
    on a GPU of its host (round robin; several processes may share one), which scales to
    many small networks; after a barrier every network is read back from its fit
    directory. Only the main process returns the networks then.

    ``cfg``: ``fit`` (the fit settings), ``launcher``, ``seed``, ``resume``, ``refit``, ``log_level``.
    """
    from mmengine.dist import barrier

    from toolkit.engine.distributed import launch_env, start_distributed, use_local_gpu

    fit_cfg = cfg
    if spread:
        rank, local_rank, world = launch_env()
        use_local_gpu(local_rank)
        fit_cfg = copy.deepcopy(cfg)
        fit_cfg.launcher = "none"
        for job in jobs[rank::world]:
            fit_job(fit_cfg, codec, job, work_dir, dataset_of(job), fingerprint_of(job))
        start_distributed(cfg.launcher, cpu_only=True)  # a barrier; processes may share GPUs
        barrier()
        if rank != 0:
            return []
    fitted = []
    for job in jobs:
        if spread:  # read back what the processes fitted
            network, info = read_fit(cfg, codec, job, work_dir)
        else:
            network, info = fit_job(fit_cfg, codec, job, work_dir, dataset_of(job),
                                    fingerprint_of(job))
        fitted.append(Fitted(job, network.cpu(), info))
    return fitted


def read_fit(cfg, codec, job, work_dir: Path):
    """A finished fit's network and record (``fit.json``) from its fit directory."""
    fit_dir = work_dir / "fit" / job.name
    network = _load_final(codec, job, cfg, fit_dir / "network_final.pth")
    if network is None:
        raise WorkDirError(f"{fit_dir}: the fit's network is missing or unreadable; rerun")
    try:
        info = json.loads((fit_dir / "fit.json").read_text())
    except (OSError, ValueError):
        info = {"seconds": 0.0}
    return network, info


def fit_model_network(codec, job, model_kwargs: dict | None = None):
    """A network shaped like the fit model's (with QAT parametrisation where it has one)."""
    from toolkit.registry import MODELS

    model = MODELS.build(dict(type=codec.fit_model, network=job.network, **(model_kwargs or {})))
    return model.network
