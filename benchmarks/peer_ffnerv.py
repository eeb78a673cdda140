"""Our FFNeRV beside the official one (maincold2/FFNeRV) on the same frames, size and epochs.

The official ``model.py`` and ``utils.py`` are imported unchanged from a checkout kept outside
this repository (``--official``). Its ``main.py`` cannot be imported (tensorboard at import
time) nor run here (CUDA and ``./datasets/<name>`` hard-coded), so its training loop is
mirrored below, step for step: a whole-video fp16 buffer of independent frames filled before
the first epoch, neighbours -2, -1, +1, +2 warped by ``main.py``'s own ``resample``
(its definition compiled from the checkout's source),
``utils.loss_fn`` 'Fusion6' on the aggregated, independent and final frames (weights 0.1, 0.1,
1), Adam betas (0.5, 0.999), lr 5e-4 under ``utils.adjust_lr`` (20 % warm-up from 0.1, cosine),
batch 1, shuffled, seed 1, fp32; its evaluation refills the buffer, then PSNR per frame.

``--bits 8`` (default) is the official compression recipe: ``--wbit 8`` QAT (tanh, 255 levels)
for the official model, our 8-bit QAT for ours; the official model's PSNR is then already that
of its quantised weights (its Huffman coding is lossless). ``--bits 32``: no QAT for either.

Our network is sized to ``--params`` by ``ffnerv.solve_size`` and the official one is built
with the same grid channels, first width (``--expansion``), grid lengths (``--t-dim``), base map
and strides, ``--conv-type compact``, ``--lower-width`` our floor; both report their counts.
Ours trains with its fit model (loss, QAT) and its config's optimizer and schedule
(configs/compress/ffnerv.py), in the precision ``--ours-amp`` names (default: the config's
autocast dtype on a GPU, as our fit runs, float32 on the CPU; ``none`` compares both sides in
float32); each JSON line records its side's ``amp``. Its ``psnr_quantized`` is after our
codec's 8-bit packing and entropy coding. Both sides run with ``cudnn.benchmark`` on, as
``main.py`` and our fit set it.

``--profile`` logs, for each side, a torch.profiler table of training steps 6-10 (top 25 by
self device time on a GPU, CPU time on the CPU), their op and kernel-launch counts and the
CUDA synchronisations and copies among them; those steps' ``time_s`` then includes profiling.

    python benchmarks/peer_ffnerv.py --official /work/peers/FFNeRV --frames bunny --size 640x1280 \\
        --epochs 300 --params 3e6 --out results.jsonl --device cuda
    python benchmarks/peer_ffnerv.py --official /work/peers/FFNeRV --frames bunny --tiny --out r.jsonl
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer_common import BenchmarkError, frame_psnr, load_frames, official_commit  # noqa: E402

from toolkit.codecs.inr import ffnerv  # noqa: E402
from toolkit.codecs.inr.sizing import count_parameters, stride_plan  # noqa: E402
from toolkit.runinfo import run_facts  # noqa: E402

TINY = dict(frames=8, size=(80, 160), epochs=1, params=60_000)
OFFICIAL_SEED = 1
AMP_CHOICES = ("none", "bfloat16")  # float16 would need the loss scaling this loop lacks
PROFILE_SKIP, PROFILE_STEPS = 5, 5  # training steps left to warm up, then profiled
# CUDA runtime calls that wait for the device or copy between host and device, counted per step
SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")
LAUNCH_EVENTS = ("cudaLaunchKernel", "cuLaunchKernel")


class StepProfiler:
    """Profiles ``PROFILE_STEPS`` training steps after ``PROFILE_SKIP`` (call ``step`` after each,
    ``close`` after the loop) and logs the table; does nothing unless ``enabled``."""

    def __init__(self, label: str, device: torch.device, log, enabled: bool):
        self.label, self.device, self.log, self.enabled = label, device, log, enabled
        self.done, self.profile = 0, None

    def step(self) -> None:
        if not self.enabled:
            return
        self.done += 1
        if self.done == PROFILE_SKIP:
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU]
            if self.device.type == "cuda":
                activities.append(ProfilerActivity.CUDA)
            self._synchronize()
            self.profile = profile(activities=activities)
            self.profile.__enter__()
        elif self.done == PROFILE_SKIP + PROFILE_STEPS:
            self.close()

    def close(self) -> None:
        """End the profile (a short run may end before ``PROFILE_STEPS``) and log it."""
        if self.profile is None:
            return
        self._synchronize()
        self.profile.__exit__(None, None, None)
        self._report(self.profile.key_averages(), self.done - PROFILE_SKIP)
        self.profile = None

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _report(self, averages, steps: int) -> None:
        sort_by = "self_cuda_time_total" if self.device.type == "cuda" else "self_cpu_time_total"
        self.log(f"{self.label} profile of {steps} steps ({sort_by}):\n"
                 f"{averages.table(sort_by=sort_by, row_limit=25)}")
        syncs = {e.key: e.count / steps for e in averages if e.key.startswith(SYNC_EVENTS)}
        launches = sum(e.count for e in averages if e.key.startswith(LAUNCH_EVENTS)) / steps
        ops = sum(e.count for e in averages if e.key.startswith("aten::")) / steps
        self.log(f"{self.label} per step: {ops:.0f} aten ops, {launches:.0f} kernel launches, "
                 f"syncs and copies {syncs or 'none seen'}")


# ---- the official model -----------------------------------------------------------------------
def import_official(path: Path):
    if not (path / "model.py").is_file() or not (path / "utils.py").is_file():
        raise BenchmarkError(f"--official {path}: no model.py/utils.py there; pass a checkout of "
                             f"maincold2/FFNeRV")
    sys.path.insert(0, str(path))
    try:
        import model as official_model
        import utils as official_utils
    except ModuleNotFoundError as error:
        raise BenchmarkError(f"the official code needs {error.name}: pip install "
                             f"{error.name.replace('_', '-')}") from None
    return official_model, official_utils, official_resample(path)


def official_plan(height: int, width: int) -> tuple[int, int, tuple[int, ...]]:
    """Our stride plan, when the official decoder built on it is ours: its compact first stage is
    a full conv only for stride 5 (grouped otherwise, unlike ours), and its flow head needs 3 stages."""
    base_h, base_w, strides = stride_plan(height, width)
    if len(strides) < 3 or strides[0] != 5:
        raise BenchmarkError(f"{height}x{width}: stride plan {strides} does not start with 5 then "
                             f"at least 2 stages, so the official decoder differs from ours; use a "
                             f"size like 640x1280 or 720x1280")
    return base_h, base_w, strides


def official_generator(official_model, cfg: dict, height: int, width: int, wbit: int):
    base_h, base_w, strides = official_plan(height, width)
    channels, first_width = cfg["channels"], cfg["first_width"]
    return official_model.Generator(
        fc_hw_dim=f"{base_h}_{base_w}_{channels}",
        expansion=(first_width + 0.5) / channels,  # int(channels * expansion) == first_width
        num_blocks=1, norm="none", act="gelu", bias=True, reduction=2, conv_type="compact",
        stride_list=list(strides), sin_res=False, lower_width=cfg["min_channels"], sigmoid=False,
        aggs=len(ffnerv.NEIGHBOUR_OFFSETS), wbit=wbit, t_dim=list(cfg["grid_lengths"]))


def official_resample(path: Path):
    """``resample`` (with its ``get_grid``) from the official ``main.py``, run unchanged from the
    checkout. ``main.py`` itself cannot be imported (tensorboard and torchvision at import time),
    so only these two definitions are compiled from its source."""
    main = path / "main.py"
    wanted = ("get_grid", "resample")
    definitions = [node for node in ast.parse(main.read_text()).body
                   if isinstance(node, ast.FunctionDef) and node.name in wanted]
    if sorted(d.name for d in definitions) != sorted(wanted):
        raise BenchmarkError(f"--official {path}: main.py does not define {', '.join(wanted)}; "
                             f"pass a checkout of maincold2/FFNeRV")
    namespace = {"torch": torch, "F": F}
    exec(compile(ast.Module(body=definitions, type_ignores=[]), str(main), "exec"), namespace)
    return namespace["resample"]


def official_aggregate(resample, output_list, idx, key_frames, data_size, agg_ind):
    """Aggregated, independent and final frames from the Generator's outputs, as main.py's
    train and evaluate compute them."""
    len_agg = len(agg_ind) + 1
    agg_idx = idx.unsqueeze(1).repeat(1, len_agg - 1) + torch.tensor(agg_ind, device=idx.device)
    agg_idx = torch.where(agg_idx >= 0, agg_idx, data_size)
    agg_idx = torch.where(agg_idx < data_size, agg_idx, data_size)
    agg_frames = key_frames[agg_idx.long()].to(torch.float32)
    agg_frames = agg_frames.reshape(-1, 3, agg_frames.shape[-2], agg_frames.shape[-1])
    flows = output_list[0][:, :2 * (len_agg - 1), :, :]
    flows = flows.reshape(-1, 2, flows.shape[-2], flows.shape[-1])
    agg_frames = resample(agg_frames, flows).unsqueeze(0)
    agg_frames = agg_frames.reshape(-1, len_agg - 1, 3, agg_frames.shape[-2], agg_frames.shape[-1])
    wei1 = F.interpolate(output_list[0][:, (len_agg - 1) * 2:, :, :], scale_factor=4, mode="nearest")
    wei1 = torch.softmax(wei1, dim=1)
    agg_frame = torch.sum(agg_frames * wei1.unsqueeze(2), dim=1, keepdim=True)
    both = torch.cat([output_list[1][:, 0:3, :, :].unsqueeze(1), agg_frame], dim=1)
    wei2 = torch.softmax(output_list[1][:, 3:5, :, :], dim=1).unsqueeze(2)
    return [agg_frame.squeeze(1), output_list[1][:, 0:3, :, :], torch.sum(both * wei2, dim=1)]


def run_official(official_model, official_utils, resample, cfg, frames, epochs, wbit, device, log,
                 profile=False):
    torch.manual_seed(OFFICIAL_SEED)
    np.random.seed(OFFICIAL_SEED)
    random.seed(OFFICIAL_SEED)
    n, _, height, width = frames.shape
    model = official_generator(official_model, cfg, height, width, wbit).to(device)
    args = SimpleNamespace(lr=5e-4, lr_type="cosine", epochs=epochs, warmup=int(0.2 * epochs),
                           loss_type="Fusion6", lw=0.1)
    optimizer = torch.optim.Adam(model.parameters(), betas=(0.5, 0.999))
    agg_ind = list(ffnerv.NEIGHBOUR_OFFSETS)
    key_frames = torch.zeros(n + 1, 3, height, width, device=device).half()
    frames = frames.to(device)
    norm_idx_all = torch.arange(n, dtype=torch.float32) / n  # CustomDataSet: i / len

    def refill():
        with torch.no_grad():
            for i in range(n):
                out = model(norm_idx_all[i:i + 1].to(device))
                key_frames[i] = out[1][0, 0:3].half()

    profiler = StepProfiler("official", device, log, profile)
    start = time.time()
    refill()  # "if frame buffer is empty, fill the buffer before training"
    order_rng = torch.Generator().manual_seed(OFFICIAL_SEED)
    for epoch in range(epochs):
        model.train()
        for i, frame in enumerate(torch.randperm(n, generator=order_rng).tolist()):
            t_input = norm_idx_all[frame:frame + 1].to(device)
            data = frames[frame:frame + 1]
            idx = torch.round(t_input * n).long()
            output_list = model(t_input)
            key_frames[idx] = output_list[1][:, 0:3, :, :].detach().clone().half()
            outputs = official_aggregate(resample, output_list, idx, key_frames, n, agg_ind)
            targets = [F.adaptive_avg_pool2d(data, x.shape[-2:]) for x in outputs]
            losses = [official_utils.loss_fn(o, t, args) for o, t in zip(outputs, targets)]
            loss = sum(loss * (args.lw if k < len(losses) - 1 else 1) for k, loss in enumerate(losses))
            official_utils.adjust_lr(optimizer, epoch % args.epochs, i, n, args)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            profiler.step()
        log(f"official epoch {epoch + 1}/{epochs} loss {float(loss.detach()):.6f} {time.time() - start:.0f}s")
    profiler.close()
    fit_seconds = time.time() - start
    model.eval()
    refill()
    with torch.no_grad():
        psnrs = []
        for i in range(n):
            t_input = norm_idx_all[i:i + 1].to(device)
            idx = torch.round((t_input - 1e-6) * n).long()
            outputs = official_aggregate(resample, model(t_input), idx, key_frames, n, agg_ind)
            psnrs.append(frame_psnr(outputs[-1], frames[i:i + 1]))
    psnr = float(np.mean(psnrs))
    return dict(impl="official", parameters=count_parameters(model), psnr=psnr,
                psnr_quantized=psnr if wbit < 32 else None, time_s=fit_seconds, amp="none")


# ---- ours -------------------------------------------------------------------------------------
def ours_amp(choice: str | None, device: torch.device) -> str:
    """Our side's autocast dtype name, or ``none``: ``choice``, else what our fit uses (the
    config's ``amp`` on a GPU, none elsewhere)."""
    if choice is not None:
        return choice
    from mmengine.config import Config

    fit = Config.fromfile(str(Path(__file__).resolve().parent.parent / "configs/compress/ffnerv.py")).fit
    amp = (fit.get("amp") or "none") if device.type == "cuda" else "none"
    if amp not in AMP_CHOICES:
        raise BenchmarkError(f"configs/compress/ffnerv.py: fit.amp={amp!r} is not one this benchmark "
                             f"runs; pass --ours-amp {' or '.join(AMP_CHOICES)}")
    return amp


