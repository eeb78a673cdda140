"""NeRV-S fitted by the NeRV paper's own training code and by ours, on the same frames and GPU.

``benchmarks/peer_nerv.py`` checks, on the CPU, that the two sides are the same network, loss,
schedule and optimizer (two training steps from the same weights end at the same weights).
This runs whole fits, to tell a difference of our port from one of the machine: does the
official code, on this GPU and PyTorch, reach the paper's 32.21 dB for NeRV-S on Bunny?

``--official PATH`` is a checkout of haochen-rye/NeRV kept outside this repository; its
``Generator``, ``PositionalEncoding``, ``loss_fn`` and ``adjust_lr`` are imported from there
(``peer_nerv.load_official``), never copied. ``train_nerv.py`` itself cannot be run on these
frames (CUDA, tensorboard and ``data/<dataset>`` hard-coded), so its loop is mirrored step for
step: its README's NeRV-S command (``-e 300 -b 1 --lr 0.0005 --lr_type cosine --warmup 0.2
--loss Fusion6``, Adam betas (0.5, 0.999)), frame times ``float(i) / N``, ``ToTensor`` frames,
``adjust_lr`` before each step, frames shuffled each epoch, ``cudnn.benchmark`` on. Its
evaluation (``evaluate``: PSNR of the float output per frame, mean over frames) runs every
``eval_freq`` (50) epochs and in each of the last nine; the paper's number is the best of those
(``val_best_psnr``), recorded as ``psnr_best`` beside ``psnr_final``.

Ours is the fit model of ``configs/compress/anchors/nerv_bunny_nerv.py`` (its loss, network and
input codes), its optimizer as the fit builds it and its schedule per iteration, fed uint8
frames as our dataset does; the same loop otherwise. Both sides run in float32 with PyTorch's
default TF32 setting of the device (recorded).

Each side draws its initial weights and its frame order from ``--seed`` (both sides see the
frames in the same order). ``--same-init`` starts ours from the official side's initial
weights: what remains is arithmetic and implementation, so a short run already says whether
the two train alike on the GPU.

Fits longer than one call: ``--work DIR --max-time-s S`` saves each side's state (network,
optimizer, epoch, random state) when the next epoch would pass S, and the same command
continues it; a state saved by another command is refused with a one-line error.

    python benchmarks/peer_nerv_fit.py --official /work/peers/NeRV --epochs 300 --seed 1 \\
        --impl official --work w --max-time-s 480 --out fits.jsonl --device cuda
    python benchmarks/peer_nerv_fit.py --official /work/peers/NeRV --tiny --same-init --out r.jsonl
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_common import (BenchmarkError, OfficialCodeError, frame_psnr, load_frames,  # noqa: E402
                         project_lr_per_iteration)
from peer_nerv import (CONFIG, OFFICIAL_EMBED, OFFICIAL_TRAINING, STRIDES, fit_model,  # noqa: E402
                       load_official, official_network, official_state_to_project,
                       project_optim_wrapper)
from toolkit.runinfo import atomic_write_bytes, run_facts  # noqa: E402

PAPER_NERV_S = 32.21
EVAL_FREQ = 50                  # train_nerv.py's default; the README's command keeps it
TINY = dict(frames=6, strides=(5, 2), fc_dim=8, epochs=5)  # 5: whole warm-up epochs on both sides


def evaluation_epochs(epochs: int) -> set[int]:
    """The epochs (1-based) after which train_nerv.py evaluates: every EVAL_FREQ, and each
    ``epoch > total_epochs - 10`` (0-based), i.e. the last nine."""
    return {e for e in range(1, epochs + 1) if e % EVAL_FREQ == 0 or e - 1 > epochs - 10}


def official_args(epochs: int) -> SimpleNamespace:
    """train_nerv.py's args for its loop and ``adjust_lr`` (it makes --warmup 0.2 whole epochs)."""
    return SimpleNamespace(**{**OFFICIAL_TRAINING, "epochs": epochs, "warmup": int(0.2 * epochs)})


