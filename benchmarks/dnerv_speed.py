"""D-NeRV training and decoding speed at 256x320 (frames per second), on a GPU.

For each size (fc_dim of the paper's UCF101 S/M/L), precision, memory format and
compile setting: one training step (forward, MSE+SSIM loss, backward, AdamW) on a batch
of clips, and decoding (forward only, no keyframe decoding) on a batch of clips. Timed
with CUDA events after warm-up (compilation happens there), median of repeats, on random
data (not zeros). Prints a table and writes JSON; decoding with keyframe decoding is
measured on real bitstreams by tools/compress_dataset.py (decode_throughput), and here
with ``--keyframes-from``: the keyframes of a prepared source are coded as D-NeRV codes
them (HEVC intra, 60 % of the size's nominal bits) and their decoding on the CPU is timed
and added to the network's decoding time. ``--profile`` writes per-operator GPU time
tables (torch.profiler) of one training step and one decoding pass per configuration.

    python benchmarks/dnerv_speed.py --sizes S M L --dtypes float32 bfloat16 --out speed.json
    python benchmarks/dnerv_speed.py --sizes M --dtypes bfloat16 --compile both --channels-last both
    python benchmarks/dnerv_speed.py --sizes M --dtypes bfloat16 --profile prof/ --keyframes-from data/builtin/raw
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.codecs.inr.dnerv import DNeRV, round_up  # noqa: E402
from toolkit.codecs.inr.keyframes import code_keyframes, keyframe_indices  # noqa: E402
from toolkit.codecs.inr.sizing import count_parameters  # noqa: E402
from toolkit.quality import reconstruction_loss  # noqa: E402
from toolkit.runinfo import run_facts  # noqa: E402

FC_DIM = {"S": 198, "M": 281, "L": 361}


def timed(fn, repeats: int, warmup: int) -> float:
    """Median seconds of ``fn`` after ``warmup`` calls: CUDA events on a GPU, a clock on the CPU."""
    cuda = torch.cuda.is_available()
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if not cuda:
            begin = time.perf_counter()
            fn()
            times.append(time.perf_counter() - begin)
            continue
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def peak_memory_gib() -> float | None:
    """Peak GPU memory since the last call (None on the CPU)."""
    if not torch.cuda.is_available():
        return None
    memory = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return memory


def profile_tables(steps: dict, path: Path, rows: int = 40) -> None:
    """Per-operator GPU time of each named step (run once) into a text file."""
    from torch.profiler import ProfilerActivity, profile

    parts = []
    for name, fn in steps.items():
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="self_device_time_total", row_limit=rows)
        parts.append(f"==== {name} ====\n{table}\n")
    path.write_text("\n".join(parts))


def bench(size: str, dtype: torch.dtype, compiled: bool, channels_last: bool, clips: int,
          repeats: int, warmup: int, compile_mode: str, width_multiple: int = 1,
          profile_dir: Path | None = None, compile_scope: str = "step", device: str = "cuda",
          shape: tuple[int, int] = (256, 320), fc_dim: int | None = None,
          network_args: dict | None = None):
    """One configuration's training and decoding frames/s (``shape``, ``fc_dim`` and
    ``device`` other than the defaults: for CPU dry runs at tiny sizes)."""
    height, width = shape
    fc_dim = round_up(fc_dim or FC_DIM[size], width_multiple)
    net = DNeRV(height, width, fc_dim, width_multiple=width_multiple, **(network_args or {})).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    params = count_parameters(net)
    model = torch.compile(net, mode=compile_mode) if compiled else net
    keyframes = torch.rand(clips, 2, 3, height, width, device=device)
    t = torch.rand(clips, 8, device=device).sort(dim=1).values
    target = torch.rand(clips, 8, 3, height, width, device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-4)
    low_precision = dtype != torch.float32

    def forward_loss(network):
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=low_precision):
            out = network(keyframes, t)
        return reconstruction_loss(out, target, mse=1.0, ssim_weight=0.03)

    if compiled and compile_scope == "step":  # the loss (SSIM) fused too, as a fit compiles it
        train_forward = torch.compile(functools.partial(forward_loss, net), mode=compile_mode)
    else:
        train_forward = functools.partial(forward_loss, model)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        train_forward().backward()
        optimizer.step()

    def decode():
        with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=dtype,
                                             enabled=low_precision):
            model(keyframes, t)

    frames = clips * 8
    train_s = timed(train_step, repeats, warmup + (2 if compiled else 0))
    decode_s = timed(decode, repeats, warmup + (2 if compiled else 0))
    memory = peak_memory_gib()
    row = dict(size=size, fc_dim=fc_dim, width_multiple=width_multiple, parameters=params,
               dtype=str(dtype).split(".")[-1], compiled=compiled,
               compile_mode=compile_mode if compiled else None,
               compile_scope=compile_scope if compiled else None, channels_last=channels_last,
               clips_per_batch=clips, train_fps=frames / train_s, decode_fps=frames / decode_s,
               peak_memory_gib=memory)
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        name = "_".join(str(row[k]) for k in ("size", "dtype", "compiled", "compile_scope", "channels_last",
                                              "width_multiple", "clips_per_batch"))
        profile_tables(dict(train_step=train_step, decode=decode), profile_dir / f"profile_{name}.txt")
    return row


def keyframe_decode_seconds(source_root: Path, size: str, repeats: int) -> dict:
    """Code the keyframes of a prepared source as configs/compress/dnerv.py codes them (its
    keyframe share of the size's nominal bits); time decoding them (CPU)."""
    from toolkit.data.source import Source
    from toolkit.engine.config import build_codec, find_config, load_config

    cfg = load_config(find_config("compress", "dnerv"))
    codec = build_codec(cfg.codec)
    source = Source(source_root)
    videos = list(range(len(source.videos)))
    budget_bits = codec.keyframe_share * cfg.sizes[size] * source.num_pixels
    coded, _, _ = code_keyframes(source, videos, codec.clip_len, budget_bits,
                                 codec.keyframe_codec(), workers=4)
    keyframes = sum(len(keyframe_indices(v.num_frames, codec.clip_len)) for v in source.videos)
    seconds = []
    for _ in range(repeats):
        begin = time.perf_counter()
        list(codec.keyframe_codec().decompress(coded))
        seconds.append(time.perf_counter() - begin)
    bits = 8 * sum(len(c) for c in coded.chunks.values())
    return dict(source=str(source_root), frames=source.num_frames, keyframes=keyframes,
                keyframe_bpp=bits / (keyframes * source.height * source.width),
                seconds_per_keyframe=statistics.median(seconds) / keyframes,
                keyframes_per_frame=keyframes / source.num_frames, decoder_threads=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["M"], choices=list(FC_DIM))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--compile", choices=["no", "yes", "both"], default="no",
                        help="measure under torch.compile: not, only, or both ways")
    parser.add_argument("--compile-scope", choices=["step", "model"], default="step",
                        help="what training compiles: the network and the loss together (step) "
                             "or the network alone (model; the loss then runs eagerly)")
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode (default, max-autotune-no-cudagraphs, ...)")
    parser.add_argument("--channels-last", choices=["no", "yes", "both"], default="no",
                        help="convolutions in channels-last memory format: not, only, or both ways")
    parser.add_argument("--width-multiple", type=int, nargs="+", default=[1],
                        help="round the widths (fc_dim included) up to a multiple of this; "
                             "1 = the paper's widths (several values: each is measured)")
    parser.add_argument("--clips", type=int, default=32, help="clips of 8 frames per batch")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write per-operator GPU time tables of each configuration here")
    parser.add_argument("--keyframes-from", type=Path, metavar="SOURCE",
                        help="a prepared source (e.g. data/builtin/raw) whose keyframes are coded "
                             "and decoded on the CPU to report decoding with keyframe decoding")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: this benchmark needs a CUDA GPU", file=sys.stderr)
        return 2
    if args.keyframes_from is not None and not (args.keyframes_from / "manifest.json").is_file():
        print(f"error: --keyframes-from {args.keyframes_from} is not a prepared source "
              f"(no manifest.json); make one with tools/prepare_dataset.py", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    ways = dict(no=[False], yes=[True], both=[False, True])
    rows, keyframes = [], {}
    for size in args.sizes:
        if args.keyframes_from is not None:
            keyframes[size] = keyframe_decode_seconds(args.keyframes_from, size, args.repeats)
        for name, multiple in itertools.product(args.dtypes, args.width_multiple):
            for compiled, channels_last in itertools.product(ways[args.compile], ways[args.channels_last]):
                row = bench(size, getattr(torch, name), compiled, channels_last, args.clips,
                            args.repeats, args.warmup, args.compile_mode, multiple, args.profile,
                            args.compile_scope)
                if size in keyframes:
                    k = keyframes[size]
                    seconds_per_frame = 1 / row["decode_fps"] + k["keyframes_per_frame"] * k["seconds_per_keyframe"]
                    row["decode_fps_with_keyframes"] = 1 / seconds_per_frame
                rows.append(row)
                with_keys = (f" ({row['decode_fps_with_keyframes']:.0f} with keyframes)"
                             if "decode_fps_with_keyframes" in row else "")
                print(f"{size} {row['parameters'] / 1e6:5.1f}M {row['dtype']:>8} x{multiple} "
                      f"compile={compiled!s:5} channels_last={channels_last!s:5} "
                      f"train {row['train_fps']:8.0f} fps  "
                      f"decode {row['decode_fps']:8.0f} fps{with_keys}  "
                      f"peak {row['peak_memory_gib']:.1f} GiB", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(dict(rows=rows, keyframe_decoding=keyframes,
                                                        **run_facts()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
