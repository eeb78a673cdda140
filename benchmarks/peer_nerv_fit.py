"""NeRV fitted by a paper's own training code and by ours, on the same frames and GPU.

``benchmarks/peer_nerv.py`` and ``benchmarks/peer_hnerv.py`` check, on the CPU, that the two
sides are the same network, input codes, loss and schedule. This runs whole fits, to tell a
difference of our port from one of the machine: does the official code, on this GPU and
PyTorch, reach its paper's number on Bunny? Two official codes (``--code``), each with the
NeRV it published on Bunny:

- ``nerv`` (default): haochen-rye/NeRV, NeRV-S on 720x1280, batch 1; the paper's 32.21 dB.
  Its ``Generator``, ``PositionalEncoding``, ``loss_fn`` and ``adjust_lr`` are imported
  (``peer_nerv.load_official``). ``train_nerv.py`` itself cannot be run on these frames
  (CUDA, tensorboard and ``data/<dataset>`` hard-coded), so its loop is mirrored step for
  step: its README's NeRV-S command (``-e 300 -b 1 --lr 0.0005 --lr_type cosine --warmup 0.2
  --loss Fusion6``, Adam betas (0.5, 0.999)), frame times ``float(i) / N``, ``ToTensor``
  frames, ``adjust_lr`` before each step, frames shuffled each epoch, ``cudnn.benchmark`` on.
  Its evaluation (``evaluate``: PSNR of the float output per frame, mean over frames) runs
  every ``eval_freq`` (50) epochs and in each of the last nine; the paper's number is the
  best of those (``val_best_psnr``). Ours: ``configs/compress/anchors/nerv_bunny_nerv.py``.
- ``hnerv``: haochen-rye/HNeRV's NeRV row (HNeRV paper, Table 2): the 640x1280 centre crop,
  batch 2, at ``--size`` 0.35 / 0.75 / 1.5 / 3 (its sizing gives fc_dim 15 / 30 / 54 / 91;
  published 26.99 / 28.46 / 30.87 / 33.21 dB). Its ``HNeRV`` (built from the README's NeRV
  command, ``peer_hnerv.OFFICIAL_ARGS``), ``loss_fn`` and ``adjust_lr`` are imported
  (``peer_hnerv.load_official``); ``train_nerv_all.py``'s loop is mirrored: Adam (its default
  betas, weight decay 0), frame times ``float(i) / N`` in float64 as its DataLoader collates
  them, ``adjust_lr`` at the fractional epoch before each step, L2, frames shuffled each
  epoch in pairs. It evaluates (PSNR of the float output per frame, mean over frames) every
  ``--eval_freq`` 30 epochs and at the last, third-last and fifth-last; its number is the
  best of those (``best_pred_seen_psnr``). Ours: ``configs/compress/anchors/nerv_bunny_hnerv.py``.

Both report ``psnr_best`` (the paper's metric) beside ``psnr_final``. Ours is the anchor
config's fit model (its loss, network and input codes), its optimizer as the fit builds it
and its schedule per iteration, fed uint8 frames as our dataset does; the same loop
otherwise. Both sides run in float32 with PyTorch's default TF32 setting of the device
(recorded).

Each side draws its initial weights and its frame order from ``--seed`` (both sides see the
frames in the same order). ``--same-init`` starts ours from the official side's initial
weights: what remains is arithmetic and implementation, so a short run already says whether
the two train alike on the GPU.

Fits longer than one call: ``--work DIR --max-time-s S`` saves each side's state (network,
optimizer, epoch, random state) when the next epoch would pass S, and the same command
continues it; a state saved by another command is refused with a one-line error.

    python benchmarks/peer_nerv_fit.py --official /work/peers/NeRV --epochs 300 --seed 1 \\
        --impl official --work w --max-time-s 480 --out fits.jsonl --device cuda
    python benchmarks/peer_nerv_fit.py --code hnerv --official /work/peers/HNeRV --size 1.5 \\
        --impl official --seed 3 --out fits.jsonl --device cuda
    python benchmarks/peer_nerv_fit.py --official /work/peers/NeRV --tiny --same-init --out r.jsonl

``report`` reads the records back: each side's finished runs (mean, spread, how many reach the
paper), the pairs fitted from the same initial weights (ours - official), and a plot:

    python benchmarks/peer_nerv_fit.py report docs/results/data/peer_nerv_fit_bunny.jsonl \\
        --png docs/results/peer_nerv_fit_bunny.png
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import peer_hnerv  # noqa: E402
import peer_nerv  # noqa: E402
from peer_common import (BenchmarkError, OfficialCodeError, frame_psnr, load_frames,  # noqa: E402
                         project_lr_per_iteration, project_optim_wrapper)
from toolkit.reports import spread, spread_cells  # noqa: E402
from toolkit.runinfo import atomic_write_bytes, run_facts  # noqa: E402

PAPER_NERV_S = 32.21
PAPER_EPOCHS = 300  # both papers' numbers (NeRV-S; the HNeRV paper's NeRV row)
HNERV_NERV_ROW = {0.35: 26.99, 0.75: 28.46, 1.5: 30.87, 3.0: 33.21}  # HNeRV paper, Table 2
TINY = dict(frames=6, fc_dim=8, epochs=5)  # 5: whole warm-up epochs on both sides


@dataclass(frozen=True)
class Code:
    """One official training code: its checkout's module here (``peer_nerv`` or ``peer_hnerv``:
    its loader, network, weight mapping to ours, and our anchor config's fit model), its step
    (``official_side``), batch, stride plan and evaluations."""

    name: str
    peer: ModuleType
    official_side: type
    batch: int
    base: tuple           # the network's first map, (rows, columns)
    strides: tuple        # the README's stride plan
    eval_freq: int
    last: tuple           # the epochs from the end that it also evaluates (0: the last)
    tiny_strides: tuple = (5, 2)

    def evaluation_epochs(self, epochs: int) -> set[int]:
        """The epochs (1-based) after which it evaluates."""
        return {e for e in range(1, epochs + 1) if e % self.eval_freq == 0 or epochs - e in self.last}

    def frame_size(self, strides) -> tuple[int, int]:
        return self.base[0] * math.prod(strides), self.base[1] * math.prod(strides)

    def sides(self, impls, official, fc_dim, strides, epochs, frames, device, seed) -> dict:
        """Each side's network from ``seed`` (the official train() seeds before building it)."""
        sides = {}
        for impl in impls:
            torch.manual_seed(seed)
            sides[impl] = (self.official_side(official, fc_dim, strides, epochs, frames, device)
                           if impl == "official" else
                           Ours(self.peer.fit_model(fc_dim, strides), self.peer.CONFIG, self.batch,
                                epochs, frames, device))
        return sides


