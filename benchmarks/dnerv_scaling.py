"""How D-NeRV's fitting cost grows with the frames of the source (issue 13, item 3).

For each size (frames), a generated source of moving textures is written as a prepared
toolkit source (FFV1 videos of ``--video-len`` frames; a few distinct videos, the rest hard
links to them, so generating 100k frames costs seconds and no disk), its keyframes stored
as the fit reads them (uncoded here: coding changes their pixels, not the cost), and D-NeRV
fitted for a few epochs through the fit's own dataset (``SourceClips``) and loss
(``DNeRVFitModel``), AdamW, bf16 autocast on a GPU. Data paths (``--data-path``):

  file    frames read on demand from a frame file (what a fit does above
          ``fit.max_frames_in_memory``); its write is timed
  memory  frames decoded into one array (below that limit)

Recorded per size and path: every epoch's wall time, the host's wait for the data loader,
GPU busy fraction (CUDA events around each step: GPU time of the steps over the epoch's
wall time; idle gaps between steps are the GPU waiting for data or the host), the GPU
utilisation nvidia-smi reports (sampled, when pynvml is installed), peak host memory (PSS
summed over the process and its loader workers, sampled every 0.1 s from /proc: shared
pages counted once; frames read with pread live in the kernel's page cache, which no
process is charged for) and peak GPU memory. JSON lines with device, commit, date, command.

    python benchmarks/dnerv_scaling.py --frames 1000 10000 100000 --epochs 3 3 2 \\
        --out docs/results/data/dnerv_scaling.jsonl
    python benchmarks/dnerv_scaling.py --tiny --out /tmp/scaling.jsonl     # CPU dry run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.codecs.inr.keyframes import keyframe_indices, save_keyframes  # noqa: E402
from toolkit.codecs.inr.sizing import count_parameters  # noqa: E402
from toolkit.data.frame_file import write_frame_file  # noqa: E402
from toolkit.data.source import Source, SourceWriter, VideoRecord  # noqa: E402
from toolkit.engine.datasets import SourceClips  # noqa: E402
from toolkit.runinfo import run_facts  # noqa: E402

CLIP_LEN = 8
GIB = 2**30


# ---- the generated source -------------------------------------------------------------------

def moving_texture(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random texture panning by a per-video velocity, (T, H, W, 3) uint8."""
    import cv2

    rng = np.random.default_rng(seed)
    dy, dx = rng.integers(-3, 4, 2)
    pad_y, pad_x = abs(int(dy)) * num_frames, abs(int(dx)) * num_frames
    coarse = rng.integers(0, 256, ((height + pad_y) // 8 + 2, (width + pad_x) // 8 + 2, 3))
    big = cv2.resize(coarse.astype(np.float32), (coarse.shape[1] * 8, coarse.shape[0] * 8),
                     interpolation=cv2.INTER_CUBIC)
    y0, x0 = (pad_y if dy < 0 else 0), (pad_x if dx < 0 else 0)
    frames = [big[y0 + t * dy:y0 + t * dy + height, x0 + t * dx:x0 + t * dx + width]
              for t in range(num_frames)]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def generated_source(root: Path, frames: int, height: int, width: int, video_len: int,
                     distinct: int) -> tuple[Source, Path]:
    """A source of ``frames`` frames in videos of ``video_len`` (the last one shorter), the
    videos hard links to ``distinct`` generated ones; and its keyframes file."""
    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=height, width=width,
                          fps=25, classes=["moving"])
    lengths = [video_len] * (frames // video_len) + ([frames % video_len] if frames % video_len else [])
    made: dict[int, tuple[Path, np.ndarray]] = {}  # generated video -> its file and keyframes
    records, keyframes = [], []
    for i, length in enumerate(lengths):
        relpath = f"moving/v{i:06d}.mkv"
        key = i % distinct if length == video_len else -1
        if key in made:
            os.link(made[key][0], writer.video_path(relpath))
        else:
            video = moving_texture(length, height, width, seed=i)
            writer.write_video(relpath, video)
            made[key] = (writer.video_path(relpath), video[keyframe_indices(length, CLIP_LEN)])
        records.append(VideoRecord(relpath, 0, "train", length))
        keyframes.append(made[key][1])  # the same array for every link: no memory per video
    source = writer.finalize(records)
    save_keyframes(root / "keyframes.npz", keyframes)
    return source, root / "keyframes.npz"


# ---- measuring --------------------------------------------------------------------------------

def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out + [g for c in out for g in _children(c)]


class Monitor:
    """Samples host PSS (this process and its descendants), this process's RSS and, if
    pynvml is there, GPU utilisation, every ``interval`` seconds until stopped."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.pss_peak, self.rss_peak, self.util = interval, 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        pid = os.getpid()
        while not self._stop.is_set():
            self.pss_peak = max(self.pss_peak, sum(_pss_kib(p) for p in [pid, *_children(pid)]))
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            self.rss_peak = max(self.rss_peak, rss)
            if torch.cuda.is_available():
                try:
                    self.util.append(torch.cuda.utilization())
                except Exception:  # pynvml missing or no NVML: not sampled
                    pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def fit_epochs(dataset, args, device: str) -> dict:
    """Fit D-NeRV on ``dataset`` for ``epochs`` epochs; per-epoch times, waits and GPU busy."""
    from toolkit.engine.models import DNeRVFitModel

    torch.manual_seed(0)
    height, width = dataset.source.height, dataset.source.width
    model = DNeRVFitModel(dict(type="DNeRV", height=height, width=width, fc_dim=args.fc_dim,
                               clip_len=CLIP_LEN, **args.network)).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.999), weight_decay=0)
    cuda = device == "cuda"
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers, pin_memory=cuda,
        persistent_workers=args.workers > 0, drop_last=False,
        generator=torch.Generator().manual_seed(0))
    autocast = dict(device_type=device, dtype=torch.bfloat16, enabled=cuda)
    epochs = []
    for _ in range(args.epochs_now):
        wait, spans = 0.0, []
        begin = time.perf_counter()
        batches = iter(loader)
        while True:
            asked = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - asked
            if batch is None:
                break
            if cuda:
                spans.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)))
                spans[-1][0].record()
            inputs = {k: v.to(device, non_blocking=True) for k, v in batch["inputs"].items()}
            with torch.autocast(**autocast):
                loss = model._training_loss(inputs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if cuda:
                spans[-1][1].record()
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - begin
        gpu_s = sum(s.elapsed_time(e) for s, e in spans) / 1000 if cuda else None
        epochs.append(dict(seconds=wall, loader_wait_s=wait, iterations=len(loader),
                           gpu_busy=gpu_s / wall if cuda else None))
    return dict(epochs=epochs, parameters=count_parameters(model.network))


def measure(frames: int, epochs: int, path: str, args, device: str) -> dict:
    work = args.work / f"frames_{frames}"
    shutil.rmtree(work, ignore_errors=True)
    begin = time.perf_counter()
    source, keyframes = generated_source(work, frames, args.height, args.width, args.video_len,
                                         args.distinct)
    row = dict(frames=frames, videos=len(source.videos), video_len=args.video_len,
               height=args.height, width=args.width, fc_dim=args.fc_dim, network=args.network,
               batch_clips=args.batch,
               workers=args.workers, data_path=path, epochs=epochs,
               dtype="bfloat16" if device == "cuda" else "float32", compiled=False,
               source_write_s=time.perf_counter() - begin)
    frame_file = None
    if path == "file":
        begin = time.perf_counter()
        frame_file = write_frame_file(work / "frames.npy", source, workers=args.prepare_workers)
        row.update(frame_file_write_s=time.perf_counter() - begin,
                   frame_file_gib=frame_file.stat().st_size / GIB)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    pss_before = sum(_pss_kib(p) for p in [os.getpid(), *_children(os.getpid())])
    with Monitor() as monitor:
        begin = time.perf_counter()
        dataset = SourceClips(str(work), keyframes=str(keyframes),
                              frame_file=str(frame_file) if frame_file else None)
        row.update(dataset_open_s=time.perf_counter() - begin, clips=len(dataset))
        args.epochs_now = epochs
        fitted = fit_epochs(dataset, args, device)
        del dataset
    per_epoch = fitted["epochs"]
    steady = per_epoch[1:] or per_epoch  # the first epoch carries worker start and autotuning
    epoch_s = statistics.median(e["seconds"] for e in steady)
    row.update(
        parameters=fitted["parameters"],
        epoch_s=[e["seconds"] for e in per_epoch], epoch_s_steady=epoch_s,
        s_per_frame=epoch_s / frames, frames_per_s=frames / epoch_s,
        loader_wait_s=[e["loader_wait_s"] for e in per_epoch],
        loader_wait_fraction=statistics.median(e["loader_wait_s"] / e["seconds"] for e in steady),
        gpu_busy=[e["gpu_busy"] for e in per_epoch],
        gpu_busy_steady=statistics.median(e["gpu_busy"] for e in steady) if device == "cuda" else None,
        gpu_util_sampled_mean=statistics.mean(monitor.util) if monitor.util else None,
        host_pss_before_gib=pss_before / 2**20, host_pss_peak_gib=monitor.pss_peak / 2**20,
        host_pss_growth_gib=(monitor.pss_peak - pss_before) / 2**20,
        host_rss_peak_gib=monitor.rss_peak / 2**20,
        gpu_peak_gib=torch.cuda.max_memory_allocated() / GIB if device == "cuda" else None)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return row


def report(rows: list[dict]) -> None:
    first = {}
    print(f"{'frames':>8} {'path':>6} {'epoch s':>9} {'us/frame':>9} {'vs first':>8} {'wait':>6} "
          f"{'GPU busy':>8} {'PSS peak':>9} {'growth':>8} {'GPU GiB':>8}")
    for r in rows:
        base = first.setdefault(r["data_path"], r["s_per_frame"])
        busy = f"{r['gpu_busy_steady']:.1%}" if r["gpu_busy_steady"] is not None else "-"
        gpu = f"{r['gpu_peak_gib']:.1f}" if r["gpu_peak_gib"] is not None else "-"
        print(f"{r['frames']:>8} {r['data_path']:>6} {r['epoch_s_steady']:9.2f} "
              f"{1e6 * r['s_per_frame']:9.1f} {r['s_per_frame'] / base:8.2f} "
              f"{r['loader_wait_fraction']:6.1%} {busy:>8} {r['host_pss_peak_gib']:8.2f}G "
              f"{r['host_pss_growth_gib']:7.2f}G {gpu:>8}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 3, 2],
                        help="epochs per size (one number: the same for all)")
    parser.add_argument("--size", default="256x320", help="HxW of the generated frames")
    parser.add_argument("--fc-dim", type=int, default=281, help="D-NeRV width (281: the paper's M)")
    parser.add_argument("--network", type=json.loads, default={},
                        help='extra DNeRV arguments as JSON, e.g. \'{"width_multiple": 8}\'')
    parser.add_argument("--batch", type=int, default=32, help="clips of 8 frames per batch")
    parser.add_argument("--workers", type=int, default=8, help="data loader workers")
    parser.add_argument("--prepare-workers", type=int, default=os.cpu_count() or 1,
                        help="processes writing the frame file")
    parser.add_argument("--video-len", type=int, default=96, help="frames per generated video")
    parser.add_argument("--distinct", type=int, default=8, help="distinct generated videos")
    parser.add_argument("--data-path", nargs="+", choices=["file", "memory"], default=["file"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/dnerv_scaling"),
                        help="scratch folder for the generated sources (removed after each size)")
    parser.add_argument("--keep", action="store_true", help="keep the generated sources")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true",
                        help="CPU dry run: 64/256/1024 frames at 32x40, 1 epoch, a tiny network, both data paths")
    parser.add_argument("--out", type=Path, help="append JSON lines here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.frames, args.epochs, args.size, args.fc_dim = [64, 256, 1024], [1], "32x40", 4
        args.network = dict(mlp_hidden=16, pe_levels=8, min_width=4, encoder_dim=4)  # as the tests
        args.batch, args.workers, args.video_len, args.distinct = 4, 2, 32, 4
        args.data_path = ["file", "memory"]
    try:
        args.height, args.width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"error: --size {args.size!r} is not HxW (e.g. 256x320)", file=sys.stderr)
        return 2
    epochs = args.epochs * len(args.frames) if len(args.epochs) == 1 else args.epochs
    if len(epochs) != len(args.frames) or min(epochs) < 1 or min(args.frames) < 2:
        print("error: give one --epochs (>= 1) per --frames size (>= 2), or one for all", file=sys.stderr)
        return 2
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # as the fit runs (env_cfg.cudnn_benchmark)
    rows = []
    for frames, n in zip(args.frames, epochs):
        for path in args.data_path:
            rows.append(measure(frames, n, path, args, args.device))
            print(json.dumps({k: v for k, v in rows[-1].items() if not isinstance(v, list)}), flush=True)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                with args.out.open("a") as f:
                    f.write(json.dumps({**rows[-1], **run_facts()}) + "\n")
    report(sorted(rows, key=lambda r: (r["data_path"], r["frames"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
