"""Tests of the H.264 / HEVC baselines (toolkit.codecs.classical)."""

import dataclasses

import numpy as np
import pytest

from toolkit.codecs.bitstream import Bitstream, BitstreamError, read_bitstream, write_bitstream
from toolkit.codecs.classical import (SEI_NAL_TYPES, ClassicalCodec, EncoderSettings,
                                      decode_video, drop_nal_units, encode_video)

CODECS = ["h264", "hevc"]
FPS = 2.0


def moving_video(num_frames=8, height=64, width=80, phase=0.0):
    """Smooth colour patterns drifting a few pixels per frame."""
    t = np.arange(num_frames, dtype=np.float64)[:, None, None] + phase
    y = np.arange(height, dtype=np.float64)[None, :, None]
    x = np.arange(width, dtype=np.float64)[None, None, :]
    red = 128 + 90 * np.sin((x + 3 * t) / 9.0) * np.cos(y / 11.0)
    green = 128 + 90 * np.cos((y - 2 * t) / 7.0 + x / 40.0)
    blue = 128 + 70 * np.sin((x + y + 2 * t) / 13.0)
    return np.stack(np.broadcast_arrays(red, green, blue), axis=-1).round().astype(np.uint8)


@pytest.fixture(scope="module")
def videos():
    return [moving_video(phase=5.0 * i) for i in range(3)]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def pixels(videos):
    return sum(v.shape[0] * v.shape[1] * v.shape[2] for v in videos)


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_quality(codec, videos):
    bitstream, info = ClassicalCodec(EncoderSettings(codec)).compress(videos, FPS, crf=18)
    assert bitstream.header["codec"] == codec
    assert list(bitstream.chunks) == ["video/00000", "video/00001", "video/00002"]
    assert info["crf"] == 18 and info["iterations"] == 1 and info["within_tolerance"]
    decoded = list(ClassicalCodec(EncoderSettings(codec)).decompress(bitstream))
    assert len(decoded) == len(videos)
    for original, restored in zip(videos, decoded):
        assert restored.shape == original.shape and restored.dtype == np.uint8
        assert psnr(original, restored) > 30


@pytest.mark.parametrize("codec", CODECS)
def test_bpp_is_file_size_and_monotone_in_crf(codec, videos, tmp_path):
    codec_ = ClassicalCodec(EncoderSettings(codec))
    bpps = []
    for crf in (10, 20, 30, 40):
        bitstream, info = codec_.compress(videos, FPS, crf=crf)
        size = write_bitstream(tmp_path / f"{crf}.bits", bitstream)
        assert size == info["bytes"] == (tmp_path / f"{crf}.bits").stat().st_size
        assert info["bpp"] == pytest.approx(size * 8 / pixels(videos))
        bpps.append(info["bpp"])
    assert all(a > b for a, b in zip(bpps, bpps[1:])), bpps


@pytest.mark.parametrize("codec", CODECS)
def test_rate_matching_hits_target(codec, videos, tmp_path):
    codec_ = ClassicalCodec(EncoderSettings(codec))
    high = codec_.compress(videos, FPS, crf=20)[1]["bpp"]
    low = codec_.compress(videos, FPS, crf=40)[1]["bpp"]
    target = float(np.sqrt(high * low))
    bitstream, info = codec_.compress(videos, FPS, target_bpp=target, tolerance=0.03)
    assert info["within_tolerance"], info
    assert abs(info["bpp"] / target - 1) <= 0.03
    assert 20 < info["crf"] < 40 and bitstream.header["crf"] == info["crf"]
    size = write_bitstream(tmp_path / "matched.bits", bitstream)
    assert size * 8 / pixels(videos) == pytest.approx(info["bpp"])
    assert info["iterations"] == len(info["probes"]) >= 2


def test_unreachable_target_reports_closest(videos):
    bitstream, info = ClassicalCodec(EncoderSettings("h264")).compress(
        videos, FPS, target_bpp=1e-6)
    assert not info["within_tolerance"]
    assert info["crf"] == 51 and info["bpp"] == min(p[1] for p in info["probes"])