class Side:
    """One side's network, training step and evaluation on ``frames`` (N, 3, H, W) in [0, 1]."""

    impl: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def __init__(self, frames, device):
        self.frames, self.device, self.n = frames, device, frames.shape[0]

    def network(self) -> torch.nn.Module:
        return self.model

    def begin_epoch(self, order: torch.Tensor) -> None:
        """The epoch's frame order (on the CPU), before its first step."""

    def step(self, epoch: int, i: int, batch: torch.Tensor) -> torch.Tensor:
        """Step ``i`` of ``epoch``, on the frames ``batch`` (a CPU tensor of indices); its loss,
        detached (read back only when logged)."""
        raise NotImplementedError

    def render(self, frame: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def psnr(self) -> float:
        """The official ``evaluate``: PSNR of each frame's float output, mean over frames."""
        self.network().eval()
        values = [frame_psnr(self.render(f), self.frames[f:f + 1]) for f in range(self.n)]
        self.network().train()
        return sum(values) / len(values)


class OfficialNeRV(Side):
    """train_nerv.py's step: its Generator on its encoding, its loss summed over the output
    list, ``adjust_lr`` before the step."""

    impl = "official"

    def __init__(self, official, fc_dim, strides, epochs, frames, device):
        super().__init__(frames, device)
        self.model = peer_nerv.official_network(official, fc_dim, strides).train().to(device)
        self.pe = official.utils.PositionalEncoding(peer_nerv.OFFICIAL_EMBED)
        # it makes --warmup 0.2 whole epochs
        self.args = SimpleNamespace(**{**peer_nerv.OFFICIAL_TRAINING, "epochs": epochs,
                                       "warmup": int(0.2 * epochs)})
        self.optimizer = torch.optim.Adam(self.model.parameters(), betas=(self.args.beta, 0.999))
        self.loss_fn, self.adjust_lr = official.utils.loss_fn, official.utils.adjust_lr
        self.times = torch.tensor([float(i) / self.n for i in range(self.n)])  # CustomDataSet's frame_idx

    def step(self, epoch, i, batch):
        frame = int(batch)  # batch 1
        data = self.frames[frame:frame + 1]
        output_list = self.model(self.pe(self.times[frame:frame + 1]).to(self.device))
        target_list = [F.adaptive_avg_pool2d(data, x.shape[-2:]) for x in output_list]
        loss = sum(self.loss_fn(o, t, self.args) for o, t in zip(output_list, target_list))
        self.adjust_lr(self.optimizer, epoch, i, self.n, self.args)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def render(self, frame):
        return self.model(self.pe(self.times[frame:frame + 1]).to(self.device))[-1]


class OfficialHNeRV(Side):
    """train_nerv_all.py's step for the NeRV row: ``adjust_lr`` at the fractional epoch, its
    HNeRV on the float64 frame times, L2 ``loss_fn``."""

    impl = "official"

    def __init__(self, official, fc_dim, strides, epochs, frames, device):
        super().__init__(frames, device)
        self.model = peer_hnerv.official_network(official, fc_dim, strides).train().to(device)
        self.args = SimpleNamespace(lr=peer_hnerv.OFFICIAL_ARGS["lr"], epochs=epochs,
                                    lr_type=peer_hnerv.OFFICIAL_ARGS["lr_type"])
        self.optimizer = torch.optim.Adam(self.model.parameters(), weight_decay=0.)
        self.loss_fn, self.adjust_lr = official.utils.loss_fn, official.utils.adjust_lr
        # VideoDataSet's norm_idx, float(idx) / len(video), collated to float64
        self.times = torch.tensor([float(i) / self.n for i in range(self.n)], dtype=torch.float64,
                                  device=device)
        self.steps_per_epoch = self.n // peer_hnerv.BATCH

    def step(self, epoch, i, batch):
        self.adjust_lr(self.optimizer, (epoch + float(i) / self.steps_per_epoch) / self.args.epochs,
                       self.args)
        batch = batch.to(self.device)  # its batches come to the GPU each step
        output, _, _ = self.model(self.times[batch])
        loss = self.loss_fn(output, self.frames[batch], "L2")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def render(self, frame):
        return self.model(self.times[frame:frame + 1])[0]


class Ours(Side):
    """Our fit model and optimizer as ``config`` builds them, its lr per iteration, batches of
    uint8 frames as our dataset gives them."""

    impl = "ours"

    def __init__(self, model, config, batch, epochs, frames, device):
        super().__init__(frames, device)
        self.model = model.train().to(device)
        self.wrapper = project_optim_wrapper(config, self.model)
        self.optimizer = self.wrapper.optimizer
        self.lrs = project_lr_per_iteration(config.fit.optimizer.lr, epochs, config.fit.warmup_ratio,
                                            self.n // batch)
        self.batch, self.steps_per_epoch = batch, self.n // batch
        self.frames_u8 = (frames * 255).round().to(torch.uint8)
        # sliced per step, as our dataset's batches arrive: no tensor built on the host
        self.indices = torch.arange(self.n, device=device)
        self.total = torch.tensor([self.n], device=device)

    def network(self):
        return self.model.network

    def begin_epoch(self, order):
        # on the device once an epoch: a copy from pageable memory each step would make the
        # host wait for the GPU, which our fit does not (pinned memory, non-blocking copies)
        self.order = order.to(self.device)

    def step(self, epoch, i, batch):
        for group in self.optimizer.param_groups:
            group["lr"] = self.lrs[epoch * self.steps_per_epoch + i]
        index = self.order[i * self.batch:(i + 1) * self.batch]
        inputs = dict(index=self.indices[index], total=self.total, frame=self.frames_u8[index])
        loss = self.model(inputs, mode="loss")["loss"]
        self.wrapper.update_params(loss)
        return loss.detach()

    def render(self, frame):
        net = self.model.network
        return net(net.times(self.indices[frame:frame + 1], self.n))


CODES = {code.name: code for code in (
    # train_nerv.py: every eval_freq epochs and each epoch > total_epochs - 10 (0-based)
    Code("nerv", peer_nerv, OfficialNeRV, batch=1, base=(9, 16), strides=peer_nerv.STRIDES,
         eval_freq=50, last=tuple(range(9))),
    # train_nerv_all.py: (epoch + 1) % eval_freq == 0 or (epochs - epoch) in [1, 3, 5]
    Code("hnerv", peer_hnerv, OfficialHNeRV, batch=peer_hnerv.BATCH, base=(8, 16),
         strides=tuple(peer_hnerv.OFFICIAL_ARGS["dec_strds"]), eval_freq=30, last=(0, 2, 4)))}


def save_state(path: Path, side: Side, key: dict, done: int, history: list, fit_s: float) -> None:
    buffer = io.BytesIO()
    torch.save(dict(key=key, epochs_done=done, history=history, fit_s=fit_s,
                    network=side.network().state_dict(), optimizer=side.optimizer.state_dict(),
                    rng=torch.get_rng_state()), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def fit(side: Side, code: Code, epochs: int, key: dict, order_seed: int, work: Path | None,
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
    evaluations = code.evaluation_epochs(epochs)
    start, last_epoch_s = time.time(), 0.0
    while done < epochs:
        if max_time_s is not None and time.time() - start + 1.2 * last_epoch_s > max_time_s:
            break
        epoch_start = time.time()
        # the frames shuffled each epoch, taken in batches (132 frames: no partial batch)
        order = torch.randperm(side.n)
        side.begin_epoch(order)
        for i, batch in enumerate(order.split(code.batch)):
            loss = side.step(done, i, batch)
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
    # the last epoch is always evaluated; a stop elsewhere is measured here
    last = history[-1]["psnr"] if history and history[-1]["epoch"] == done else side.psnr()
    finished = done == epochs
    return dict(epochs_done=done, finished=finished, fit_time_s=fit_s,
                psnr_final=last if finished else None,
                psnr_best=max((h["psnr"] for h in history), default=None),
                psnr_at_partial=None if finished else last, evaluations=history)


def setting_of(r: dict) -> tuple:
    """What a fit's record was fitted as, its side aside: code, network, epochs, seed."""
    return r.get("code") or "nerv", r["fc_dim"], r["epochs"], r["seed"]


def finished_runs(records: list[dict]) -> list[dict]:
    """The finished runs, the last record of each (setting, side, same init) kept: a fit
    repeated under the same key replaces the earlier one. Official runs with and without
    ``same_init`` are separate runs of the same initial weights."""
    runs = {}
    for r in records:
        if r.get("epochs_done") == r["epochs"] and r.get("psnr_best") is not None:
            runs[(*setting_of(r), r["impl"], bool(r.get("same_init")))] = r
    return list(runs.values())


def side_of(r: dict) -> str:
    if r["impl"] == "official":
        return "official"
    return "ours, same initial weights" if r.get("same_init") else "ours, own initial weights"


def network_of(r: dict) -> str:
    code = r.get("code") or "nerv"
    if r.get("size"):
        return f"{code} {r['size']}M"
    known = {26: " (NeRV-S)", 58: " (NeRV-M)", 112: " (NeRV-L)"} if code == "nerv" else {}
    return f"{code} fc_dim {r['fc_dim']}{known.get(r['fc_dim'], '')}"


def summarise(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Groups (network, epochs, side) with their PSNR (the paper's metric, the best of the
    evaluations; the paper's value beside it at the paper's 300 epochs), and the same-init
    pairs: a seed's ours-from-official-weights run beside that seed's official run with
    ``--same-init`` (the same initial weights and frame order, in one command or two; official
    runs without it are not paired)."""
    runs = finished_runs(records)
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((network_of(r), r["epochs"], side_of(r)), []).append(r)
    rows = []
    for (network, epochs, side), members in sorted(groups.items()):
        members.sort(key=lambda r: r["seed"])
        paper = members[0].get("paper_psnr") if epochs == PAPER_EPOCHS else None
        rows.append(dict(network=network, epochs=epochs, side=side, seeds=[r["seed"] for r in members],
                         **spread([r["psnr_best"] for r in members], paper)))
    official = {setting_of(r): r["psnr_best"] for r in runs
                if r["impl"] == "official" and r.get("same_init")}
    pairs = []
    for ours in runs:
        value = official.get(setting_of(ours))
        if ours["impl"] == "ours" and ours.get("same_init") and value is not None:
            pairs.append(dict(network=network_of(ours), epochs=ours["epochs"], seed=ours["seed"],
                              official=value, ours=ours["psnr_best"],
                              difference=ours["psnr_best"] - value))
    pairs.sort(key=lambda p: (p["network"], p["epochs"], p["seed"]))
    return rows, pairs


def report(argv) -> int:
    parser = argparse.ArgumentParser(prog="peer_nerv_fit.py report",
                                     description="tables (and a plot) from the fits' records")
    parser.add_argument("jsonl", type=Path, help="the records the fits appended (--out)")
    parser.add_argument("--png", type=Path, help="a plot of every run beside its paper's value")
    args = parser.parse_args(argv)
    if not args.jsonl.is_file():
        print(f"error: no such records file: {args.jsonl}", file=sys.stderr)
        return 2
    try:
        records = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        print(f"error: {args.jsonl}: not JSON lines ({error})", file=sys.stderr)
        return 2
    try:
        rows, pairs = summarise(records)
    except (KeyError, TypeError, AttributeError) as error:
        print(f"error: {args.jsonl}: a record is not one a fit writes ({type(error).__name__}: "
              f"{error}); keep only this benchmark's --out records there", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {args.jsonl}: no finished fit", file=sys.stderr)
        return 2
    print("| network | epochs | side | runs | PSNR, best evaluation: mean (s.e.) | sd | range "
          "| paper | at or above it |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        seeds = len(set(r["seeds"]))  # an official seed run with and without --same-init: two runs
        runs = f"{r['runs']}" + (f" ({seeds} seeds)" if seeds < r["runs"] else "")
        print(f"| {r['network']} | {r['epochs']} | {r['side']} | {runs} | {spread_cells(r, 3)} |")
    if pairs:
        print("\n| network | epochs | seed | official | ours, same initial weights | ours - official |")
        print("|---|---|---|---|---|---|")
        for p in pairs:
            print(f"| {p['network']} | {p['epochs']} | {p['seed']} | {p['official']:.4f} "
                  f"| {p['ours']:.4f} | {p['difference']:+.4f} |")
        by_setting: dict[tuple, list[float]] = {}
        for p in pairs:
            by_setting.setdefault((p["network"], p["epochs"]), []).append(p["difference"])
        for (network, epochs), differences in sorted(by_setting.items()):
            d = spread(differences)
            sd = f", sd {d['sd']:.4f}" if d["sd"] is not None else ""
            print(f"\n{network}, {epochs} epochs: ours - official {d['mean']:+.4f} dB "
                  f"over {d['runs']} pair(s){sd}")
    if args.png:
        try:
            plot(rows, pairs, args.png)
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"\nwrote {args.png}")
    return 0


def plot(rows: list[dict], pairs: list[dict], path: Path) -> None:
    """At the papers' epochs (shorter fits are checks, not results): a row of dots per
    (network, side), its mean with two standard errors, the paper's value, and a line between
    the two runs of each same-init pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["epochs"] == PAPER_EPOCHS]
    settings = sorted({(r["network"], r["epochs"]) for r in rows})
    if not settings:
        raise BenchmarkError(f"no finished fit of {PAPER_EPOCHS} epochs to plot")
    fig, axes = plt.subplots(len(settings), 1, figsize=(8, 1.0 + 1.1 * len(rows)), squeeze=False)
    colours = {"official": "tab:red", "ours, same initial weights": "tab:blue",
               "ours, own initial weights": "tab:green"}
    for ax, (network, epochs) in zip(axes[:, 0], settings):
        mine = [r for r in rows if (r["network"], r["epochs"]) == (network, epochs)]
        at = {r["side"]: y for y, r in enumerate(mine)}
        for y, r in enumerate(mine):
            ax.plot(r["values"], [y] * r["runs"], "o", color=colours[r["side"]], alpha=0.7)
            if r["se"] is not None:
                ax.errorbar(r["mean"], y + 0.25, xerr=2 * r["se"], fmt="D", color="black",
                            markersize=4, capsize=3)
        for p in pairs:
            if (p["network"], p["epochs"]) == (network, epochs) and "official" in at:
                ax.plot([p["official"], p["ours"]], [at["official"], at["ours, same initial weights"]],
                        color="grey", lw=0.6, alpha=0.6)
        if mine[0]["published"]:
            ax.axvline(mine[0]["published"], color="black", ls=":", lw=1.5, label=f"paper: {mine[0]['published']}")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_yticks(range(len(mine)), [f"{r['side']} ({r['runs']})" for r in mine], fontsize=8)
        ax.set_ylim(-0.6, len(mine) - 0.3)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(f"{network}, {epochs} epochs: PSNR (dB), best evaluation, one dot per run; "
                     "grey: same initial weights", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return report(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", choices=sorted(CODES), default="nerv",
                        help="nerv: haochen-rye/NeRV (NeRV-S, 720x1280); hnerv: haochen-rye/HNeRV's "
                             "NeRV row (640x1280 crop)")
    parser.add_argument("--official", required=True, type=Path,
                        help="a checkout of haochen-rye/NeRV (--code nerv) or haochen-rye/HNeRV (hnerv)")
    parser.add_argument("--impl", choices=("official", "ours", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--fc-dim", type=int, help="--code nerv: 26 / 58 / 112 for NeRV-S / M / L "
                                                   "(default 26)")
    parser.add_argument("--size", type=float, choices=sorted(HNERV_NERV_ROW),
                        help="--code hnerv: the NeRV row's size in millions (its fc_dim by its sizing)")
    parser.add_argument("--seed", type=int, default=1, help="the official --manualSeed (default 1)")
    parser.add_argument("--same-init", action="store_true",
                        help="ours from the official side's initial weights, frames in the same order")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--work", type=Path, help="where each side's state is kept between calls")
    parser.add_argument("--max-time-s", type=float, help="stop (state saved) before this many seconds")
    parser.add_argument("--tiny", action="store_true", help=f"CPU dry run: {TINY}, strides 5, 2")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)
    code = CODES[args.code]
    try:
        if args.max_time_s is not None and args.work is None:
            raise BenchmarkError("--max-time-s needs --work (where the state is kept to continue)")
        if args.code == "nerv" and args.size is not None:
            raise BenchmarkError("--size is for --code hnerv; NeRV-S/M/L are --fc-dim 26/58/112")
        if args.code == "hnerv" and not args.tiny and (args.size is None) == (args.fc_dim is None):
            raise BenchmarkError("--code hnerv needs --size (0.35, 0.75, 1.5 or 3), or --fc-dim instead")
        official = code.peer.load_official(args.official)
        strides = code.tiny_strides if args.tiny else code.strides
        if args.tiny:
            fc_dim = TINY["fc_dim"]
        elif args.code == "hnerv":
            fc_dim = args.fc_dim or peer_hnerv.official_fc_dim(args.size * 1e6)
        else:
            fc_dim = args.fc_dim or 26
        epochs = TINY["epochs"] if args.tiny else args.epochs
        height, width = code.frame_size(strides)
        frames = load_frames("bunny", height, width, TINY["frames"] if args.tiny else None)
        device = torch.device(args.device)
    except (BenchmarkError, OfficialCodeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def log(message):
        print(message, flush=True)

    torch.backends.cudnn.benchmark = True  # as the official train() and our fit set it
    frames = frames.to(device)
    facts = run_facts()
    key = dict(fc_dim=fc_dim, strides=list(strides), epochs=epochs, seed=args.seed,
               same_init=args.same_init, frames=frames.shape[0], official_commit=official.commit)
    if args.code != "nerv":  # the NeRV code's records and saved states predate --code
        key["code"] = args.code
    paper = PAPER_NERV_S if args.code == "nerv" else HNERV_NERV_ROW.get(args.size)
    common = dict(**{**key, "code": args.code}, size=args.size, height=height, width=width,
                  batch_size=code.batch, paper_psnr=paper,
                  tf32_convolutions=torch.backends.cudnn.allow_tf32,
                  tf32_matmuls=torch.backends.cuda.matmul.allow_tf32, torch=torch.__version__,
                  device=facts["device"], commit=facts["commit"], date=facts["date"],
                  command=facts["command"])
    impls = ("official", "ours") if args.impl == "both" else (args.impl,)
    sides = code.sides(impls, official, fc_dim, strides, epochs, frames, device, args.seed)
    if args.same_init:
        torch.manual_seed(args.seed)
        initial = code.peer.official_network(official, fc_dim, strides).state_dict()
        if "official" in sides:
            sides["official"].model.load_state_dict(initial)
        if "ours" in sides:
            sides["ours"].network().load_state_dict(code.peer.official_state_to_project(initial))
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for impl, side in sides.items():
        parameters = sum(p.numel() for p in side.network().parameters())
        try:
            result = fit(side, code, epochs, {**key, "impl": impl}, args.seed, args.work,
                         args.max_time_s, log)
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
