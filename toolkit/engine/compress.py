"""The compression stage: source -> bitstream -> decoded source, with honest numbers.

``compress_source(cfg)`` runs one codec at one operating point:

1. INR codecs: plan the networks for the bit budget (D-NeRV first codes its
   keyframes), fit each with an mmengine Runner (AMP, checkpoints, resume, DDP under
   ``torchrun``), quantise and entropy-code them. Classical codecs: encode at the
   CRF that meets the target bpp.
2. Write the bitstream atomically; bpp = its bytes * 8 / (H * W * frames).
3. Decode from the file alone into a new lossless source ``<codec>_<size>`` and
   measure PSNR / MS-SSIM against the source it came from, and decode throughput.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import torch

from toolkit.codecs.bitstream import read_bitstream, write_bitstream
from toolkit.codecs.base import video_layout
from toolkit.data.source import (MANIFEST, VIDEO_DIR, Source, SourceWriter, VideoRecord,
                                 check_source_name)
from toolkit.engine.config import ConfigError
from toolkit.engine.datasets import select_videos
from toolkit.engine.throughput import measure_decode_throughput
from toolkit.engine.workdir import (DirLock, Fingerprint, WorkDirError, clean_temporaries,
                                    file_sha256, notice)
from toolkit.quality import frame_quality, ms_ssim_applies
from toolkit.registry import CODECS
from toolkit.runinfo import atomic_write_bytes, atomic_write_json, device_name, run_facts

def build_codec(codec_cfg: dict):
    """Any codec from ``{"type": name, **arguments}`` (see toolkit.registry.CODECS)."""
    import toolkit.codecs.classical  # noqa: F401  (registers h264 and hevc)

    cfg = dict(codec_cfg)
    name = cfg.pop("type", None)
    if name not in CODECS.module_dict:
        raise KeyError(f"unknown codec {name!r}; available: {', '.join(sorted(CODECS.module_dict))}")
    try:
        return CODECS.get(name)(**cfg)
    except (TypeError, ValueError) as exc:  # an unknown key or a bad value in codec=dict(...)
        raise ConfigError(f"codec {name!r}: {exc}") from None


def target_bpp(cfg, data_root: Path) -> tuple[float, str]:
    """The operating point: explicit, matched to an INR source of this size, or nominal."""
    if cfg.get("target_bpp"):
        return float(cfg.target_bpp), "set in the config"
    for other in cfg.get("match_bpp_of", []):
        manifest = data_root / f"{other}_{cfg.size}" / "manifest.json"
        if manifest.is_file():
            return float(json.loads(manifest.read_text())["bpp"]), f"matched to {other}_{cfg.size}"
    sizes = cfg.sizes
    if cfg.size not in sizes:
        raise KeyError(f"unknown size {cfg.size!r}; available: {', '.join(sizes)}")
    return float(sizes[cfg.size]), "nominal for the size"


# ---- fitting ---------------------------------------------------------------------------

def _compile_options(compile_cfg) -> dict | None:
    """``fit.compile`` (``enabled`` plus torch.compile options) as the FitModel's ``compile``."""
    if not compile_cfg or not compile_cfg.get("enabled"):
        return None
    return {k: v for k, v in compile_cfg.items() if k != "enabled" and v is not None}


