"""Crafted bitstreams: every defect found by the hardening probe (issue 12, item 2) gives one
BitstreamError line, before anything is allocated or rendered; valid files decode as before.

Cases that crashed or ran away before the fix are decoded in a separate process
(``bitstream_decode_worker``) with a timeout, so that without the fix they fail the test
instead of ending the test run.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import bitstream_samples as samples
from bitstream_decode_worker import DecodeWorker
from toolkit.codecs.bitstream import (MAX_HEADER_TEXT_BYTES, BitstreamError, read_bitstream,
                                      write_bitstream)
from toolkit.codecs.entropy import _deflate, _varint, decode_tensors
from toolkit.codecs.inr.codec import NETWORK_FIELDS
from toolkit.codecs.inr.networks import network_class

INR = ("nerv", "dnerv", "ffnerv")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("samples")
    return samples.write_samples(directory)


@pytest.fixture(scope="module")
def worker():
    with DecodeWorker() as process:
        yield process


def _crafted(tmp_path, codec_file: str, header: dict | None = None, chunks=None, text=None) -> str:
    """A copy of a sample with its header and/or chunks replaced, checksums recomputed."""
    original = read_bitstream(codec_file)
    if text is None:
        text = samples.header_text(header if header is not None else original.header)
    path = tmp_path / "crafted.bits"
    path.write_bytes(samples.container(text, chunks if chunks is not None else original.chunks.items()))
    return str(path)


def _one_line_error(outcome: tuple[str, str], *fragments: str) -> str:
    kind, message = outcome
    assert kind == "BitstreamError", message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_valid_samples_decode_bit_exactly_as_the_encoder_renders(files):
    """The checks refuse nothing valid, and INR decoding is what compress() returned."""
    for codec in samples.CODECS:
        decoded = samples.decode(codec, files[codec])
        assert [v.shape for v in decoded] == [(n, samples.HEIGHT, samples.WIDTH, 3)
                                              for n in samples.FRAME_COUNTS]
    for codec in INR:
        coder = samples.decoder(codec)
        bitstream = read_bitstream(files[codec])
        networks = coder.networks_from(bitstream)
        rendered = list(coder.render(networks, bitstream.header, coder.decode_context(bitstream), "cpu"))
        assert all(np.array_equal(a, b) for a, b in zip(rendered, samples.decode(codec, files[codec])))


def test_payload_declaring_2_to_32_values_is_refused_not_aborted(worker, files, tmp_path):
    """Found: a file of under 400 bytes declaring 2**32 values made constriction allocate
    16 GiB and abort the process (SIGABRT, no Python error)."""
    meta = b'{"tensors":[{"name":"w","shape":[4294967296],"axis":null,"bits":8,"model":0}],' \
           b'"models":[{"bits":8}]}'
    description = _deflate(meta)
    payload = (b"QT\x01" + _varint(len(description)) + description
               + np.array([1.0, 0.0], "<f4").tobytes() + _varint(2**32) + b"\x00" + _varint(254)
               + b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="more than 64 per byte"):
        decode_tensors(payload)
    nerv = read_bitstream(files["nerv"])
    path = _crafted(tmp_path, files["nerv"], chunks=[("weights/00000", payload)])
    assert len(samples.container(samples.header_text(nerv.header), [])) + len(payload) < 400
    _one_line_error(worker.decode("nerv", path, timeout=60), "weights/00000", "'w' is not in the network")


def test_huge_frame_count_is_refused_before_rendering(worker, files, tmp_path):
    """Found: ``num_frames=1e8`` in the header rendered until memory ran out."""
    for codec in samples.CODECS:
        header = read_bitstream(files[codec]).header
        for value in (10**8, 1e8):
            header["videos"][0]["num_frames"] = value
            path = _crafted(tmp_path, files[codec], header)
            expected = ("num_frames" if isinstance(value, float)
                        else "pixels" if codec in INR else "cannot hold the 100000000 frames")
            _one_line_error(worker.decode(codec, path, timeout=60), expected)


def test_header_inflating_past_the_limit_is_refused(files, tmp_path):
    """Found: a 3 MB header inflating to 3 GiB raised MemoryError. Here 20 MiB of text
    (about 20 kB compressed) stands in for it: anything past the limit is refused."""
    padding = " " * (MAX_HEADER_TEXT_BYTES + 2**20)
    path = _crafted(tmp_path, files["h264"], text=b'{"codec":"h264","pad":"' + padding.encode() + b'"}')
    with pytest.raises(BitstreamError, match="inflates to more than") as error:
        read_bitstream(path)
    assert "\n" not in str(error.value)


def test_non_utf8_chunk_name_is_refused(files, tmp_path):
    """Found: a chunk name that is not UTF-8 (checksum recomputed) raised UnicodeDecodeError."""
    chunks = list(read_bitstream(files["hevc"]).chunks.items())
    chunks[0] = (b"video/\xff\xfe", chunks[0][1])
    path = _crafted(tmp_path, files["hevc"], chunks=chunks)
    with pytest.raises(BitstreamError, match="is not UTF-8"):
        read_bitstream(path)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_in_the_header_are_refused(files, tmp_path, value):
    """Found: NaN in the header was accepted."""
    text = json.dumps(read_bitstream(files["nerv"]).header, separators=(",", ":"))
    text = text.replace('"fps":2', f'"fps":{value}', 1)
    assert value in text
    with pytest.raises(BitstreamError, match="header is malformed"):
        read_bitstream(_crafted(tmp_path, files["nerv"], text=text.encode()))


def test_deeply_nested_header_is_refused(files, tmp_path):
    text = b'{"codec":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(BitstreamError, match="nested too deeply"):
        read_bitstream(_crafted(tmp_path, files["nerv"], text=text))


@pytest.mark.parametrize("written", samples.CODECS)
def test_file_of_another_codec_is_refused(worker, files, tmp_path, written):
    """Found: a file of another INR codec gave KeyError/TypeError. Also with the codec
    name swapped to the decoder's, so that only the network config or layout differs."""
    for reader in samples.CODECS:
        if reader == written:
            continue
        _one_line_error(worker.decode(reader, files[written], timeout=60), f"'{written}'")
        header = dict(read_bitstream(files[written]).header, codec=reader)
        path = _crafted(tmp_path, files[written], header)
        _one_line_error(worker.decode(reader, path, timeout=60))


