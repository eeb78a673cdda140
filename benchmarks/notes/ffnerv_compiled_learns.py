"""Does a compiled FFNeRV training step learn like the eager one, and if not, where does it go wrong?

Session 8 (H200, torch 2.11+cu130): the anchors' FFNeRV fits with ``fit.compile`` ran 4-10x faster
per step but their loss never moved; in this check eager fell 0.43 -> 0.21 over 400 steps while the
step compiled with inductor, with or without CUDA graphs, stayed at ~0.41. On the CPU (torch 2.13)
the compiled step learns exactly like the eager one.

This is the bisect for one short GPU call. Each *variant* fits one small FFNeRV (FFNeRVFitModel:
batch 1, Adam as the recipe, 8 smooth synthetic frames) with some part compiled, next to an eager
*baseline* with the same QAT and autocast settings, the same seed (identical initial weights) and
the same frame order. Both start from a neighbour buffer primed eagerly with the initial network's
frames (an empty buffer would give the flow head and the aggregation no gradient). Per variant it
prints

* first step: the loss and every parameter's gradient for the same first input against the
  baseline's, per parameter group (grids, decoder stages, heads): relative norm of the difference
  (``rel``), cosine, and whether the compiled gradient is None or all zeros where eager's is not.
  In float32 ``rel`` is ~1e-4; under bf16 autocast eager and inductor round differently and on
  the CPU (32x64) ``rel`` reaches 0.1-0.25 with cosines above 0.97 in the grids and first stages,
  and the loss then learns alike. A wrong backward shows as cosines far from 1, zeros or None.
* learning: the mean loss of the first and last 20 steps against the baseline's, whether it
  ``learns`` (its drop is at least half the baseline's), how far the weights moved from their
  initial values (relative norm), and the median step time.
* after training, the loss of every frame evaluated both through the compiled path and eagerly
  with the same (trained) weights: when these differ the compiled forward does not see the
  weights the optimizer updates (stale or wrong forward); when both stay high the weights never
  learned (wrong or lost gradients). The two paths' gradients on these weights are compared too
  (``late``): right at the first step but wrong here points at state the compiled step keeps.

Variants (``--only`` takes a comma-separated subset; each pulls in the baseline it needs):

  step                training loss (network + loss) compiled, inductor: the failing case
  step-aot_eager      the same through dynamo + AOTAutograd without inductor's code generation
  independent         only ``network.independent`` (grids, decoder, heads) compiled, inductor
  aggregate           only ``network.aggregate`` (warp, softmax, blend) compiled, inductor
  loss                only ``ffnerv_loss`` (L1 + SSIM) compiled, inductor
  step-nocheck        step with ffnerv's frame-index check (torch._assert_async on a device,
                      the one CUDA-only branch in the step) replaced by a no-op in this process
  step-noqat          step without fake quantisation (qat_bits=None)
  step-fp32           step without autocast (float32)
  step-nolayout       step with inductor's layout optimisation (channels-last convs) off
  step-cudagraphs     step with mode="reduce-overhead" (CUDA graphs on a GPU)
  step-cudagraphs-aot step through dynamo + AOTAutograd replayed as CUDA graphs, without inductor
                      (backend "cudagraphs"): fewer launches even if inductor's code is at fault

Each compiled variant also prints dynamo's graph and graph-break counts. On the CPU the step
breaks at the frame-index range check (``bool(inside)``, the CPU branch), so it runs as several
graphs; on a device that branch is ``torch._assert_async`` and the step is one graph.
``step-nocheck`` gives the CPU the one-graph structure CUDA compiles.

They run in this order (most telling first); ``--time-limit`` skips the rest once the run has
taken that long, so the call ends in time. Records, one JSON object per variant and baseline,
are appended to ``--out`` as each finishes.

Usage (GPU): python benchmarks/notes/ffnerv_compiled_learns.py --steps 120 --out ffnerv_bisect.jsonl
CPU dry run: python benchmarks/notes/ffnerv_compiled_learns.py --device cpu --size 32x64 --steps 10
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters

import toolkit.codecs.inr.ffnerv as ffnerv
from toolkit.engine.models import FFNeRVFitModel

FRAMES = 8
LR, BETAS = 5e-4, (0.5, 0.999)
WINDOW = 20  # steps averaged for the start and end of a loss curve

# name: (compiled part, backend, extra torch.compile kwargs, qat bits, autocast, process patch)
VARIANTS = {
    "step": ("step", "inductor", {}, 8, True, None),
    "step-aot_eager": ("step", "aot_eager", {}, 8, True, None),
    "independent": ("independent", "inductor", {}, 8, True, None),
    "aggregate": ("aggregate", "inductor", {}, 8, True, None),
    "loss": ("loss", "inductor", {}, 8, True, None),
    "step-nocheck": ("step", "inductor", {}, 8, True, "nocheck"),
    "step-noqat": ("step", "inductor", {}, None, True, None),
    "step-fp32": ("step", "inductor", {}, 8, False, None),
    "step-nolayout": ("step", "inductor", {"options": {"layout_optimization": False}}, 8, True, None),
    "step-cudagraphs": ("step", "inductor", {"mode": "reduce-overhead"}, 8, True, None),
    "step-cudagraphs-aot": ("step", "cudagraphs", {}, 8, True, None),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=120, help="training steps per run")
    parser.add_argument("--only", default="", help=f"comma-separated variants of {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="160x320", help="frame size HxW")
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="seconds after which the remaining variants are skipped")
    parser.add_argument("--out", type=Path, help="append one JSON record per run to this .jsonl file")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()] or list(VARIANTS)
    unknown = [name for name in only if name not in VARIANTS]
    try:
        args.height, args.width = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        sys.exit(f"--size must be HxW, e.g. 160x320, got {args.size!r}")
    if unknown:
        sys.exit(f"--only: unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.steps < 2:
        sys.exit(f"--steps must be at least 2, got {args.steps}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here; use --device cpu")
    if args.out is not None and not args.out.parent.is_dir():
        sys.exit(f"--out: directory {args.out.parent} does not exist; create it first")
    args.only = only
    return args


def synthetic_video(height: int, width: int, device: str) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    t = torch.arange(FRAMES)[:, None, None] / FRAMES
    rgb = torch.stack([torch.sin(6 * x + 3 * t), torch.cos(5 * y - 2 * t), x * y + 0 * t], 1)
    return ((rgb * 0.5 + 0.5).clamp(0, 1) * 255).to(torch.uint8).to(device)


def build(args, part: str | None, backend: str, compile_kwargs: dict, qat_bits) -> FFNeRVFitModel:
    """A fit model with ``part`` compiled (None: eager); same seed, so the same initial weights."""
    network = dict(type="FFNeRV", height=args.height, width=args.width, num_frames=FRAMES,
                   channels=16, min_channels=8, groups=2)
    options = dict(backend=backend, **compile_kwargs)
    torch.manual_seed(0)
    model = FFNeRVFitModel(network, qat_bits=qat_bits,
                           compile=options if part == "step" else None).to(args.device)
    if part == "step":  # measured as it runs, without the fit's first-batch gradient check
        model.training_loss = model.training_loss.compiled
    if part == "independent":
        model.network.independent = torch.compile(model.network.independent, **options)
    elif part == "aggregate":
        model.network.aggregate = torch.compile(model.network.aggregate, **options)
    elif part == "loss":
        compiled_loss = torch.compile(ffnerv.ffnerv_loss, **options)
        model.compute_loss = lambda pred, target, valid, extra, mask=None: compiled_loss(extra["all"], target)
    return model


def group_of(name: str) -> str:
    """'network.stages.2.conv.0.parametrizations.weight.original' -> 'stage2'."""
    parts = name.split(".")
    if parts[1] in ("grids", "stages"):
        return parts[1][:-1] + parts[2]
    return parts[1]


def prime_buffer(model, video, args, autocast: bool) -> None:
    """Fill the neighbour buffer with the initial network's independent frames (eagerly), so the
    first step's gradients reach the flow head and the aggregation too (zero neighbours give them none)."""
    network, index = model.network, torch.arange(FRAMES, device=args.device)
    with torch.no_grad(), torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
        model.buffer.update(index, type(network).independent(network, index)["frame"])


