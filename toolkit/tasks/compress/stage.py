"""The compression stage: source -> bitstream -> decoded source, with honest numbers.

``compress_source(cfg)`` runs one codec (any :class:`~toolkit.codecs.base.Codec`) at one
operating point:

1. Let the codec prepare (D-NeRV codes its keyframes; kept in the work dir), plan the
   networks for the bit budget (INR codecs), fit them with the fitting service
   (:mod:`toolkit.engine.fit`: mmengine Runners, AMP, checkpoints, resume, DDP under
   ``torchrun``) and encode: INR codecs quantise and entropy-code the networks,
   classical codecs encode at the CRF that meets the target bpp.
2. Write the bitstream atomically; bpp = its bytes * 8 / (H * W * frames).
3. Decode from the file alone into a new lossless source ``<codec>_<size>`` and
   measure PSNR / MS-SSIM against the source it came from, and decode throughput.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from toolkit.codecs.base import Preparation
from toolkit.codecs.bitstream import read_bitstream, write_bitstream
from toolkit.codecs.layout import CATALOG_KEY, BitstreamLayout, VideoCatalog
from toolkit.data.frame_file import write_frame_file
from toolkit.data.names import SourceName
from toolkit.data.source import (MANIFEST, VIDEO_DIR, Source, SourceWriter, VideoRecord,
                                 check_source_name)
from toolkit.engine.config import ConfigError, build_codec
from toolkit.engine.datasets import select_videos
from toolkit.engine.fit import (fit_fingerprint, fit_networks, fit_summary, float32_precision,
                                 source_identity)
from toolkit.engine.throughput import measure_decode_throughput
from toolkit.engine.workdir import DirLock, Fingerprint, clean_temporaries, file_sha256, notice
from toolkit.quality import frame_quality, ms_ssim_applies
from toolkit.runinfo import atomic_write_json, run_facts


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


# ---- evaluation ------------------------------------------------------------------------

def compare_frames(reference: np.ndarray, decoded: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PSNR and MS-SSIM (SSIM for small frames) of uint8 videos (T, H, W, 3)."""
    return frame_quality(reference, decoded, device)


def _mean_psnr(decoded_videos, source: Source, videos: list[int], device) -> float:
    """Mean per-frame PSNR of decoded videos (in the order of ``videos``) against ``source``."""
    values = [frame_quality(source.read_video(source.videos[i]), frames, device, with_ms_ssim=False)[0]
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
             checksum) -> Preparation:
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
    kept = codec.cached_files + ((FRAME_FILE,) if codec.reads_frame_file else ())
    cached = [work_dir / f for f in kept]
    if cfg.get("refit"):
        if rank == 0 and any(p.exists() for p in cached):
            notice(f"preparing {', '.join(kept)} in {work_dir} again (--refit)")
        if rank == 0:
            for path in cached:
                path.unlink(missing_ok=True)
    else:
        record.check(prepared_for, holds_results=any(p.exists() for p in cached))
    if rank == 0:
        record.write(prepared_for)
    barrier()


#: The frames of the source, read on demand by a fit above ``fit.max_frames_in_memory``;
#: kept in the work dir and fingerprinted with what the codec prepares.
FRAME_FILE = "frames.npy"


def _frame_file(cfg, codec, source: Source, videos, work_dir: Path, rank: int) -> Path | None:
    """``frames.npy`` in the work dir when the selected videos have more frames than
    ``fit.max_frames_in_memory`` (written once, by rank 0); None: frames held in memory."""
    from mmengine.dist import barrier

    limit = cfg.fit.get("max_frames_in_memory")
    if not codec.reads_frame_file or limit is None or \
            sum(source.videos[i].num_frames for i in videos) <= limit:
        return None
    path = work_dir / FRAME_FILE
    if rank == 0 and not path.is_file():
        notice(f"writing the frames of {source.root} to {path} (read on demand by the fit)")
        write_frame_file(path, source, workers=cfg.get("workers", 1))
    barrier()
    return path