@pytest.mark.parametrize("codec", INR)
def test_network_config_fields_are_checked(worker, files, tmp_path, codec):
    coder = samples.decoder(codec)
    cases = [
        ({"bogus": 1}, "unknown keys"),
        ({coder.width_key: 10**9}, coder.width_key),
        ({coder.width_key: -3}, coder.width_key),
        ({coder.width_key: 4.5}, coder.width_key),
        ({coder.width_key: True}, coder.width_key),
        ({"height": 64}, "renders 64x64"),
        ({"type": "Other"}, "type"),
    ]
    for change, fragment in cases:
        header = read_bitstream(files[codec]).header
        header["networks"][0].update(change)
        path = _crafted(tmp_path, files[codec], header)
        _one_line_error(worker.decode(codec, path, timeout=60), fragment)


def test_network_too_large_for_its_weights_is_refused_before_it_is_built(worker, files, tmp_path):
    """A width within range but whose parameters the weight chunk does not hold."""
    header = read_bitstream(files["nerv"]).header
    header["networks"][0]["channels"] = 2**16
    _one_line_error(worker.decode("nerv", _crafted(tmp_path, files["nerv"], header), timeout=60),
                    "weights/00000", "shape")


def test_network_fields_cover_every_constructor_argument():
    """A header may name exactly the arguments the networks take (no drift between them)."""
    for name in NETWORK_FIELDS:
        network = network_class(name)
        arguments = set(inspect.signature(network.__init__).parameters) - {"self"}
        assert set(NETWORK_FIELDS[name]) == arguments, name


def test_jobs_and_chunks_must_match_the_videos(worker, files, tmp_path):
    header = read_bitstream(files["nerv"]).header
    header["jobs"] = [[1, 0]]
    _one_line_error(worker.decode("nerv", _crafted(tmp_path, files["nerv"], header), timeout=60), "jobs")
    chunks = list(read_bitstream(files["nerv"]).chunks.items()) + [("extra", b"1")]
    _one_line_error(worker.decode("nerv", _crafted(tmp_path, files["nerv"], chunks=chunks), timeout=60),
                    "'extra'")


def test_keyframes_must_match_the_clips_of_their_videos(worker, files, tmp_path):
    header = read_bitstream(files["dnerv"]).header
    header["networks"][0]["clip_len"] = 2  # the coded keyframes were planned for clips of 4
    _one_line_error(worker.decode("dnerv", _crafted(tmp_path, files["dnerv"], header), timeout=60),
                    "keyframes.videos[0]")


def test_classical_frames_beyond_the_chunk_bytes_are_refused(files, tmp_path):
    bitstream = read_bitstream(files["h264"])
    bitstream.header["videos"][1]["num_frames"] = len(bitstream.chunks["video/00001"]) + 1
    write_bitstream(tmp_path / "more.bits", bitstream)
    with pytest.raises(BitstreamError, match="cannot hold"):
        samples.decode("h264", tmp_path / "more.bits")
