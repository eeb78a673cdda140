"""The one container file format for every codec's compressed set.

A file holds a JSON header (codec, configuration, video list, quantisation
parameters ...) and named binary chunks (``"weights"``, ``"keyframes"``,
``"video/0003"`` ...). Every part is length-prefixed and CRC32-checked and the file
ends with its own total length, so truncation and corruption are always reported as
a :class:`BitstreamError` naming the file and the part. The byte layout is documented
in ``docs/bitstream.md``; bpp is computed from the size of this file.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"TKBS"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<4sHII")  # magic, version, header length, header CRC32
_CHUNK_LENGTH = struct.Struct("<I")
_CRC = struct.Struct("<I")
_TOTAL_LENGTH = struct.Struct("<Q")
_END_TAG = b"\x00"  # a chunk name length of 0 marks the end
_MAX_NAME_BYTES = 255
_MAX_CHUNK_BYTES = 2**32 - 1


class BitstreamError(ValueError):
    """A bitstream file cannot be written or read; the message names the file and the fix."""


@dataclass
class Bitstream:
    """Decoded content of a bitstream file."""

    header: dict  # JSON-serialisable
    chunks: dict[str, bytes] = field(default_factory=dict)  # ordered as written


def _error(path, problem: str, remedy: str) -> BitstreamError:
    return BitstreamError(f"{os.fspath(path)}: {problem}; {remedy}")


def _encode_header(path, header) -> bytes:
    if not isinstance(header, dict):
        raise _error(path, f"header must be a dict, got {type(header).__name__}",
                     "pass the codec description as a dict")
    try:
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise _error(path, f"header is not JSON-serialisable ({error})",
                     "use only str keys and str/int/float/bool/None/list/dict values, no NaN") from None
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE; the CRC guards it
    return compressor.compress(text.encode()) + compressor.flush()


def _encode_chunk_start(path, name, payload) -> bytes:
    """Name length, name and payload length of one chunk, after checking name and payload."""
    if not isinstance(name, str):
        raise _error(path, f"chunk name {name!r} is not a str", "name chunks with strings")
    name_bytes = name.encode()
    if not 1 <= len(name_bytes) <= _MAX_NAME_BYTES:
        raise _error(path, f"chunk name {name!r} is {len(name_bytes)} bytes long",
                     f"use 1 to {_MAX_NAME_BYTES} UTF-8 bytes")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise _error(path, f"chunk {name!r} payload is {type(payload).__name__}, not bytes",
                     "serialise it to bytes first")
    if memoryview(payload).nbytes > _MAX_CHUNK_BYTES:
        raise _error(path, f"chunk {name!r} is larger than 4 GiB", "split it into several chunks")
    return bytes([len(name_bytes)]) + name_bytes + _CHUNK_LENGTH.pack(memoryview(payload).nbytes)


def write_bitstream(path, bitstream: Bitstream) -> int:
    """Write ``bitstream`` to ``path`` atomically; returns the number of bytes written.

    The file is written to ``<path>.tmp-<pid>``, flushed to disk and renamed over
    ``path``, so ``path`` never holds a partial file. On failure the temporary file is
    removed; invalid content raises BitstreamError, I/O failures their OSError.
    """
    if not isinstance(bitstream, Bitstream):
        raise _error(path, f"expected a Bitstream, got {type(bitstream).__name__}",
                     "wrap the header and chunks in toolkit.codecs.bitstream.Bitstream")
    if not isinstance(bitstream.chunks, dict):
        raise _error(path, f"chunks must be a dict of name -> bytes, got "
                     f"{type(bitstream.chunks).__name__}", "pass the chunks as a dict")
    header = _encode_header(path, bitstream.header)
    temporary = f"{os.fspath(path)}.tmp-{os.getpid()}"
    written = 0
    try:
        with open(temporary, "wb") as file:
            written += file.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header), zlib.crc32(header)))
            written += file.write(header)
            for name, payload in bitstream.chunks.items():
                start = _encode_chunk_start(path, name, payload)
                written += file.write(start) + file.write(payload)
                written += file.write(_CRC.pack(zlib.crc32(payload, zlib.crc32(start))))
            written += file.write(_END_TAG)
            written += file.write(_TOTAL_LENGTH.pack(written + _TOTAL_LENGTH.size))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(os.path.dirname(os.path.abspath(path)))
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return written


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows opening directories (POSIX)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class _Parser:
    """Walks the file bytes; every shortfall is a BitstreamError saying where the file ends."""

    def __init__(self, path, data: bytes):
        self.path = path
        self.data = memoryview(data)
        self.pos = 0

    def take(self, size: int, part: str) -> memoryview:
        available = len(self.data) - self.pos
        if size > available:
            raise _error(self.path, f"truncated at byte {len(self.data)} of the file, in {part} "
                         f"(needs {size} bytes at byte {self.pos}, {available} left)",
                         "the write was interrupted or the file was cut or corrupted: rewrite it")
        self.pos += size
        return self.data[self.pos - size:self.pos]


def _read_file(path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise _error(path, "no such file", "check the path or run the step that writes it") from None
    except IsADirectoryError:
        raise _error(path, "is a directory, not a bitstream file", "pass the .bits file") from None
    except OSError as error:
        raise _error(path, f"cannot be read ({error.strerror})", "check its permissions") from None


def _parse_preamble(path, parser: _Parser) -> tuple[int, int]:
    data = parser.data
    if len(data) == 0:
        raise _error(path, "empty file (0 bytes)",
                     "the write was interrupted or this is not a bitstream: rewrite it")
    if bytes(data[:len(MAGIC)]) != MAGIC[:len(data)]:  # a proper prefix of MAGIC is a truncation
        raise _error(path, f"not a bitstream (starts with {bytes(data[:len(MAGIC)])!r}, "
                     f"expected {MAGIC!r})", "pass a file written by write_bitstream")
    magic, version, header_length, header_crc = _PREAMBLE.unpack(parser.take(_PREAMBLE.size, "the preamble"))
    if version != FORMAT_VERSION:
        newer = "newer than" if version > FORMAT_VERSION else "not"
        raise _error(path, f"format version {version} is {newer} the version this toolkit reads "
                     f"({FORMAT_VERSION})", "read it with the toolkit version that wrote it")
    return header_length, header_crc


def _parse_header(path, parser: _Parser, length: int, crc: int) -> dict:
    raw = parser.take(length, "the header")
    if zlib.crc32(raw) != crc:
        raise _error(path, "checksum mismatch in the header", "the file is corrupted: rewrite it")
    try:
        decompressor = zlib.decompressobj(-15)
        text = decompressor.decompress(raw) + decompressor.flush()
        header = json.loads(text.decode())
        if not decompressor.eof or decompressor.unused_data or not isinstance(header, dict):
            raise ValueError("not one complete JSON object")
    except (zlib.error, UnicodeDecodeError, ValueError) as error:
        raise _error(path, f"header is malformed ({error})",
                     "the file was written by another program: rewrite it") from None
    return header


def _parse_chunks(path, parser: _Parser) -> dict[str, bytes]:
    chunks = {}
    while True:
        start_pos = parser.pos
        name_length = parser.take(1, f"the chunk after {len(chunks)} chunks")[0]
        if name_length == 0:
            return chunks
        name_raw = parser.take(name_length, f"the name of chunk {len(chunks)}")
        shown = bytes(name_raw).decode(errors="replace")
        (payload_length,) = _CHUNK_LENGTH.unpack(parser.take(_CHUNK_LENGTH.size, f"chunk {shown!r}"))
        payload = parser.take(payload_length, f"chunk {shown!r}")
        (crc,) = _CRC.unpack(parser.take(_CRC.size, f"the checksum of chunk {shown!r}"))
        if zlib.crc32(parser.data[start_pos:parser.pos - _CRC.size]) != crc:
            raise _error(path, f"checksum mismatch in chunk {shown!r} (bytes {start_pos} to {parser.pos})",
                         "the file is corrupted: rewrite it")
        name = bytes(name_raw).decode()  # valid UTF-8: the CRC matched what write_bitstream wrote
        if name in chunks:
            raise _error(path, f"chunk {name!r} appears twice", "the file is corrupted: rewrite it")
        chunks[name] = bytes(payload)


def read_bitstream(path) -> Bitstream:
    """Read and fully validate a bitstream file; every problem raises BitstreamError."""
    parser = _Parser(path, _read_file(path))
    header_length, header_crc = _parse_preamble(path, parser)
    header = _parse_header(path, parser, header_length, header_crc)
    chunks = _parse_chunks(path, parser)
    (total_length,) = _TOTAL_LENGTH.unpack(parser.take(_TOTAL_LENGTH.size, "the end marker"))
    if total_length != len(parser.data) or parser.pos != len(parser.data):
        raise _error(path, f"the end marker records {total_length} bytes but the file has "
                     f"{len(parser.data)} (end marker at byte {parser.pos - _TOTAL_LENGTH.size - 1})",
                     "the file is corrupted or has bytes appended: rewrite it")
    return Bitstream(header=header, chunks=chunks)