def _runner_config(cfg, codec, job, fit_dir: Path, dataset: dict, resume_from: Path | None = None):
    from mmengine.config import Config

    fit = cfg.fit
    on_gpu = torch.cuda.is_available()
    amp = fit.get("amp", "bfloat16") if on_gpu else None
    optim_wrapper = dict(optimizer=copy.deepcopy(fit.optimizer), clip_grad=fit.get("clip_grad"))
    if amp:
        optim_wrapper.update(type="AmpOptimWrapper", dtype=amp)
    else:
        optim_wrapper.update(type="OptimWrapper")
    epochs = fit.max_epochs
    warmup = max(1, round(epochs * fit.get("warmup_ratio", 0.2)))
    schedule = [dict(type="LinearLR", start_factor=0.1, by_epoch=True, begin=0, end=warmup,
                     convert_to_iter_based=True)]
    if epochs > warmup:
        schedule.append(dict(type="CosineAnnealingLR", by_epoch=True, begin=warmup, end=epochs,
                             T_max=epochs - warmup, eta_min=0.0, convert_to_iter_based=True))
    return Config(dict(
        default_scope="toolkit",
        # Unique per Runner: mmengine keys its logger and message hub by this name, so two
        # fits started in the same second would otherwise log into the first one's work dir.
        experiment_name=f"{codec.name}_{job.name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:8]}",
        work_dir=str(fit_dir),
        model=dict(type=codec.fit_model, network=job.network, **fit.get("model", {}),
                   compile=_compile_options(fit.get("compile"))),
        train_dataloader=dict(
            batch_size=fit.batch_size, num_workers=fit.get("num_workers", 0),
            persistent_workers=fit.get("num_workers", 0) > 0,
            sampler=dict(type="DefaultSampler", shuffle=True),
            collate_fn=dict(type="default_collate"), dataset=dataset),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=optim_wrapper,
        param_scheduler=schedule,
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=fit.get("log_interval", 50)),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", interval=fit.get("checkpoint_interval", 10),
                            max_keep_ckpts=2, save_last=True),
            sampler_seed=dict(type="DistSamplerSeedHook")),
        custom_hooks=[dict(type="FitClock")] + list(fit.get("custom_hooks", [])) + (
            [dict(type="FitTimeLimit", seconds=fit.max_time_s)] if fit.get("max_time_s") else []),
        env_cfg=dict(cudnn_benchmark=on_gpu, dist_cfg=dict(backend="nccl" if on_gpu else "gloo")),
        launcher=cfg.get("launcher", "none"),
        randomness=dict(seed=cfg.get("seed", 0)),
        resume=resume_from is not None,
        load_from=str(resume_from) if resume_from is not None else None,
        log_level=cfg.get("log_level", "INFO"),
    ))


#: Fit settings that change how a fit runs or is logged, not what it fits: left out of its
#: fingerprint, so a fit may be resumed with more loader workers or another time limit.
FIT_KEYS_NOT_FINGERPRINTED = ("num_workers", "log_interval", "checkpoint_interval",
                              "custom_hooks", "max_time_s", "compile")


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

    fit = {k: v for k, v in cfg.fit.items() if k not in FIT_KEYS_NOT_FINGERPRINTED}
    return dict(toolkit_version=__version__, source=identity, network=job.network, fit=fit,
                seed=cfg.get("seed", 0), codec=cfg.codec, prepared=prepared)


def _holds_fit(fit_dir: Path) -> bool:
    return (fit_dir / "network_final.pth").is_file() or any(fit_dir.glob("epoch_*.pth"))


def _checkpoint_epoch(path: Path) -> int:
    try:
        return int(path.stem.split("_")[-1])
    except ValueError:
        return -1


def resume_checkpoint(fit_dir: Path) -> Path | None:
    """The newest checkpoint of ``fit_dir`` that loads; older ones stand in for a truncated or
    corrupt newest one (a run killed while saving), saying so. None: fit from the start."""
    from mmengine.runner.checkpoint import CheckpointLoader

    unreadable = []
    for path in sorted(fit_dir.glob("epoch_*.pth"), key=_checkpoint_epoch, reverse=True):
        try:  # as the Runner will load it (toolkit.compat's weights_only loader)
            state = CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
            state["meta"]["epoch"], state["state_dict"]  # noqa: B018  (present, or corrupt)
        except Exception as exc:  # any failure to load means the file is unusable
            unreadable.append(path.name)
            notice(f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}); "
                   f"it is not resumed from")
            continue
        if unreadable:
            notice(f"resuming {fit_dir} from {path.name}, its last readable checkpoint")
        return path
    if unreadable:
        notice(f"{fit_dir} has no readable checkpoint: fitting from the start")
    return None


def _load_final(codec, job, cfg, final: Path):
    network = _fit_model_network(codec, job, cfg.fit.get("model", {}))
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
        if network is not None:
            notice(f"reusing the fit in {fit_dir}, made for the same videos and settings "
                   f"(--refit fits again)")
            return network, {**info, "reused": True}
        barrier()
        if main:
            final.unlink(missing_ok=True)
    resume_from = resume_checkpoint(fit_dir) if cfg.get("resume") else None
    if resume_from is None and not cfg.get("resume") and _holds_fit(fit_dir):
        notice(f"starting the fit in {fit_dir} over; --resume continues it from its checkpoint")
    if main and fingerprint is not None:
        record.write(fingerprint)
    runner = Runner.from_cfg(_runner_config(cfg, codec, job, fit_dir, dataset, resume_from))
    runner.train()
    clock = next(h for h in runner.hooks if isinstance(h, FitClock))
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    network = model.network
    info = dict(seconds=clock.seconds(), epochs=runner.epoch, epochs_planned=cfg.fit.max_epochs,
                resumed_from=resume_from.name if resume_from else None,
                device=device_name(), launcher_rank=launch_env()[0])
    if main:
        buffer = io.BytesIO()
        torch.save(network.state_dict(), buffer)
        atomic_write_bytes(final, buffer.getvalue())
        atomic_write_json(fit_dir / "fit.json", info)
    return network, {**info, "reused": False}


