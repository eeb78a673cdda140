"""The whole pipeline on the built-in dataset, on a CPU, in minutes.

Runs the real tools one after another (each command is printed, so you can rerun
any step by hand), with small fit budgets: the numbers show the pipeline works,
they are not results. Every step resumes or reuses what an earlier run wrote.

    python tools/demo.py                 # writes under data/ and work_dirs/
    python tools/demo.py --root /tmp/demo
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"


def step(title: str, *args: str) -> None:
    command = [sys.executable, *args]
    print(f"\n=== {title}\n$ {' '.join(shlex.quote(a) for a in command)}", flush=True)
    start = time.time()
    subprocess.run(command, cwd=REPO, check=True)
    print(f"--- {title}: {time.time() - start:.0f} s", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO, help="where data/ and work_dirs/ go")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    videos, data = args.root / "data" / "builtin_videos", args.root / "data" / "builtin"
    work = args.root / "work_dirs" / "demo"
    workers = str(args.workers)
    tool = lambda name: str(TOOLS / name)  # noqa: E731

    step("1. generate the built-in dataset (8 motion classes, real imagery)",
         tool("make_builtin_dataset.py"), "--out", str(videos), "--preset", "default",
         "--workers", workers, "--no-progress")
    step("2. prepare the source 'raw' (2 fps, 128x160, lossless)",
         tool("prepare_dataset.py"), "list", "--root", str(videos), "--out", str(data),
         "--fps", "2", "--size", "128x160", "--workers", workers, "--no-progress")
    step("3. NeRV at size M (a 2-epoch CPU fit)",
         tool("compress_dataset.py"), "--source-root", str(data), "--codec", "nerv", "--size", "M",
         "--work-dir", str(work / "nerv_M"), "--cfg-options", "fit.max_epochs=2",
         f"fit.num_workers={workers}", "throughput.repeats=1", "throughput.dtypes=[float32]")
    for codec in ("h264", "hevc"):
        step(f"4. {codec.upper()} rate-matched to nerv_M",
             tool("compress_dataset.py"), "--source-root", str(data), "--codec", codec, "--size", "M",
             "--work-dir", str(work / f"{codec}_M"), "--cfg-options", f"workers={workers}")
    step("5. rate-distortion table and plot",
         tool("report_compression.py"), str(data), "--out", str(work / "rd.png"))
    step("6. TSM, 'test' setting: fit on raw, evaluate on h264_M (a short CPU fit)",
         tool("train_tsm.py"), "--data-root", str(data), "--source", "h264_M", "--setting", "test",
         "--config", str(REPO / "configs" / "tsm" / "tsm_r18_builtin.py"),
         "--work-dir", str(work / "tsm"), "--cfg-options", "train_cfg.max_epochs=6",
         "train_cfg.val_interval=6", f"train_dataloader.num_workers={workers}",
         f"val_dataloader.num_workers={workers}", f"test_dataloader.num_workers={workers}")
    step("7. inpainting: NeRV and D-NeRV fill masked boxes (tiny CPU fits)",
         tool("inpaint_eval.py"), str(REPO / "configs" / "inpaint" / "cpu_demo.py"),
         "--source-root", str(data), "--models", "nerv,dnerv", "--work-dir", str(work / "inpaint"))

    results = json.loads((work / "nerv_M" / "results.json").read_text())
    print(f"\nDemo finished. Decoded sources: {', '.join(p.name for p in sorted(data.iterdir()) if p.is_dir())}"
          f"\nnerv_M: {results['bpp']:.4f} bpp, {results['psnr']:.2f} dB after a 2-epoch fit"
          f"\nPictures: {work / 'rd.png'}, {work / 'inpaint' / 'panels'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