def run_ours(cfg, frames, epochs, bits, device, log, amp="none", profile=False):
    from mmengine.config import Config

    from toolkit.codecs.inr.codec import FFNeRVCodec, FitJob
    from toolkit.codecs.layout import BitstreamLayout, VideoSlot
    from toolkit.engine.models import FFNeRVFitModel

    fit = Config.fromfile(str(Path(__file__).resolve().parent.parent / "configs/compress/ffnerv.py")).fit
    torch.manual_seed(0)
    n, _, height, width = frames.shape
    network_cfg = dict(type="FFNeRV", height=height, width=width, num_frames=n, **cfg)
    model = FFNeRVFitModel(network_cfg, qat_bits=bits if bits < 32 else None).to(device)
    options = {k: v for k, v in fit.optimizer.items() if k != "type"}
    optimizer = getattr(torch.optim, fit.optimizer.type)(model.parameters(), **options)
    steps, warmup = epochs * n, max(1, round(epochs * fit.warmup_ratio)) * n
    lr = options["lr"]

    def lr_at(step):  # LinearLR 0.1 -> 1 over the warm-up, then cosine to 0 (iteration based)
        if step < warmup:
            return lr * (0.1 + 0.9 * step / warmup)
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    frames_u8 = (frames * 255).round().to(torch.uint8).to(device)  # the fit model reads uint8
    frame_indices = torch.arange(n, device=device)  # sliced per step: no host-to-device copy
    profiler = StepProfiler("ours", device, log, profile)
    start, step = time.time(), 0
    for epoch in range(epochs):
        model.train()
        for frame in torch.randperm(n).tolist():
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            inputs = dict(frame_index=frame_indices[frame:frame + 1], frame=frames_u8[frame:frame + 1])
            with torch.autocast(device.type, dtype=getattr(torch, amp, None), enabled=amp != "none"):
                loss = model(inputs, mode="loss")["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            profiler.step()
            step += 1
        log(f"ours epoch {epoch + 1}/{epochs} loss {float(loss.detach()):.6f} {time.time() - start:.0f}s")
    profiler.close()
    fit_seconds = time.time() - start
    network = model.network.eval()
    target = frames.to(device)

    def video_psnr(net):
        with torch.no_grad():
            return float(np.mean([frame_psnr(f, target[i]) for i, f in enumerate(net.decode(batch_size=4))]))

    psnr = video_psnr(network)
    parameters = count_parameters(network)
    codec = FFNeRVCodec(bits=8)
    job = FitJob("video_00000", [0], network_cfg)
    layout = BitstreamLayout(height, width, 25, (VideoSlot(0, n),))
    bitstream, decoded = codec.compress([network.cpu()], [job], layout)
    coded_bits = 8 * sum(len(c) for c in bitstream.chunks.values())
    return dict(impl="ours", parameters=parameters, psnr=psnr,
                psnr_quantized=video_psnr(decoded[0].to(device)), time_s=fit_seconds,
                bpp_weights=coded_bits / (n * height * width), amp=amp)


# ---- command line -----------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchmarkError(f"--size {text}: expected HEIGHTxWIDTH, e.g. 640x1280") from None
    return height, width


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, required=True, help="checkout of maincold2/FFNeRV")
    parser.add_argument("--frames", default="bunny", help="'bunny' or a folder of PNG/JPEG frames")
    parser.add_argument("--size", default="640x1280", help="HEIGHTxWIDTH after the centre crop")
    parser.add_argument("--num-frames", type=int, default=None, help="use the first N frames")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--params", type=float, default=3e6, help="parameter budget of both networks")
    parser.add_argument("--bits", type=int, choices=(8, 32), default=8, help="QAT bits (32: none)")
    parser.add_argument("--impl", choices=("both", "ours", "official"), default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--ours-amp", choices=AMP_CHOICES, default=None,
                        help="our side's autocast dtype (none: float32); default: the config's "
                             "amp on a GPU, none on the CPU. The official side is float32")
    parser.add_argument("--profile", action="store_true",
                        help=f"log a torch.profiler table of {PROFILE_STEPS} steps of each side")
    parser.add_argument("--tiny", action="store_true", help=f"CPU dry run: {TINY}")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    try:
        height, width = TINY["size"] if args.tiny else parse_size(args.size)
        limit = TINY["frames"] if args.tiny else args.num_frames
        epochs = TINY["epochs"] if args.tiny else args.epochs
        budget = TINY["params"] if args.tiny else int(args.params)
        device = torch.device(args.device)
        amp = ours_amp(args.ours_amp, device)
        official = None
        if args.impl != "ours":
            official_plan(height, width)
            official = import_official(args.official)
        frames = load_frames(args.frames, height, width, limit)
        n = frames.shape[0]
        try:
            cfg = ffnerv.solve_size(height, width, n, budget)
        except ffnerv.BudgetBelowSmallestNetwork as error:
            raise BenchmarkError(f"--params {budget}: {error}") from None
    except (BenchmarkError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def log(message):
        print(message, flush=True)

    log(f"{n} frames of {height}x{width}, network {cfg}")
    torch.backends.cudnn.benchmark = True  # as main.py's train() and our fit (env_cfg) set it
    facts = run_facts()
    common = dict(frames=n, height=height, width=width, epochs=epochs, batch_size=1, bits=args.bits,
                  network=cfg, device=facts["device"], commit=facts["commit"], date=facts["date"],
                  command=facts["command"], profiled=args.profile)
    runs = []
    if args.impl in ("both", "official"):
        runs.append(lambda: {**run_official(*official, cfg, frames, epochs, args.bits, device, log,
                                            profile=args.profile),
                             "official_commit": official_commit(args.official)})
    if args.impl in ("both", "ours"):
        runs.append(lambda: run_ours(cfg, frames, epochs, args.bits, device, log, amp=amp,
                                     profile=args.profile))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for run in runs:
        row = {**run(), **common}
        with args.out.open("a") as out:  # each result is kept as soon as it exists
            out.write(json.dumps(row) + "\n")
        log(json.dumps({k: row[k] for k in ("impl", "amp", "parameters", "psnr", "psnr_quantized", "time_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
