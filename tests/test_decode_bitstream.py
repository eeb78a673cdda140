"""tools/decode_bitstream.py: any codec's file decodes alone into a source, PSNR against a reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_compress import data_root, run_tool  # noqa: F401  (data_root is a fixture)
from toolkit.cli import decode_bitstream
from toolkit.codecs.bitstream import read_bitstream, write_bitstream
from toolkit.data.source import Source


def decode(bits, out, *extra) -> int:
    return decode_bitstream.main([str(bits), "--out", str(out), "--device", "cpu", *extra])


def assert_same_source(decoded: Source, expected: Source) -> None:
    assert [(v.path, v.label, v.split, v.num_frames) for v in decoded.videos] == \
        [(v.path, v.label, v.split, v.num_frames) for v in expected.videos]
    assert decoded.classes == expected.classes
    for mine, theirs in zip(decoded.videos, expected.videos):
        assert np.array_equal(decoded.read_video(mine), expected.read_video(theirs))


@pytest.mark.parametrize("codec", ["nerv", "dnerv", "ffnerv", "h264", "hevc"])
def test_every_codec_decodes_from_the_file_alone(codec, data_root, tmp_path, capsys):  # noqa: F811
    assert run_tool(data_root, codec, tmp_path / "work") == 0
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    out = tmp_path / "received"
    assert decode(tmp_path / "work" / f"{codec}_M.bits", out, "--reference", str(data_root / "raw")) == 0
    received = Source(out)
    assert_same_source(received, Source.open(data_root, f"{codec}_M"))
    assert received.manifest["psnr"] == pytest.approx(results["psnr"], abs=1e-4)
    assert received.manifest["bpp"] == pytest.approx(results["bpp"])
    assert len(received.manifest["quality_per_video"]) == 3
    printed = capsys.readouterr().out
    assert "PSNR (dB), mean" in printed and f"{results['psnr']:.2f}" in printed


def test_dnerv_with_a_non_default_clip_length(data_root, tmp_path):  # noqa: F811
    """The clip length is the header's (clip_len=4 here, the default decoder's is 8)."""
    assert run_tool(data_root, "dnerv", tmp_path / "work", "codec.clip_len=4") == 0
    bits = tmp_path / "work" / "dnerv_M.bits"
    assert {n["clip_len"] for n in read_bitstream(bits).header["networks"]} == {4}
    assert decode(bits, tmp_path / "received") == 0
    assert_same_source(Source(tmp_path / "received"), Source.open(data_root, "dnerv_M"))


def test_file_without_names_decodes_under_generic_names(data_root, tmp_path):  # noqa: F811
    """A file written before the catalog existed: video_00000 ..., matched to the reference
    by the source index the header keeps."""
    assert run_tool(data_root, "nerv", tmp_path / "work") == 0
    bitstream = read_bitstream(tmp_path / "work" / "nerv_M.bits")
    del bitstream.header["catalog"]
    old = tmp_path / "old.bits"
    write_bitstream(old, bitstream)
    assert decode(old, tmp_path / "received", "--reference", str(data_root / "raw")) == 0
    received = Source(tmp_path / "received")
    assert [v.path for v in received.videos] == ["video_00000.mkv", "video_00001.mkv", "video_00002.mkv"]
    expected = Source.open(data_root, "nerv_M")
    for mine, theirs in zip(received.videos, expected.videos):
        assert np.array_equal(received.read_video(mine), expected.read_video(theirs))
    assert received.manifest["psnr"] == pytest.approx(expected.manifest["psnr"], abs=1e-4)


def test_bad_input_is_one_line(data_root, tmp_path, capsys):  # noqa: F811
    assert run_tool(data_root, "h264", tmp_path / "work") == 0
    bits = tmp_path / "work" / "h264_M.bits"

    def refused(bitstream_or_path, *needles, extra=()):
        path = bitstream_or_path
        if not isinstance(path, type(bits)):
            path = tmp_path / "crafted.bits"
            write_bitstream(path, bitstream_or_path)
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        assert decode(path, out, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        for needle in needles:
            assert needle in err, err
        assert not (out / "manifest.json").exists()

    refused(tmp_path / "missing.bits", "no such file")
    crafted = read_bitstream(bits)
    crafted.header["codec"] = "vvc"
    refused(crafted, "codec 'vvc'", "it decodes nerv, dnerv, ffnerv, h264, hevc")
    crafted = read_bitstream(bits)
    crafted.header["catalog"]["videos"][0][0] = "../escape.mkv"
    refused(crafted, "escape.mkv")
    crafted = read_bitstream(bits)
    crafted.header["catalog"]["videos"] = crafted.header["catalog"]["videos"][:2]
    refused(crafted, "catalog.videos has 2 items, expected 3 to 3")
    crafted = read_bitstream(bits)
    crafted.header["catalog"]["videos"][1][1] = 7
    refused(crafted, "catalog.videos[1][1]")
    refused(bits, "not a source", extra=("--reference", str(tmp_path)))
    assert decode(bits, tmp_path / "ok") == 0
    capsys.readouterr()
    assert decode(bits, tmp_path / "ok") == 2  # an existing source is never overwritten
    assert "already a source" in capsys.readouterr().err
