"""D-NeRV training and decoding speed at 256x320 (frames per second), on a GPU.

For each size (fc_dim of the paper's UCF101 S/M/L), precision, memory format and
compile setting: one training step (forward, MSE+SSIM loss, backward, AdamW) on a batch
of clips, and decoding (forward only, no keyframe decoding) on a batch of clips. Timed
with CUDA events after warm-up (compilation happens there), median of repeats, on random
data (not zeros). Prints a table and writes JSON; decoding with keyframe decoding is
measured on real bitstreams by tools/compress_dataset.py (decode_throughput).

    python benchmarks/dnerv_speed.py --sizes S M L --dtypes float32 bfloat16 --out speed.json
    python benchmarks/dnerv_speed.py --sizes M --dtypes bfloat16 --compile both --channels-last both
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.codecs.inr.dnerv import DNeRV  # noqa: E402
from toolkit.codecs.inr.sizing import count_parameters  # noqa: E402
from toolkit.quality import reconstruction_loss  # noqa: E402
from toolkit.runinfo import run_facts  # noqa: E402

FC_DIM = {"S": 198, "M": 281, "L": 361}


def timed(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def bench(size: str, dtype: torch.dtype, compiled: bool, channels_last: bool, clips: int,
          repeats: int, warmup: int, compile_mode: str):
    device = "cuda"
    net = DNeRV(256, 320, FC_DIM[size]).to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    params = count_parameters(net)
    model = torch.compile(net, mode=compile_mode) if compiled else net
    keyframes = torch.rand(clips, 2, 3, 256, 320, device=device)
    t = torch.rand(clips, 8, device=device).sort(dim=1).values
    target = torch.rand(clips, 8, 3, 256, 320, device=device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-4)
    autocast = torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            out = model(keyframes, t)
        loss = reconstruction_loss(out, target, mse=1.0, ssim_weight=0.03)
        loss.backward()
        optimizer.step()

    def decode():
        with torch.no_grad(), autocast:
            model(keyframes, t)

    frames = clips * 8
    train_s = timed(train_step, repeats, warmup + (2 if compiled else 0))
    decode_s = timed(decode, repeats, warmup + (2 if compiled else 0))
    memory = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return dict(size=size, fc_dim=FC_DIM[size], parameters=params, dtype=str(dtype).split(".")[-1],
                compiled=compiled, compile_mode=compile_mode if compiled else None,
                channels_last=channels_last, clips_per_batch=clips, train_fps=frames / train_s,
                decode_fps=frames / decode_s, peak_memory_gib=memory)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["M"], choices=list(FC_DIM))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--compile", choices=["no", "yes", "both"], default="no",
                        help="measure under torch.compile: not, only, or both ways")
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode (default, max-autotune-no-cudagraphs, ...)")
    parser.add_argument("--channels-last", choices=["no", "yes", "both"], default="no",
                        help="convolutions in channels-last memory format: not, only, or both ways")
    parser.add_argument("--clips", type=int, default=32, help="clips of 8 frames per batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: this benchmark needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    ways = dict(no=[False], yes=[True], both=[False, True])
    rows = []
    for size in args.sizes:
        for name in args.dtypes:
            for compiled, channels_last in itertools.product(ways[args.compile], ways[args.channels_last]):
                row = bench(size, getattr(torch, name), compiled, channels_last, args.clips,
                            args.repeats, args.warmup, args.compile_mode)
                rows.append(row)
                print(f"{size} {row['parameters'] / 1e6:5.1f}M {row['dtype']:>8} "
                      f"compile={compiled!s:5} channels_last={channels_last!s:5} "
                      f"train {row['train_fps']:8.0f} fps  "
                      f"decode {row['decode_fps']:8.0f} fps  peak {row['peak_memory_gib']:.1f} GiB",
                      flush=True)
                if args.out:
                    args.out.write_text(json.dumps(dict(rows=rows, **run_facts()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