def compress_source(cfg) -> dict:
    """Run the compression stage described by ``cfg`` (see configs/compress/).

    The main process holds the work dir and the decoded source it writes for the whole
    run (:class:`~toolkit.engine.workdir.DirLock`) and first removes what killed runs left
    half-written there.
    """
    from contextlib import ExitStack

    from toolkit.engine.distributed import fit_local_rank_to_gpus, launch_env

    fit_local_rank_to_gpus()  # before mmengine's logger first reads LOCAL_RANK
    data_root = Path(cfg.data_root)
    name = check_source_name(cfg.get("output") or SourceName(cfg.codec["type"], cfg.size).format())
    if name == cfg.source:
        raise ConfigError(f"the decoded source would replace the source it is compressed from "
                          f"({name!r}); set output=<another name>")
    if cfg.get("resume") and cfg.get("refit"):
        raise ConfigError("--resume continues a fit and --refit discards it: give one of them")
    work_dir = Path(cfg.work_dir)
    # A source that cannot be opened (e.g. a manifest entry leaving its root) or a wrong
    # codec key is refused before the locks create the decoded source's directory.
    source = Source.open(data_root, cfg.source)
    codec = build_codec(cfg.codec)
    with ExitStack() as held:
        if launch_env()[0] == 0:
            for directory, what in ((work_dir, "work dir"), (data_root / name, "decoded source")):
                # a run refused before writing leaves no empty source directory behind
                held.enter_context(DirLock(directory, what, leave_no_empty_dir=what != "work dir"))
                clean_temporaries(directory)
        return _compress_source(cfg, data_root, name, work_dir, source, codec)


def _compress_source(cfg, data_root: Path, name: str, work_dir: Path, source: Source,
                     codec) -> dict:
    from mmengine.dist import get_rank

    from toolkit.engine.distributed import launch_env, start_distributed

    work_dir.mkdir(parents=True, exist_ok=True)
    bitstream_path = work_dir / f"{name}.bits"
    videos = select_videos(source, cfg.get("videos"), cfg.get("split"))
    layout = BitstreamLayout.of_source(source, videos)
    pixels = layout.num_pixels
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

    frame_file = _frame_file(cfg, codec, source, videos, work_dir, rank)

    def dataset_of(job):
        return dict(type=codec.dataset_type, data_root=str(data_root), source=cfg.source,
                    videos=job.videos, **prep.dataset_args,
                    **(dict(frame_file=str(frame_file)) if frame_file else {}))

    def fingerprint_of(job):
        return fit_fingerprint(cfg, job, source_identity(source, job.videos, checksum), prepared)

    fitted = fit_networks(cfg, codec, jobs, work_dir, dataset_of, fingerprint_of, spread)
    if rank != 0:
        return {}
    networks = [item.network for item in fitted]
    summary = fit_summary(fitted)
    fit_seconds = summary["seconds"]
    if jobs:
        epochs = [e for e in summary["epochs"] if e is not None]
        if epochs:
            info.update(fit_epochs=dict(planned=cfg.fit.max_epochs, min=min(epochs), max=max(epochs)))
        info["fits_reused"] = summary["reused"]
        info["fit_precision"] = summary["precision"]
        with float32_precision(cfg.fit.get("tf32")):  # rendered as it was fitted
            info["psnr_unquantized"] = _mean_psnr(
                codec.render_fitted(networks, jobs, layout, codec.fit_context(prep), device),
                source, videos, device)
    encoded = codec.encode(source, videos, bpp_target, prep, jobs, networks, workers)
    bitstream = encoded.bitstream
    info.update(encoded.info)
    encode_seconds = time.time() - start
    # the names and labels of the videos, so that the file alone decodes into a source
    bitstream.header[CATALOG_KEY] = VideoCatalog.of_source(source, videos).to_header()
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
