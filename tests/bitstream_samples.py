"""Tiny valid bitstream files of every codec, and a container writer for crafted ones.

Shared by the crafted-bitstream regression tests and the fuzz test (and its worker
process). The INR networks are untrained (seeded initialisation): decoding does not care.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import torch

from conftest import moving_frames
from toolkit.codecs.bitstream import MAGIC, FORMAT_VERSION, Bitstream, write_bitstream

CODECS = ("nerv", "dnerv", "ffnerv", "h264", "hevc")
HEIGHT, WIDTH, FPS = 32, 64, 2
FRAME_COUNTS = (9, 3)
TINY_NETWORKS = {
    "nerv": dict(channels=4, mlp_hidden=16, pe_levels=8, min_channels=4),
    "dnerv": dict(fc_dim=4, mlp_hidden=16, pe_levels=8, min_width=4, encoder_dim=4),
    "ffnerv": dict(channels=2, min_channels=2, groups=2),
}


def videos() -> list[np.ndarray]:
    return [moving_frames(n, HEIGHT, WIDTH, seed=i) for i, n in enumerate(FRAME_COUNTS)]


def decoder(codec: str):
    """The codec object that decodes the sample of ``codec`` (as compress_dataset builds it)."""
    from toolkit.engine.config import build_codec

    if codec in TINY_NETWORKS:
        return build_codec(dict(type=codec, network=TINY_NETWORKS[codec],
                                **(dict(clip_len=4) if codec == "dnerv" else {})))
    return build_codec(dict(type=codec, preset="ultrafast"))


def sample(codec: str) -> Bitstream:
    """A small valid bitstream of ``codec`` holding the two videos of :func:`videos`."""
    from toolkit.codecs.inr.codec import FitJob
    from toolkit.codecs.inr.keyframes import keyframe_indices
    from toolkit.codecs.inr.networks import build_network
    from toolkit.codecs.layout import BitstreamLayout, VideoSlot

    coder = decoder(codec)
    frames = videos()
    if codec not in TINY_NETWORKS:
        return coder.compress(frames, FPS, crf=30)[0]
    layout = BitstreamLayout(HEIGHT, WIDTH, FPS,
                             tuple(VideoSlot(i, n) for i, n in enumerate(FRAME_COUNTS)))
    groups = [[0], [1]] if coder.per_video else [[0, 1]]
    jobs = [FitJob(f"job{k}", group,
                   coder.network_config(HEIGHT, WIDTH, sum(FRAME_COUNTS[v] for v in group), 0))
            for k, group in enumerate(groups)]
    torch.manual_seed(0)
    networks = [build_network(job.network) for job in jobs]
    header, chunks = {}, {}
    if codec == "dnerv":
        stills = [f[keyframe_indices(len(f), coder.clip_len)] for f in frames]
        coded, _ = coder.keyframe_codec().compress(stills, FPS, crf=35)
        header = {"keyframes": coded.header}
        chunks = {f"keyframes/{name.split('/')[-1]}": data for name, data in coded.chunks.items()}
    return coder.compress(networks, jobs, layout, header, chunks)[0]


def write_samples(directory) -> dict[str, str]:
    """Write one sample file per codec into ``directory``; returns codec -> path."""
    paths = {}
    for codec in CODECS:
        paths[codec] = str(directory / f"{codec}.bits")
        write_bitstream(paths[codec], sample(codec))
    return paths


def header_text(header: dict) -> bytes:
    """Compact JSON as write_bitstream writes it, but NaN and infinity allowed (crafted files)."""
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode(errors="surrogatepass")


def container(text: bytes, chunks, version: int = FORMAT_VERSION) -> bytes:
    """A container with correct lengths and checksums around any header text and chunks.

    ``chunks``: (name, payload) pairs; a name may be bytes (e.g. not UTF-8).
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = compressor.compress(text) + compressor.flush()
    out = bytearray(struct.pack("<4sHII", MAGIC, version, len(header), zlib.crc32(header)) + header)
    for name, payload in chunks:
        name = name.encode() if isinstance(name, str) else bytes(name)
        start = bytes([len(name)]) + name + struct.pack("<I", len(payload))
        out += start + payload + struct.pack("<I", zlib.crc32(payload, zlib.crc32(start)))
    out += b"\x00"
    out += struct.pack("<Q", len(out) + 8)
    return bytes(out)


def decode(codec: str, path) -> list[np.ndarray]:
    """Read ``path`` and decode every video with ``codec``'s decoder, as compress_dataset does."""
    from toolkit.codecs.bitstream import read_bitstream

    coder = decoder(codec)
    bitstream = read_bitstream(path)
    if codec in TINY_NETWORKS:
        return list(coder.decompress(bitstream, device="cpu"))
    return list(coder.decompress(bitstream))
