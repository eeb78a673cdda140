"""Decode any codec's bitstream with nothing but the file.

The header names the codec and everything its decoder needs (INR networks with their
configuration, D-NeRV's clip length and keyframe codec, classical settings); the
catalog (:mod:`toolkit.codecs.layout`) names the videos.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from toolkit.codecs.bitstream import Bitstream, bitstream_error
from toolkit.codecs.layout import VideoCatalog
from toolkit.registry import CODECS

DECODABLE = ("nerv", "dnerv", "ffnerv", "h264", "hevc")


def decoder_for(bitstream: Bitstream):
    """The codec that decodes ``bitstream``, configured from its header alone."""
    import toolkit.codecs.classical  # noqa: F401  (registers h264 and hevc)
    import toolkit.codecs.inr.codec  # noqa: F401  (registers the INR codecs)

    header = bitstream.header
    name = header.get("codec")
    if name not in DECODABLE:
        raise bitstream_error(bitstream, f"the file holds codec {repr(name)[:40]}, which this "
                              f"toolkit does not decode", f"it decodes {', '.join(DECODABLE)}")
    if name == "dnerv":  # the keyframes' codec is the one their header names
        keyframes = header.get("keyframes")
        keyframe_codec = keyframes.get("codec") if isinstance(keyframes, dict) else None
        if keyframe_codec in ("h264", "hevc"):
            return CODECS.get(name)(keyframe_settings=dict(codec=keyframe_codec))
    return CODECS.get(name)()


def check_bitstream(bitstream: Bitstream):
    """The decoder and the catalog of ``bitstream``, its whole header checked first."""
    codec = decoder_for(bitstream)
    codec.check_header(bitstream)
    return codec, VideoCatalog.from_bitstream(bitstream, len(bitstream.header["videos"]))


def decode_videos(codec, bitstream: Bitstream, device="cpu") -> Iterator[np.ndarray]:
    """Every video of ``bitstream`` in order, (T, H, W, 3) uint8 (classical decoders run on
    the CPU whatever ``device`` says)."""
    return codec.decompress(bitstream, device=device)


def frame_format(bitstream: Bitstream) -> tuple[int, int, float]:
    """Height, width and frame rate of a checked header (classical: its first video's size)."""
    header = bitstream.header
    first = header["videos"][0]
    return (header.get("height", first.get("height")), header.get("width", first.get("width")),
            header["fps"])