def test_file_round_trip_decodes_identically(videos, tmp_path):
    codec = ClassicalCodec(EncoderSettings("h264"))
    bitstream, _ = codec.compress(videos, FPS, crf=25)
    write_bitstream(tmp_path / "set.bits", bitstream)
    loaded = read_bitstream(tmp_path / "set.bits")
    assert loaded.header == bitstream.header and loaded.chunks == bitstream.chunks
    for direct, from_file in zip(codec.decompress(bitstream), codec.decompress(loaded)):
        np.testing.assert_array_equal(direct, from_file)


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_or_damaged_chunk_raises(codec, videos):
    codec_ = ClassicalCodec(EncoderSettings(codec))
    bitstream, _ = codec_.compress(videos, FPS, crf=25)
    stream = bitstream.chunks["video/00001"]
    for damaged in (stream[: len(stream) // 2], b"\x00" * 32 + stream[32:], b""):
        chunks = dict(bitstream.chunks, **{"video/00001": damaged})
        with pytest.raises(ValueError, match="video 1"):
            list(codec_.decompress(Bitstream(header=bitstream.header, chunks=chunks)))


def test_corrupted_file_is_rejected(videos, tmp_path):
    bitstream, _ = ClassicalCodec(EncoderSettings("hevc")).compress(videos, FPS, crf=25)
    path = tmp_path / "set.bits"
    write_bitstream(path, bitstream)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # inside the last video chunk
    path.write_bytes(bytes(data))
    with pytest.raises(BitstreamError):
        read_bitstream(path)


@pytest.mark.parametrize("codec", CODECS)
def test_single_frame_video(codec):
    video = moving_video(num_frames=1)
    stream = encode_video(video, FPS, EncoderSettings(codec), crf=18)
    decoded = decode_video(stream, codec, 1, 64, 80)
    assert decoded.shape == video.shape and psnr(video, decoded) > 30
    with pytest.raises(ValueError, match="2 frames, expected|expected 2"):
        decode_video(stream, codec, 2, 64, 80)


@pytest.mark.parametrize("codec", CODECS)
def test_sei_stripped_without_changing_pictures(codec, videos):
    settings = EncoderSettings(codec)
    with_sei = encode_video(videos[0], FPS, dataclasses.replace(settings, strip_sei=False), 25)
    stripped = encode_video(videos[0], FPS, settings, 25)
    assert len(stripped) < len(with_sei)
    assert drop_nal_units(with_sei, codec, SEI_NAL_TYPES[codec]) == stripped
    assert drop_nal_units(stripped, codec, SEI_NAL_TYPES[codec]) == stripped  # none left
    np.testing.assert_array_equal(decode_video(with_sei, codec, 8, 64, 80),
                                  decode_video(stripped, codec, 8, 64, 80))


def test_one_intra_frame_without_scenecut(videos):
    import av
    from av.video.frame import PictureType

    stream = encode_video(videos[0], FPS, EncoderSettings("h264", scenecut=False, bframes=2), 25)
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for p in decoder.parse(stream) + decoder.parse(None) for f in decoder.decode(p)]
    frames += decoder.decode(None)
    kinds = [PictureType(f.pict_type).name for f in frames]
    assert kinds[0] == "I" and "I" not in kinds[1:] and "B" in kinds


@pytest.mark.parametrize("codec", CODECS)
def test_encoding_is_reproducible(codec, videos):
    settings = EncoderSettings(codec)
    first = [encode_video(v, FPS, settings, 28) for v in videos]
    again = [encode_video(v, FPS, settings, 28) for v in videos[::-1]][::-1]
    assert first == again


def test_parallel_workers_match_serial(videos):
    codec = ClassicalCodec(EncoderSettings("h264"))
    serial, _ = codec.compress(videos, FPS, crf=28)
    parallel, _ = codec.compress(videos, FPS, crf=28, workers=2)
    assert parallel.chunks == serial.chunks and parallel.header == serial.header


def test_a_dead_encoder_process_is_replaced_and_the_set_encoded_again(videos):
    """A worker that dies (as libx265 once did) breaks the pool: the set is encoded again in
    new processes, with the same bytes as an undisturbed run."""
    import concurrent.futures.process
    import os

    codec = ClassicalCodec(EncoderSettings("hevc"))
    serial, _ = codec.compress(videos, FPS, crf=28)
    with codec._executor(2) as pool:
        with pytest.raises(concurrent.futures.process.BrokenProcessPool):
            pool.submit(os._exit, 1).result()
        with pytest.warns(RuntimeWarning, match="encoder process died"):
            again = codec._encode_set(videos, FPS, 28.0, pool, 2)
        assert again.chunks == serial.chunks
        assert codec._encode_set(videos, FPS, 28.0, pool, 2).chunks == serial.chunks


@pytest.mark.parametrize("codec", CODECS)
def test_yuv444_accepts_odd_sizes(codec):
    video = moving_video(num_frames=2, height=33, width=65)
    stream = encode_video(video, FPS, EncoderSettings(codec, pix_fmt="yuv444p"), crf=18)
    assert psnr(video, decode_video(stream, codec, 2, 33, 65)) > 30


def test_hevc_rejects_frames_too_narrow_for_x265():
    with pytest.raises(ValueError, match="too narrow"):
        encode_video(moving_video(width=48), FPS, EncoderSettings("hevc"), crf=20)


def test_registry_builds_codecs():
    from toolkit.registry import CODECS as REGISTRY

    # module_dict, not build(): build() also imports the registry's other locations.
    codec = REGISTRY.module_dict["hevc"](preset="fast", bframes=0)
    assert isinstance(codec, ClassicalCodec) and codec.name == "hevc"
    assert codec.settings == EncoderSettings("hevc", preset="fast", bframes=0)
    assert REGISTRY.module_dict["h264"]().settings == EncoderSettings("h264")


def test_invalid_inputs_give_clear_errors(videos):
    with pytest.raises(ValueError, match="h264, hevc"):
        EncoderSettings("vp9")
    with pytest.raises(ValueError, match="h264, hevc"):
        decode_video(b"\x00\x00\x01", "av1", 1, 64, 80)
    with pytest.raises(ValueError, match="even"):
        encode_video(moving_video(height=63), FPS, EncoderSettings("h264"), crf=20)
    codec = ClassicalCodec(EncoderSettings("h264"))
    with pytest.raises(ValueError, match="even"):
        codec.compress([moving_video(width=81)], FPS, crf=20)
    with pytest.raises(ValueError, match="exactly one"):
        codec.compress(videos, FPS, crf=20, target_bpp=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        codec.compress(videos, FPS)
    with pytest.raises(ValueError, match="crf"):
        codec.compress(videos, FPS, crf=60)
    with pytest.raises(ValueError, match="uint8"):
        encode_video(videos[0].astype(np.float32), FPS, EncoderSettings("h264"), crf=20)
    with pytest.raises(ValueError, match="codec 'h264'"):
        list(ClassicalCodec(EncoderSettings("hevc")).decompress(
            codec.compress(videos, FPS, crf=30)[0]))
