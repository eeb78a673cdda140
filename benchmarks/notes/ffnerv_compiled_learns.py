"""Does a compiled FFNeRV training step learn like the eager one? (GPU check, session 8)

The anchors' FFNeRV fits with ``fit.compile.mode=reduce-overhead`` ran 5x faster per step on an
H200 but their loss never moved (0.38 from the first to the 254th epoch, 11.6 dB). This fits one
small FFNeRV to 8 random-ish frames for STEPS steps at batch 1 (bf16 autocast, QAT 8, Adam as the
recipe) eager, compiled (default mode) and compiled with CUDA graphs, and prints the loss curves
and the step times side by side. Usage: python benchmarks/notes/ffnerv_compiled_learns.py [STEPS]
"""
import sys
import time

import torch

from toolkit.engine.models import FFNeRVFitModel

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
H, W, FRAMES = 160, 320, 8
NETWORK = dict(type="FFNeRV", height=H, width=W, num_frames=FRAMES, channels=16, min_channels=8,
               groups=2)


def frames() -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    t = torch.arange(FRAMES)[:, None, None, None] / FRAMES
    rgb = torch.stack([torch.sin(6 * x + 3 * t[:, 0]), torch.cos(5 * y - 2 * t[:, 0]), x * y + 0 * t[:, 0]], 1)
    return ((rgb * 0.5 + 0.5).clamp(0, 1) * 255).to(torch.uint8).to(DEVICE)


def run(compile_options):
    torch.manual_seed(0)
    model = FFNeRVFitModel(NETWORK, compile=compile_options).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.5, 0.999))
    video, losses, times = frames(), [], []
    order = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        index = torch.randint(0, FRAMES, (1,), generator=order)
        inputs = dict(frame_index=index.to(DEVICE), frame=video[index])
        start = time.perf_counter()
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            loss = model(inputs, mode="loss")["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        times.append(time.perf_counter() - start)
    return losses, times


results = {}
for name, options in (("eager", None), ("compiled", {}), ("cudagraphs", {"mode": "reduce-overhead"})):
    try:
        results[name] = run(options)
    except Exception as error:  # a check: report and go on with the other modes
        print(f"{name}: failed: {type(error).__name__}: {error}".splitlines()[0])
for name, (losses, times) in results.items():
    curve = " ".join(f"{sum(losses[i:i + 25]) / len(losses[i:i + 25]):.4f}"
                     for i in range(0, STEPS, max(STEPS // 8, 1)))
    steady = sorted(times[STEPS // 2:])[len(times[STEPS // 2:]) // 2]
    print(f"{name:10s} loss by step: {curve} | median step {steady * 1e3:.1f} ms")