def fit_networks(cfg, codec, jobs, work_dir: Path, dataset_of, fingerprint_of,
                 spread: bool = False) -> tuple[list, dict]:
    """Fit every job; return its networks (on the CPU) and ``{"seconds", "epochs", "reused"}``:
    the fit seconds summed over jobs (a resumed fit counts its time before the interruption),
    the epochs each job ran (fewer than planned when ``fit.max_time_s`` ended it) and how
    many fits were reused.

    By default each job is fitted in turn, data-parallel over the launcher's processes
    (DDP) when there are several. With ``spread`` (per-video codecs under ``torchrun``) the
    jobs are divided among the processes instead, each fitting whole networks without DDP
    on a GPU of its host (round robin; several processes may share one), which scales to
    many small networks; after a barrier every network is read back from its fit
    directory. Only the main process returns the networks then.
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
            return [], {}
    networks, seconds, epochs, reused = [], 0.0, [], 0
    for job in jobs:
        if spread:  # read back what the processes fitted
            network, info = read_fit(cfg, codec, job, work_dir)
        else:
            network, info = fit_job(fit_cfg, codec, job, work_dir, dataset_of(job),
                                    fingerprint_of(job))
        seconds += info["seconds"]
        epochs.append(info.get("epochs"))
        reused += info.get("reused", False)
        networks.append(network.cpu())
    return networks, dict(seconds=seconds, epochs=epochs, reused=reused)


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


def _fit_model_network(codec, job, model_kwargs: dict | None = None):
    """A network shaped like the fit model's (with QAT parametrisation where it has one)."""
    from toolkit.registry import MODELS

    model = MODELS.build(dict(type=codec.fit_model, network=job.network, **(model_kwargs or {})))
    return model.network


# ---- evaluation ------------------------------------------------------------------------