def fit(model, video, args, autocast: bool) -> dict:
    """STEPS steps of Adam at batch 1 from a primed buffer; the first step's loss and gradients
    are kept, and the trained weights are checked by ``evaluate``."""
    prime_buffer(model, video, args, autocast)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS)
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    order = torch.Generator().manual_seed(1)
    losses, times, first = [], [], {}
    for step in range(args.steps):
        index = torch.randint(0, FRAMES, (1,), generator=order)
        inputs = dict(frame_index=index.to(args.device), frame=video[index])
        start = time.perf_counter()
        with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            loss = model(inputs, mode="loss")["loss"]
        loss.backward()
        if step == 0:
            first = {n: None if p.grad is None else p.grad.detach().float().clone()
                     for n, p in model.named_parameters()}
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        times.append(time.perf_counter() - start)
        if step == 0:
            print(f"    first step (compile included) {times[0]:.1f} s", flush=True)
    moved = math.sqrt(sum(float((p.detach() - initial[n]).float().pow(2).sum()) for n, p in model.named_parameters()))
    size = math.sqrt(sum(float(v.float().pow(2).sum()) for v in initial.values()))
    steady = sorted(times[len(times) // 2:])
    return dict(losses=losses, first_grads=first, moved=moved / size, curve=curve(losses),
                first_step_s=times[0], step_ms=steady[len(steady) // 2] * 1e3,
                eval=evaluate_or_report(model, video, args, autocast))


def evaluate_or_report(model, video, args, autocast: bool) -> dict:
    """``evaluate``, or NaNs and the error's first line: the learning result is kept either way."""
    try:
        return evaluate(model, video, args, autocast)
    except Exception as error:  # e.g. CUDA graphs refusing forwards without their backward
        message = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        print(f"    evaluation of the trained weights failed: {message}", flush=True)
        return dict(through_model=float("nan"), eager=float("nan"), late_grads={}, error=message)


def evaluate(model, video, args, autocast: bool) -> dict:
    """The trained weights: mean loss over all frames through the model's (possibly compiled) step
    and eagerly on the same inputs, and both paths' gradients for frame FRAMES // 2 compared
    (``late_grads``: is the backward still right after training?). Leaves the buffer and the
    parameters' gradients as they were (None)."""
    saved = model.buffer.frames.clone()
    compiled, eager, grads = [], [], []
    with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
        for i in range(FRAMES):
            inputs = model._with_neighbours(dict(frame_index=torch.tensor([i], device=args.device),
                                                 frame=video[i:i + 1]))
            losses = (model.training_loss(inputs)[0], eager_loss(model, inputs))
            compiled.append(float(losses[0]))
            eager.append(float(losses[1]))
            if i == FRAMES // 2:
                for loss in losses:
                    loss.backward()
                    grads.append({n: None if p.grad is None else p.grad.float().clone()
                                  for n, p in model.named_parameters()})
                    model.zero_grad(set_to_none=True)
    model.buffer.frames = saved
    return dict(through_model=sum(compiled) / FRAMES, eager=sum(eager) / FRAMES,
                late_grads=compare_grads(*grads))


def eager_loss(model, inputs) -> torch.Tensor:
    """The model's training loss with nothing compiled (class methods, not the instance's wrappers)."""
    network = model.network
    outputs = type(network).independent(network, inputs["frame_index"])
    result = type(network).aggregate(network, outputs, inputs["neighbours"], inputs["neighbour_valid"])
    return ffnerv.ffnerv_loss(result, inputs["frame"].float() / 255.0)


def compare_grads(grads: dict, reference: dict) -> dict:
    """Per parameter group: relative norm of the difference, cosine, max abs difference, None/zero."""
    groups = {}
    for name, ref in reference.items():
        g = groups.setdefault(group_of(name), dict(diff=0.0, ref=0.0, dot=0.0, norm=0.0, max_abs=0.0,
                                                    none=False, zero=True))
        grad = grads.get(name)
        if grad is None or ref is None:
            g["none"] = g["none"] or grad is None
            continue
        g["diff"] += float((grad - ref).pow(2).sum())
        g["ref"] += float(ref.pow(2).sum())
        g["dot"] += float((grad * ref).sum())
        g["norm"] += float(grad.pow(2).sum())
        g["max_abs"] = max(g["max_abs"], float((grad - ref).abs().max()))
        g["zero"] = g["zero"] and not bool(grad.any())
    # "zero": all-zero gradients where the reference has some; two zero gradients agree (cos 1)
    return {name: dict(rel=math.sqrt(g["diff"] / g["ref"]) if g["ref"] else float(g["diff"] > 0),
                       cos=g["dot"] / math.sqrt(g["ref"] * g["norm"]) if g["ref"] and g["norm"]
                       else float(g["ref"] == g["norm"]),
                       max_abs=g["max_abs"], none=g["none"], zero=g["zero"] and g["ref"] > 0)
            for name, g in groups.items()}


def curve(losses: list[float], points: int = 8) -> list[float]:
    """The loss curve as ``points`` window means (the first window starts at step 0)."""
    step = max(len(losses) // points, 1)
    return [sum(losses[i:i + step]) / len(losses[i:i + step]) for i in range(0, len(losses), step)][:points]


def curve_ends(losses: list[float]) -> tuple[float, float]:
    window = min(WINDOW, max(len(losses) // 2, 1))
    return sum(losses[:window]) / window, sum(losses[-window:]) / window


def main() -> None:
    args = parse_args()
    torch.set_float32_matmul_precision("high")
    video = synthetic_video(args.height, args.width, args.device)
    device_name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    header = dict(device=args.device, device_name=device_name, torch=torch.__version__,
                  size=f"{args.height}x{args.width}", steps=args.steps)
    print(f"FFNeRV compiled-step bisect: {header}", flush=True)
    began = time.perf_counter()
    baselines, rows = {}, []

    def record(entry: dict) -> None:
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(json.dumps({**header, **entry}) + "\n")

    def baseline(qat_bits, autocast: bool) -> dict:
        key = (qat_bits, autocast)
        if key not in baselines:
            print(f"[{time.perf_counter() - began:.0f} s] baseline eager qat={qat_bits} autocast={autocast} ...", flush=True)
            result = fit(build(args, None, "inductor", {}, qat_bits), video, args, autocast)
            start, end = curve_ends(result["losses"])
            print(f"    eager loss {start:.4f} -> {end:.4f}, step {result['step_ms']:.1f} ms", flush=True)
            record(dict(variant=f"eager-qat{qat_bits}-{'bf16' if autocast else 'fp32'}",
                        qat_bits=qat_bits, autocast=autocast, loss_start=start, loss_end=end,
                        first_loss=result["losses"][0], curve=result["curve"], moved=result["moved"],
                        step_ms=result["step_ms"], eval=result["eval"]))
            baselines[key] = result
        return baselines[key]

    original_check = ffnerv._check_frame_index
    for name in args.only:
        part, backend, compile_kwargs, qat_bits, autocast, patch = VARIANTS[name]
        elapsed = time.perf_counter() - began
        if elapsed > args.time_limit:
            print(f"{name}: skipped (run at {elapsed:.0f} s, over --time-limit {args.time_limit:.0f} s)", flush=True)
            rows.append(dict(variant=name, skipped=True))
            record(rows[-1])
            continue
        try:
            reference = baseline(qat_bits, autocast)
            print(f"[{time.perf_counter() - began:.0f} s] {name}: {part} compiled, backend {backend} {compile_kwargs or ''} qat={qat_bits} "
                  f"autocast={autocast}{' patch ' + patch if patch else ''} ...", flush=True)
            torch._dynamo.reset()  # no cache or recompile limit carried over from the last variant
            counters.clear()
            if patch == "nocheck":
                ffnerv._check_frame_index = lambda frame_index, num_frames: None
            try:
                result = fit(build(args, part, backend, compile_kwargs, qat_bits), video, args, autocast)
            finally:
                ffnerv._check_frame_index = original_check
        except Exception as error:  # a bisect: report and go on with the other variants
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            print(f"    failed: {message}", flush=True)
            rows.append(dict(variant=name, error=message))
            record(rows[-1])
            continue
        graphs = dict(graphs=counters["stats"]["unique_graphs"],
                      breaks=sum(counters["graph_break"].values()),
                      break_reasons=[reason.splitlines()[0][:100] for reason in counters["graph_break"]][:5])
        grads = compare_grads(result["first_grads"], reference["first_grads"])
        start, end = curve_ends(result["losses"])
        ref_start, ref_end = curve_ends(reference["losses"])
        row = dict(variant=name, part=part, backend=backend, compile=compile_kwargs, qat_bits=qat_bits,
                   autocast=autocast, patch=patch, **graphs,
                   first_loss=result["losses"][0], first_loss_eager=reference["losses"][0],
                   first_loss_diff=result["losses"][0] - reference["losses"][0],
                   grad_rel_max=max(g["rel"] for g in grads.values()),
                   grad_max_abs=max(g["max_abs"] for g in grads.values()),
                   grads=grads, late_grad_rel_max=max((g["rel"] for g in result["eval"]["late_grads"].values()),
                                         default=float("nan")),
                   loss_start=start, loss_end=end, curve=result["curve"], eager_curve=reference["curve"],
                   eager_loss_start=ref_start, eager_loss_end=ref_end,
                   learns=(start - end) >= 0.5 * (ref_start - ref_end),
                   moved=result["moved"], eager_moved=reference["moved"],
                   step_ms=result["step_ms"], eager_step_ms=reference["step_ms"],
                   first_step_s=result["first_step_s"], eval=result["eval"], eager_eval=reference["eval"])
        rows.append(row)
        record(row)
        def flags(groups):
            return " ".join(f"{k} {g['rel']:.2g}/{g['cos']:.3f}{' NONE' if g['none'] else ''}"
                            f"{' ZERO' if g['zero'] else ''}" for k, g in groups.items())

        print(f"    dynamo: {graphs['graphs']} graphs, {graphs['breaks']} graph breaks "
              f"{graphs['break_reasons'] or ''}", flush=True)
        print(f"    first loss {row['first_loss']:.5f} vs eager {row['first_loss_eager']:.5f}; "
              f"grads vs eager's (rel/cos): {flags(grads)}", flush=True)
        print(f"    after training, grads vs eager's on the same weights: {flags(result['eval']['late_grads'])}",
              flush=True)
        print(f"    curve {' '.join(f'{v:.4f}' for v in row['curve'])} | eager "
              f"{' '.join(f'{v:.4f}' for v in row['eager_curve'])}", flush=True)
        print(f"    loss {start:.4f} -> {end:.4f} (eager {ref_start:.4f} -> {ref_end:.4f}), weights moved "
              f"{row['moved']:.3g} (eager {row['eager_moved']:.3g}), final weights' loss through the "
              f"model {row['eval']['through_model']:.4f} / eager {row['eval']['eager']:.4f}, step "
              f"{row['step_ms']:.1f} ms (eager {row['eager_step_ms']:.1f})", flush=True)

    print(f"\nsummary ({header['device_name']}, torch {header['torch']}, {header['size']}, "
          f"{args.steps} steps, {time.perf_counter() - began:.0f} s)")
    print(f"{'variant':16s} {'d loss0':>9s} {'grad rel':>8s} {'worst group':>11s} {'late rel':>8s} {'loss start->end':>15s} "
          f"{'eager':>15s} {'learns':>6s} {'moved':>7s} {'eval model/eager':>16s} {'ms':>6s} {'eager':>6s}")
    for row in rows:
        if "skipped" in row or "error" in row:
            print(f"{row['variant']:16s} {'skipped' if 'skipped' in row else 'failed: ' + row['error'][:80]}")
            continue
        worst = max(row["grads"], key=lambda k: row["grads"][k]["rel"])
        print(f"{row['variant']:16s} {row['first_loss_diff']:9.2g} {row['grad_rel_max']:8.2g} {worst:>11s} "
              f"{row['late_grad_rel_max']:8.2g} "
              f"{row['loss_start']:7.4f}->{row['loss_end']:.4f} {row['eager_loss_start']:7.4f}->"
              f"{row['eager_loss_end']:.4f} {str(row['learns']):>6s} {row['moved']:7.3g} "
              f"{row['eval']['through_model']:7.4f}/{row['eval']['eager']:.4f} {row['step_ms']:6.1f} "
              f"{row['eager_step_ms']:6.1f}")


if __name__ == "__main__":
    main()