class Side:
    """One side's network, step and evaluation."""

    def __init__(self, impl, official, fc_dim, strides, epochs, frames, device):
        self.impl, self.device, self.frames = impl, device, frames
        n = frames.shape[0]
        self.n = n
        if impl == "official":
            self.model = official_network(official, fc_dim, strides).train().to(device)
            self.pe = official.utils.PositionalEncoding(OFFICIAL_EMBED)
            self.args = official_args(epochs)
            self.optimizer = torch.optim.Adam(self.model.parameters(), betas=(self.args.beta, 0.999))
            self.loss_fn = official.utils.loss_fn
            self.adjust_lr = official.utils.adjust_lr
            self.times = torch.tensor([float(i) / n for i in range(n)])  # CustomDataSet's frame_idx
        else:
            self.model = fit_model(fc_dim, strides).train().to(device)
            self.wrapper = project_optim_wrapper(self.model)
            self.optimizer = self.wrapper.optimizer
            fit = CONFIG.fit
            self.lrs = project_lr_per_iteration(fit.optimizer.lr, epochs, fit.warmup_ratio, n)
            self.frames_u8 = (frames * 255).round().to(torch.uint8)
            # sliced per step, as our dataset's batches arrive: no tensor built on the host
            self.indices = torch.arange(n, device=device)
            self.total = torch.tensor([n], device=device)

    def network(self):
        return self.model if self.impl == "official" else self.model.network

    def step(self, epoch: int, i: int, frame: int) -> torch.Tensor:
        """One training step on ``frame``; its loss, detached (read back only when logged)."""
        if self.impl == "official":
            data = self.frames[frame:frame + 1]
            output_list = self.model(self.pe(self.times[frame:frame + 1]).to(self.device))
            target_list = [F.adaptive_avg_pool2d(data, x.shape[-2:]) for x in output_list]
            loss = sum(self.loss_fn(o, t, self.args) for o, t in zip(output_list, target_list))
            self.adjust_lr(self.optimizer, epoch, i, self.n, self.args)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            return loss.detach()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lrs[epoch * self.n + i]
        inputs = dict(index=self.indices[frame:frame + 1], total=self.total,
                      frame=self.frames_u8[frame:frame + 1])
        loss = self.model(inputs, mode="loss")["loss"]
        self.wrapper.update_params(loss)
        return loss.detach()

    @torch.no_grad()
    def psnr(self) -> float:
        """train_nerv.py's ``evaluate``: PSNR of each frame's float output, mean over frames."""
        net = self.network().eval()
        values = []
        for frame in range(self.n):
            if self.impl == "official":
                out = net(self.pe(self.times[frame:frame + 1]).to(self.device))[-1]
            else:
                out = net(net.times(self.indices[frame:frame + 1], self.n))
            values.append(frame_psnr(out, self.frames[frame:frame + 1]))
        net.train()
        return sum(values) / len(values)


