"""Decode throughput of INR codecs: frames per second, timed properly.

On a GPU: CUDA events around whole decoding passes over every video of the
bitstream, after a warm-up pass, median of ``repeats``. Measured for each
precision in ``dtypes`` and in two modes: ``network`` (frames stay on the GPU)
and ``to_host`` (frames also converted to uint8 and copied to host memory).
Keyframe decoding (D-NeRV) is timed separately and reported both apart and
added in. On a CPU the same passes are timed with a wall clock, and the result
says it was measured on a CPU.
"""

from __future__ import annotations

import statistics
import time

import torch

from toolkit.codecs.inr.codec import frames_to_uint8
from toolkit.runinfo import device_name

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _timed(fn, device) -> float:
    if torch.device(device).type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def measure_decode_throughput(codec, bitstream, device, dtypes=("float32", "bfloat16"),
                              repeats: int = 3, warmup: int = 1) -> dict:
    """Frames per second of decoding ``bitstream`` (see module docstring)."""
    header = bitstream.header
    networks = [n.to(device) for n in codec.networks_from(bitstream)]
    begin = time.perf_counter()
    context = codec.decode_context(bitstream)  # keyframe decoding (PyAV, on the CPU)
    context_seconds = time.perf_counter() - begin
    num_frames = sum(v["num_frames"] for v in header["videos"])

    def run(dtype, to_host):
        def decode():
            for _, batches in codec.render_batches(networks, header, context, device, dtype):
                for batch in batches:
                    if to_host:
                        frames_to_uint8(batch)
        return decode

    result = dict(device=device_name(), frames=num_frames, repeats=repeats,
                  keyframe_decode_s=context_seconds if context else 0.0, fps={})
    for name in dtypes:
        dtype = DTYPES[name]
        if torch.device(device).type == "cpu" and dtype == torch.float16:
            continue
        for mode, to_host in (("network", False), ("to_host", True)):
            decode = run(dtype, to_host)
            for _ in range(warmup):
                _timed(decode, device)
            seconds = statistics.median(_timed(decode, device) for _ in range(repeats))
            key = f"{name}_{mode}"
            result["fps"][key] = num_frames / seconds
            if context:
                result["fps"][f"{key}_with_keyframes"] = num_frames / (seconds + context_seconds)
    return result