def compare_frames(reference: np.ndarray, decoded: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PSNR and MS-SSIM (SSIM for small frames) of uint8 videos (T, H, W, 3)."""
    return frame_quality(reference, decoded, device)


def _mean_psnr(decoded_videos, source: Source, videos: list[int], device) -> float:
    """Mean per-frame PSNR of decoded videos (in the order of ``videos``) against ``source``."""
    values = [frame_quality(source.read_video(source.videos[i]), frames, device)[0]
              for i, frames in zip(videos, decoded_videos)]
    return float(np.concatenate(values).mean())


def decode_to_source(codec, bitstream, source: Source, videos: list[int], out_root: Path,
                     name: str, size: str, device) -> dict:
    """Decode ``bitstream`` (read from its file) into the source ``name``; quality against ``source``.

    A source already at ``out_root`` stops opening as complete first (its manifest goes,
    the new one is written last), so an interrupted decode never leaves old and new videos
    passing for one source; videos the new source does not list are removed at the end.
    """
    for stale in (MANIFEST, "train_list.txt", "test_list.txt"):
        (out_root / stale).unlink(missing_ok=True)
    writer = SourceWriter(out_root, name, codec=codec.name, size=size, height=source.height,
                          width=source.width, fps=source.fps, classes=source.classes)
    records, psnrs, ssims = [], [], []
    start = time.time()
    for i, frames in zip(videos, codec.decompress(bitstream, device=device)):
        video = source.videos[i]
        reference = source.read_video(video)
        if frames.shape != reference.shape:
            raise ValueError(f"decoded video {video.path} has shape {frames.shape}, "
                             f"expected {reference.shape}")
        writer.write_video(video.path, frames)
        p, s = compare_frames(reference, frames, device)
        psnrs.append(p)
        ssims.append(s)
        records.append(VideoRecord(video.path, video.label, video.split, len(frames)))
    seconds = time.time() - start
    return dict(writer=writer, records=records, psnr=float(np.concatenate(psnrs).mean()),
                ms_ssim=float(np.concatenate(ssims).mean()),
                psnr_per_video=[float(p.mean()) for p in psnrs],
                decode_to_source_s=seconds,
                ms_ssim_kind="ms_ssim" if ms_ssim_applies(source.height, source.width) else "ssim")


# ---- the stage -------------------------------------------------------------------------

def _chunks_digest(chunks: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(chunks):
        digest.update(key.encode("utf-8") + b"\0" + hashlib.sha256(chunks[key]).digest())
    return digest.hexdigest()


def _remove_unlisted_videos(root: Path, records) -> None:
    """Remove the videos an earlier decode left in ``root`` that its new manifest does not list."""
    listed = {(root / VIDEO_DIR / r.path).resolve() for r in records}
    unlisted = [p for p in (root / VIDEO_DIR).rglob("*") if p.is_file() and p.resolve() not in listed]
    for path in unlisted:
        path.unlink()
    if unlisted:
        notice(f"removed {len(unlisted)} video(s) of an earlier decode from {root / VIDEO_DIR} "
               f"that the new source does not list")


def _prepare(cfg, codec, source: Source, videos, budget_bits: float, work_dir: Path, rank: int,
             checksum) -> "Preparation":
    """What the codec prepares before fitting (:meth:`Codec.prepare`), made by the main
    process into the work dir (``codec.cached_files``, e.g. D-NeRV's coded keyframes) and
    reused from there only for the same videos, budget and codec."""
    from mmengine.dist import barrier

    from toolkit import __version__

    if not codec.cached_files:
        return codec.preparation(work_dir, budget_bits, {})
    prepared_for = dict(toolkit_version=__version__, codec=cfg.codec, budget_bits=budget_bits,
                        source=source_identity(source, videos, checksum))
    _check_prepared(cfg, codec, work_dir, prepared_for, rank)
    made = {}
    if rank == 0 and not all((work_dir / f).is_file() for f in codec.cached_files):
        made = codec.prepare(source, videos, budget_bits, work_dir, workers=cfg.get("workers", 1))
    barrier()
    return codec.preparation(work_dir, budget_bits, made)


def _check_prepared(cfg, codec, work_dir: Path, prepared_for: dict, rank: int) -> None:
    """Refuse (or with ``--refit`` discard) prepared files made for other settings."""
    from mmengine.dist import barrier

    record = Fingerprint(work_dir, "prepared_for.json", "what is prepared in")
    cached = [work_dir / f for f in codec.cached_files]
    if cfg.get("refit"):
        if rank == 0 and any(p.exists() for p in cached):
            notice(f"preparing {', '.join(codec.cached_files)} in {work_dir} again (--refit)")
        if rank == 0:
            for path in cached:
                path.unlink(missing_ok=True)
    else:
        record.check(prepared_for, holds_results=any(p.exists() for p in cached))
    if rank == 0:
        record.write(prepared_for)
    barrier()



def compress_source(cfg) -> dict:
    """Run the compression stage described by ``cfg`` (see configs/compress/).

    The main process holds the work dir and the decoded source it writes for the whole
    run (:class:`~toolkit.engine.workdir.DirLock`) and first removes what killed runs left
    half-written there.
    """
    from contextlib import ExitStack

    from toolkit.engine.distributed import launch_env

    data_root = Path(cfg.data_root)
    name = check_source_name(cfg.get("output") or f"{cfg.codec['type']}_{cfg.size}")
    if name == cfg.source:
        raise ConfigError(f"the decoded source would replace the source it is compressed from "
                          f"({name!r}); set output=<another name>")
    if cfg.get("resume") and cfg.get("refit"):
        raise ConfigError("--resume continues a fit and --refit discards it: give one of them")
    work_dir = Path(cfg.work_dir)
    with ExitStack() as held:
        if launch_env()[0] == 0:
            for directory, what in ((work_dir, "work dir"), (data_root / name, "decoded source")):
                held.enter_context(DirLock(directory, what))
                clean_temporaries(directory)
        return _compress_source(cfg, data_root, name, work_dir)


def _compress_source(cfg, data_root: Path, name: str, work_dir: Path) -> dict:
    from mmengine.dist import get_rank

    from toolkit import __version__
    from toolkit.engine.distributed import fit_local_rank_to_gpus, launch_env, start_distributed

    fit_local_rank_to_gpus()  # before mmengine's logger first reads LOCAL_RANK
    source = Source.open(data_root, cfg.source)
    codec = build_codec(cfg.codec)
    work_dir.mkdir(parents=True, exist_ok=True)
    bitstream_path = work_dir / f"{name}.bits"
    videos = select_videos(source, cfg.get("videos"), cfg.get("split"))
    layout = video_layout(source, videos)
    pixels = source.height * source.width * sum(v["num_frames"] for v in layout["videos"])
    bpp_target, bpp_origin = target_bpp(cfg, data_root)
    budget_bits = bpp_target * pixels
    device = "cuda" if torch.cuda.is_available() else "cpu"
    launcher = cfg.get("launcher", "none")
    workers = cfg.get("workers", 1)
    # Per-video codecs spread their networks over the processes (see fit_networks); the
    # process group starts after the fits then, since each fit is a single-process Runner.
    spread = launcher == "pytorch" and launch_env()[2] > 1 and codec.per_video
    if not spread:
        start_distributed(launcher)
    rank = launch_env()[0] if spread else get_rank()
    info: dict = dict(target_bpp=bpp_target, target_bpp_origin=bpp_origin)
    start = time.time()

    checksums: dict = {}

    def checksum(path):
        if path not in checksums:
            checksums[path] = file_sha256(path)
        return checksums[path]

    prep = _prepare(cfg, codec, source, videos, budget_bits, work_dir, rank, checksum)
    info.update(prep.info)
    jobs = codec.fit_jobs(source, videos, prep.weight_bits)
    # The prepared inputs by content: paths (e.g. of the decoded keyframes) name files
    # that the chunks determine.
    prepared = dict(header=prep.header, chunks_sha256=_chunks_digest(prep.chunks),
                    dataset={k: v for k, v in prep.dataset_args.items() if not isinstance(v, str)})

    def dataset_of(job):
        return dict(type=codec.dataset_type, data_root=str(data_root), source=cfg.source,
                    videos=job.videos, **prep.dataset_args)

    def fingerprint_of(job):
        return fit_fingerprint(cfg, job, source_identity(source, job.videos, checksum), prepared)

    networks, fitted = fit_networks(cfg, codec, jobs, work_dir, dataset_of, fingerprint_of, spread)
    fit_seconds = fitted.get("seconds", 0.0)
    if jobs:
        epochs = [e for e in fitted.get("epochs", []) if e is not None]
        if epochs:
            info.update(fit_epochs=dict(planned=cfg.fit.max_epochs, min=min(epochs), max=max(epochs)))
        info["fits_reused"] = fitted.get("reused", 0)
    if rank != 0:
        return {}
    if jobs:
        info["psnr_unquantized"] = _mean_psnr(
            codec.render_fitted(networks, jobs, layout, codec.fit_context(prep), device),
            source, videos, device)
    encoded = codec.encode(source, videos, bpp_target, prep, jobs, networks, workers)
    bitstream = encoded.bitstream
    info.update(encoded.info)
    encode_seconds = time.time() - start
    num_bytes = write_bitstream(bitstream_path, bitstream)
    bpp = num_bytes * 8 / pixels
    written = read_bitstream(bitstream_path)  # decoding needs only the file
    result = decode_to_source(codec, written, source, videos, data_root / name, name, cfg.size,
                              device)
    throughput = (measure_decode_throughput(codec, written, device, **cfg.get("throughput", {}))
                  if codec.measures_decode_throughput else {})
    digest = hashlib.sha256(bitstream_path.read_bytes()).hexdigest()
    summary = dict(
        source=name, codec=codec.name, size=cfg.size, reference=source.name,
        dataset=data_root.resolve().name,
        bpp=bpp, psnr=result["psnr"], ms_ssim=result["ms_ssim"],
        ms_ssim_kind=result["ms_ssim_kind"],
        bitstream=dict(path=str(bitstream_path), bytes=num_bytes, sha256=digest),
        num_frames=sum(r.num_frames for r in result["records"]),
        height=source.height, width=source.width,
        fit_time_s=fit_seconds, encode_time_s=encode_seconds,
        decode_to_source_s=result["decode_to_source_s"], decode_throughput=throughput,
        psnr_per_video=result["psnr_per_video"], **info, **run_facts(),
    )
    result["writer"].finalize(result["records"], **{k: v for k, v in summary.items()
                                                     if k not in ("source", "codec", "size", "dataset",
                                                                  "height", "width", "num_frames")},
                              config=cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))
    _remove_unlisted_videos(data_root / name, result["records"])
    atomic_write_json(work_dir / "results.json", summary)
    return summary