def save_state(path: Path, side: Side, key: dict, done: int, history: list, fit_s: float) -> None:
    buffer = io.BytesIO()
    torch.save(dict(key=key, epochs_done=done, history=history, fit_s=fit_s,
                    network=side.network().state_dict(), optimizer=side.optimizer.state_dict(),
                    rng=torch.get_rng_state()), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def fit(side: Side, epochs: int, key: dict, order_seed: int, work: Path | None,
        max_time_s: float | None, log) -> dict:
    done, history, fit_s = 0, [], 0.0
    path = work / f"{side.impl}.pt" if work else None
    if path and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=False)  # the RNG state stays a CPU tensor
        if saved["key"] != key:
            differ = ", ".join(f"{k} {saved['key'].get(k)} there, {v} here" for k, v in key.items()
                               if saved["key"].get(k) != v)
            raise BenchmarkError(f"{path}: saved by another command ({differ}); use a fresh "
                                 f"--work or delete it")
        side.network().load_state_dict(saved["network"])
        side.optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        done, history, fit_s = saved["epochs_done"], saved["history"], saved["fit_s"]
        log(f"{side.impl}: continuing at epoch {done} of {epochs}")
    else:
        torch.manual_seed(order_seed)
    evaluations = evaluation_epochs(epochs)
    start, last_epoch_s = time.time(), 0.0
    while done < epochs:
        if max_time_s is not None and time.time() - start + 1.2 * last_epoch_s > max_time_s:
            break
        epoch_start = time.time()
        for i, frame in enumerate(torch.randperm(side.n).tolist()):
            loss = side.step(done, i, frame)
        done += 1
        if side.device.type == "cuda":
            torch.cuda.synchronize(side.device)
        last_epoch_s = time.time() - epoch_start
        if done in evaluations:
            history.append(dict(epoch=done, psnr=side.psnr()))
        if done % 10 == 0 or done == epochs:
            log(f"{side.impl} epoch {done}/{epochs} loss {float(loss):.5f} {last_epoch_s:.2f}s/epoch")
    fit_s += time.time() - start
    if path:
        save_state(path, side, key, done, history, fit_s)
    # the last epoch is always evaluated (one of the last nine); a stop elsewhere is measured here
    last = history[-1]["psnr"] if history and history[-1]["epoch"] == done else side.psnr()
    finished = done == epochs
    return dict(epochs_done=done, finished=finished, fit_time_s=fit_s,
                psnr_final=last if finished else None,
                psnr_best=max((h["psnr"] for h in history), default=None),
                psnr_at_partial=None if finished else last, evaluations=history)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="a checkout of haochen-rye/NeRV")
    parser.add_argument("--impl", choices=("official", "ours", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--fc-dim", type=int, default=26, help="26 / 58 / 112: NeRV-S / M / L")
    parser.add_argument("--seed", type=int, default=1, help="train_nerv.py's --manualSeed (default 1)")
    parser.add_argument("--same-init", action="store_true",
                        help="ours from the official side's initial weights, frames in the same order")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--work", type=Path, help="where each side's state is kept between calls")
    parser.add_argument("--max-time-s", type=float, help="stop (state saved) before this many seconds")
    parser.add_argument("--tiny", action="store_true", help=f"CPU dry run: {TINY}")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    try:
        if args.max_time_s is not None and args.work is None:
            raise BenchmarkError("--max-time-s needs --work (where the state is kept to continue)")
        official = load_official(args.official)
        strides = TINY["strides"] if args.tiny else STRIDES
        fc_dim = TINY["fc_dim"] if args.tiny else args.fc_dim
        epochs = TINY["epochs"] if args.tiny else args.epochs
        height, width = 9 * math.prod(strides), 16 * math.prod(strides)
        frames = load_frames("bunny", height, width, TINY["frames"] if args.tiny else None)
        device = torch.device(args.device)
    except (BenchmarkError, OfficialCodeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def log(message):
        print(message, flush=True)

    torch.backends.cudnn.benchmark = True  # as train_nerv.py's train() and our fit set it
    frames = frames.to(device)
    facts = run_facts()
    key = dict(fc_dim=fc_dim, strides=list(strides), epochs=epochs, seed=args.seed,
               same_init=args.same_init, frames=frames.shape[0], official_commit=official.commit)
    common = dict(**key, height=height, width=width, batch_size=1, paper_psnr=PAPER_NERV_S,
                  tf32_convolutions=torch.backends.cudnn.allow_tf32,
                  tf32_matmuls=torch.backends.cuda.matmul.allow_tf32, torch=torch.__version__,
                  device=facts["device"], commit=facts["commit"], date=facts["date"],
                  command=facts["command"])
    impls = ("official", "ours") if args.impl == "both" else (args.impl,)
    sides = {}
    for impl in impls:
        torch.manual_seed(args.seed)  # train_nerv.py seeds before building its Generator
        sides[impl] = Side(impl, official, fc_dim, strides, epochs, frames, device)
    if args.same_init:
        torch.manual_seed(args.seed)
        initial = official_network(official, fc_dim, strides).state_dict()
        if "official" in sides:
            sides["official"].model.load_state_dict(initial)
        if "ours" in sides:
            sides["ours"].model.network.load_state_dict(official_state_to_project(initial))
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for impl, side in sides.items():
        parameters = sum(p.numel() for p in side.network().parameters())
        try:
            result = fit(side, epochs, {**key, "impl": impl}, args.seed, args.work, args.max_time_s, log)
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        row = dict(impl=impl, parameters=parameters, **result, **common)
        with args.out.open("a") as out:  # each side's result is kept as soon as it exists
            out.write(json.dumps(row) + "\n")
        log(json.dumps({k: row[k] for k in ("impl", "parameters", "epochs_done", "psnr_final",
                                             "psnr_best", "psnr_at_partial", "fit_time_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
