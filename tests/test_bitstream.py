"""The bitstream container: round trip, compactness, and a clear error for every kind of damage."""

import os
import struct

import pytest

from toolkit.codecs.bitstream import MAGIC, Bitstream, BitstreamError, read_bitstream, write_bitstream


def _sample() -> Bitstream:
    return Bitstream(
        header={"codec": "nerv", "size": "S", "config": {"channels": [64, 32], "bits": 8},
                "videos": [{"path": "a/b.mkv", "num_frames": 16}], "ünïcode": "ok"},
        chunks={"weights": bytes(range(256)) * 3, "keyframes": b"", "video/0003": b"\x00\x01" * 40})


def _write(tmp_path, name="set.bits", bitstream=None) -> tuple[str, bytes]:
    path = os.fspath(tmp_path / name)
    write_bitstream(path, bitstream or _sample())
    with open(path, "rb") as file:
        return path, file.read()


def _damaged(tmp_path, data: bytes) -> str:
    path = os.fspath(tmp_path / "damaged.bits")
    with open(path, "wb") as file:
        file.write(data)
    return path


def test_round_trip_keeps_header_chunks_and_order(tmp_path):
    path = os.fspath(tmp_path / "set.bits")
    written = write_bitstream(path, _sample())
    assert written == os.path.getsize(path)
    restored = read_bitstream(path)
    assert restored.header == _sample().header
    assert restored.chunks == _sample().chunks
    assert list(restored.chunks) == ["weights", "keyframes", "video/0003"]
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]


def test_pathlike_and_bytes_like_payloads(tmp_path):
    path = tmp_path / "set.bits"
    write_bitstream(path, Bitstream({"codec": "x"}, {"a": bytearray(b"12"), "b": memoryview(b"345")}))
    assert read_bitstream(path).chunks == {"a": b"12", "b": b"345"}


def test_fixed_overhead_is_small(tmp_path):
    payload = b"x" * 1000
    path, data = _write(tmp_path, bitstream=Bitstream({"codec": "h264"}, {"weights": payload}))
    (header_bytes,) = struct.unpack("<I", data[6:10])
    assert header_bytes <= len('{"codec":"h264"}') + 2  # raw DEFLATE of the compact JSON
    # preamble 14 + per chunk (name length 1 + payload length 4 + CRC 4) + end marker 9
    assert len(data) - len(payload) - len("weights") - header_bytes == 14 + 9 + 9
    _, empty = _write(tmp_path, "empty.bits", Bitstream({}, {}))
    assert len(empty) <= 32


def test_overwrites_existing_file_atomically(tmp_path):
    path, _ = _write(tmp_path)
    write_bitstream(path, Bitstream({"codec": "second"}, {"w": b"1"}))
    assert read_bitstream(path).header == {"codec": "second"}


def test_failed_write_leaves_no_partial_file_and_keeps_old_one(tmp_path):
    path = os.fspath(tmp_path / "set.bits")
    bad = Bitstream({"codec": "x"}, {"weights": b"ok" * 100, "video/0001": [1, 2, 3]})
    with pytest.raises(BitstreamError, match=r"set\.bits: chunk 'video/0001' payload is list"):
        write_bitstream(path, bad)
    assert os.listdir(tmp_path) == []

    write_bitstream(path, _sample())
    with pytest.raises(BitstreamError):
        write_bitstream(path, bad)
    assert os.listdir(tmp_path) == ["set.bits"]
    assert read_bitstream(path).chunks == _sample().chunks


@pytest.mark.parametrize("bitstream, message", [
    (Bitstream({"v": float("nan")}, {}), "not JSON-serialisable"),
    (Bitstream({"v": object()}, {}), "not JSON-serialisable"),
    (Bitstream(["not", "a", "dict"], {}), "header must be a dict"),
    (Bitstream({}, {"": b"x"}), "chunk name ''"),
    (Bitstream({}, {"n" * 300: b"x"}), "UTF-8 bytes"),
    (Bitstream({}, {3: b"x"}), "not a str"),
    ({"header": {}}, "expected a Bitstream"),
])
def test_invalid_content_is_rejected(tmp_path, bitstream, message):
    with pytest.raises(BitstreamError, match=message):
        write_bitstream(tmp_path / "set.bits", bitstream)
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    with pytest.raises(BitstreamError, match="missing.bits: no such file"):
        read_bitstream(tmp_path / "missing.bits")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(BitstreamError, match="directory"):
        read_bitstream(tmp_path)


def test_zero_byte_file(tmp_path):
    with pytest.raises(BitstreamError, match=r"damaged.bits: empty file \(0 bytes\)"):
        read_bitstream(_damaged(tmp_path, b""))


def test_wrong_magic(tmp_path):
    _, data = _write(tmp_path)
    for other in (b"\x1aE\xdf\xa3 matroska", b"PK\x03\x04", b"x", b"TKBX" + data[4:]):
        with pytest.raises(BitstreamError, match="not a bitstream"):
            read_bitstream(_damaged(tmp_path, other))


def test_future_and_unknown_versions(tmp_path):
    _, data = _write(tmp_path)
    future = data[:4] + struct.pack("<H", 7) + data[6:]
    with pytest.raises(BitstreamError, match="format version 7 is newer than"):
        read_bitstream(_damaged(tmp_path, future))
    with pytest.raises(BitstreamError, match="format version 0 is not"):
        read_bitstream(_damaged(tmp_path, data[:4] + b"\x00\x00" + data[6:]))


def test_truncation_at_every_position_is_reported(tmp_path):
    _, data = _write(tmp_path)
    for cut in range(1, len(data)):
        with pytest.raises(BitstreamError, match="truncated at byte|not a bitstream") as caught:
            read_bitstream(_damaged(tmp_path, data[:cut]))
        if cut >= len(MAGIC):
            assert "truncated" in str(caught.value), cut


def test_truncation_inside_a_chunk_names_the_chunk(tmp_path):
    _, data = _write(tmp_path)
    inside_weights = data.index(b"weights") + len(b"weights") + 4 + 100
    expected = rf"truncated at byte {inside_weights} of the file, in chunk 'weights'"
    with pytest.raises(BitstreamError, match=expected):
        read_bitstream(_damaged(tmp_path, data[:inside_weights]))


def test_every_flipped_byte_is_detected(tmp_path):
    _, data = _write(tmp_path)
    for position in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[position] ^= flip
            with pytest.raises(BitstreamError):
                read_bitstream(_damaged(tmp_path, bytes(damaged)))


def test_checksum_errors_name_the_damaged_part(tmp_path):
    _, data = _write(tmp_path)
    header_byte = 14 + 3
    with pytest.raises(BitstreamError, match="checksum mismatch in the header"):
        read_bitstream(_damaged(tmp_path, data[:header_byte] + b"\x00" + data[header_byte + 1:]))
    video_byte = data.index(b"video/0003") + len(b"video/0003") + 4 + 5
    damaged = data[:video_byte] + bytes([data[video_byte] ^ 0x10]) + data[video_byte + 1:]
    with pytest.raises(BitstreamError, match="checksum mismatch in chunk 'video/0003'"):
        read_bitstream(_damaged(tmp_path, damaged))


def test_appended_bytes_are_detected(tmp_path):
    _, data = _write(tmp_path)
    with pytest.raises(BitstreamError, match="end marker"):
        read_bitstream(_damaged(tmp_path, data + b"\x00" * 9))
