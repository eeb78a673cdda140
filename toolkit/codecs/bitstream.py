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
import math
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
#: Largest header a reader inflates: 16x the header of all of UCF101 (about 1 MB), so
#: that a small compressed header cannot expand into gigabytes.
MAX_HEADER_TEXT_BYTES = 16 * 2**20
#: Fewest bits per decoded pixel a file may claim, counted over its chunks: 500x below
#: the lowest rate this project runs (0.05 bpp), so what a decoder renders is bounded by
#: the size of the file.
MIN_BITS_PER_PIXEL = 1e-4
#: Most pixels of one decoded video (a decoder yields whole videos): 13,000 frames of
#: 320x256, 3 GiB as uint8 RGB.
MAX_VIDEO_PIXELS = 2**30
#: Largest frame side any decoder accepts (H.264 and HEVC levels stop at 8192).
MAX_FRAME_SIDE = 16384
_REWRITE = ("the file is damaged, crafted or was written by another codec: decode it with the "
            "codec that wrote it, or rewrite it")


class BitstreamError(ValueError):
    """A bitstream file cannot be written or read; the message names the file and the fix."""


@dataclass
class Bitstream:
    """Decoded content of a bitstream file."""

    header: dict  # JSON-serialisable
    chunks: dict[str, bytes] = field(default_factory=dict)  # ordered as written
    path: str | None = field(default=None, compare=False)  # the file it was read from


def bitstream_error(bitstream: Bitstream, problem: str, remedy: str = _REWRITE) -> BitstreamError:
    """A BitstreamError naming the file ``bitstream`` was read from (for decoders)."""
    return _error(bitstream.path or "bitstream", problem, remedy)


def _error(path, problem: str, remedy: str) -> BitstreamError:
    return BitstreamError(f"{os.fspath(path)}: {problem}; {remedy}")


class HeaderFields:
    """Typed, bounded reads of a bitstream header, for its decoder.

    Each method returns the checked value or raises one BitstreamError naming the file
    and the field (``where``, e.g. ``videos[2].num_frames``), so a decoder validates the
    whole header before it allocates or renders anything from it.
    """

    def __init__(self, bitstream: Bitstream):
        self.bitstream = bitstream

    def error(self, problem: str) -> BitstreamError:
        return bitstream_error(self.bitstream, problem)

    def _wrong(self, where: str, value, expected: str) -> BitstreamError:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return self.error(f"header field {where} is {shown} ({type(value).__name__}), expected {expected}")

    def codec(self, name: str) -> None:
        """The header names codec ``name`` (checked first: a file of another codec is told so)."""
        header = self.bitstream.header
        codec = header.get("codec") if isinstance(header, dict) else None
        if codec != name:
            raise self.error(f"the file holds codec {repr(codec)[:40]}, this decoder is {name!r}")

    def mapping(self, value, where: str, required=(), optional=()) -> dict:
        """A dict with every ``required`` key and no key outside ``required`` and ``optional``."""
        if not isinstance(value, dict):
            raise self._wrong(where, value, "an object")
        missing = [key for key in required if key not in value]
        if missing:
            raise self.error(f"header field {where} lacks {', '.join(map(repr, missing))}")
        unknown = [key for key in value if key not in required and key not in optional]
        if unknown:
            raise self.error(f"header field {where} has unknown keys "
                             f"{', '.join(repr(key)[:40] for key in unknown[:5])}")
        return value

    def array(self, value, where: str, low: int, high: int) -> list:
        if not isinstance(value, list):
            raise self._wrong(where, value, f"a list of {low} to {high} items")
        if not low <= len(value) <= high:
            raise self.error(f"header field {where} has {len(value)} items, expected {low} to {high}")
        return value

    def integer(self, value, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._wrong(where, value, f"an integer from {low} to {high}")
        return value

    def number(self, value, where: str, low: float, high: float) -> float:
        """A finite int or float within [low, high]."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not low <= value <= high:  # False for NaN; exact for ints of any size
            raise self._wrong(where, value, f"a finite number from {low:g} to {high:g}")
        return value

    def flag(self, value, where: str) -> bool:
        if not isinstance(value, bool):
            raise self._wrong(where, value, "true or false")
        return value

    def choice(self, value, where: str, choices) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self._wrong(where, value, f"one of {', '.join(map(repr, choices))}")
        return value

    def chunks(self, expected: list[str]) -> None:
        """The file holds exactly the chunks ``expected``."""
        missing = [name for name in expected if name not in self.bitstream.chunks]
        if missing:
            raise self.error(f"chunk {missing[0]!r} is missing ({len(missing)} of the "
                             f"{len(expected)} chunks the header implies)")
        unexpected = set(self.bitstream.chunks) - set(expected)
        if unexpected:
            raise self.error(f"chunk {sorted(unexpected)[0]!r} is not one the header implies")

    def decoded_pixels(self, pixels: int, largest_video: int) -> None:
        """What the header says will be decoded is bounded by the bytes of the chunks."""
        coded_bits = 8 * sum(len(chunk) for chunk in self.bitstream.chunks.values())
        if pixels > coded_bits / MIN_BITS_PER_PIXEL:
            raise self.error(f"the header claims {pixels} pixels from {coded_bits // 8} coded bytes, "
                             f"below {MIN_BITS_PER_PIXEL:g} bits per pixel")
        if largest_video > MAX_VIDEO_PIXELS:
            raise self.error(f"the header claims a video of {largest_video} pixels, above the "
                             f"{MAX_VIDEO_PIXELS} a decoder renders")


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


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows a float")
    return value


def parse_json(text: bytes) -> object:
    """Strict JSON: NaN, Infinity and numbers that overflow a float raise ValueError."""
    try:
        return json.loads(text.decode(), parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def inflate(data, limit: int) -> bytes:
    """Raw DEFLATE ``data``; zlib.error when incomplete, over-long or above ``limit`` bytes."""
    decompressor = zlib.decompressobj(-15)
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit:
        raise zlib.error(f"inflates to more than {limit} bytes")
    out += decompressor.flush()
    if not decompressor.eof or decompressor.unused_data or len(out) > limit:
        raise zlib.error("incomplete or over-long DEFLATE stream")
    return out


def _parse_header(path, parser: _Parser, length: int, crc: int) -> dict:
    raw = parser.take(length, "the header")
    if zlib.crc32(raw) != crc:
        raise _error(path, "checksum mismatch in the header", "the file is corrupted: rewrite it")
    try:
        header = parse_json(inflate(raw, MAX_HEADER_TEXT_BYTES))
        if not isinstance(header, dict):
            raise ValueError("not one JSON object")
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
        try:
            name = bytes(name_raw).decode()
        except UnicodeDecodeError:
            raise _error(path, f"chunk name {bytes(name_raw)!r} is not UTF-8",
                         "the file was written by another program: rewrite it") from None
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
    return Bitstream(header=header, chunks=chunks, path=os.fspath(path))
