"""Classical encodes repeat byte for byte: in one process, in parallel workers, and through the
CRF search, so bpp and the CRF found are the same on every run."""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing

import pytest

from conftest import moving_frames
from toolkit.codecs.classical import ClassicalCodec, EncoderSettings, _encoder_params, encode_video


def _digest(args) -> str:
    frames, codec = args
    return hashlib.sha256(encode_video(frames, 2.0, EncoderSettings(codec), 30)).hexdigest()


def test_x265_with_one_thread_has_no_thread_pool():
    """x265's worker pool (lookahead, wavefront rows) is what can vary between runs."""
    _, params = _encoder_params(EncoderSettings("hevc"), keyint=16)
    assert "pools=none" in params and "frame-threads=1" in params and "lookahead-slices=0" in params
    _, params = _encoder_params(EncoderSettings("hevc", threads=4), keyint=16)
    assert "pools=4" in params and "frame-threads=4" in params


@pytest.mark.parametrize("codec", ["hevc", "h264"])
def test_encodes_are_identical_across_runs_and_workers(codec):
    frames = moving_frames(24, 64, 96, seed=3)
    inline = {_digest((frames, codec)) for _ in range(3)}
    with concurrent.futures.ProcessPoolExecutor(
            4, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = set(pool.map(_digest, [(frames, codec)] * 6))
    assert len(inline | parallel) == 1


@pytest.mark.parametrize("codec", ["hevc", "h264"])
def test_crf_search_repeats(codec):
    videos = [moving_frames(10, 64, 96, seed=s) for s in range(3)]
    runs = [ClassicalCodec(EncoderSettings(codec)).compress(videos, 2.0, target_bpp=0.3, workers=w)
            for w in (1, 2)]
    (first, info_a), (second, info_b) = runs
    assert first.chunks == second.chunks
    assert info_a["crf"] == info_b["crf"] and info_a["probes"] == info_b["probes"]
