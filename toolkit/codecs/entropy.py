"""Entropy coding of quantised tensors with constriction's ANS coder.

The probability models are empirical symbol histograms of the data itself, stored as
integer counts. Tensors of one bit width share one histogram, except large tensors
whose own histogram saves more coded bits than its table costs (decided greedily, by
the measured cost: empirical code length plus table bytes). All tensors are coded
into one ANS stream. The payload is self-describing; its byte layout is documented
in ``docs/bitstream.md`` ("Tensor payload").
"""

from __future__ import annotations

import json
import math
import zlib

import constriction
import numpy as np
import torch

from toolkit.codecs.bitstream import inflate, parse_json
from toolkit.codecs.quantize import (QuantizedTensor, check_axis, check_bits, dequantize_state_dict,
                                     quantize_state_dict, symbol_dtype)

PAYLOAD_MAGIC = b"QT"
PAYLOAD_VERSION = 1
_MAX_VARINT_BYTES = 10
_MAX_ELEMENTS = 2**48  # far above any real tensor; bounds what a corrupted description can claim
_MAX_DESCRIPTION_BYTES = 16 * 2**20  # inflated description; about 100 bytes per tensor
_MAX_DIMENSIONS = 32
#: Most symbols a payload may declare per byte it holds (at least 1/8 bit per symbol; real
#: weights take 4 to 8 bits), and histogram entries beyond a free 2**17: so the memory a
#: crafted payload makes the decoder allocate is bounded by its size.
MAX_SYMBOLS_PER_BYTE = 64
_FREE_TABLE_ENTRIES = 2**17


# --- byte-level helpers -------------------------------------------------------------------------

def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more follows."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no zlib header/checksum
    return compressor.compress(data) + compressor.flush()


def _inflate(data: bytes) -> bytes:
    return inflate(data, _MAX_DESCRIPTION_BYTES)


class _Reader:
    """Sequential reader over the payload; every shortfall is a ValueError naming the field."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, size: int, what: str) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise ValueError(f"tensor payload truncated in {what}: needs {size} bytes at offset "
                             f"{self.pos}, {len(self.data) - self.pos} left")
        self.pos += size
        return bytes(self.data[self.pos - size:self.pos])

    def varint(self, what: str) -> int:
        value = 0
        for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise ValueError(f"tensor payload has an over-long varint in {what} at offset {self.pos}")

    def rest(self) -> bytes:
        out = bytes(self.data[self.pos:])
        self.pos = len(self.data)
        return out


# --- histogram tables ---------------------------------------------------------------------------

def _encode_table(counts: np.ndarray) -> bytes:
    """Counts as varints; a run of zeros is written as 0 followed by varint(run length - 1)."""
    out = bytearray()
    nonzero = np.flatnonzero(counts)
    position = 0
    for index in nonzero.tolist():
        if index > position:
            out += b"\x00" + _varint(index - position - 1)
        out += _varint(int(counts[index]))
        position = index + 1
    if position < len(counts):
        out += b"\x00" + _varint(len(counts) - position - 1)
    return bytes(out)


def _decode_table(reader: _Reader, size: int, what: str) -> np.ndarray:
    counts = np.zeros(size, dtype=np.int64)
    position = 0
    while position < size:
        value = reader.varint(what)
        if value > _MAX_ELEMENTS:
            raise ValueError(f"tensor payload: {what} holds an implausible count {value}; "
                             f"the payload is corrupted")
        if value:
            counts[position] = value
            position += 1
        else:
            position += reader.varint(what) + 1
    if position != size:
        raise ValueError(f"tensor payload: {what} covers {position} symbols, expected {size}")
    return counts


def _model_cost_bits(counts: np.ndarray) -> float:
    """Empirical code length of the counted symbols under their own histogram, plus the table."""
    total = counts.sum()
    if total == 0:
        return 0.0
    present = counts[counts > 0].astype(np.float64)
    return float((present * np.log2(total / present)).sum()) + 8.0 * len(_encode_table(counts))


def _categorical(counts: np.ndarray):
    """The probability model both sides build from the same integer counts (deterministic)."""
    return constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)


def _histogram(q: QuantizedTensor) -> np.ndarray:
    return np.bincount(q.symbols.ravel(), minlength=2**q.bits).astype(np.int64)


def _choose_models(tensors: dict[str, QuantizedTensor]
                   ) -> tuple[list[tuple[int, np.ndarray]], dict[str, int]]:
    """Group tensors into histogram models: one shared per bit width plus own ones where cheaper.

    Returns the models as (bits, counts) and the model index of every tensor.
    """
    histograms = {name: _histogram(q) for name, q in tensors.items()}
    groups: list[tuple[int, list[str]]] = []  # (bits, tensor names) per model
    for bits in sorted({q.bits for q in tensors.values()}):
        names = sorted((name for name, q in tensors.items() if q.bits == bits),
                       key=lambda name: -tensors[name].symbols.size)
        shared_counts = sum(histograms[name] for name in names)
        shared, own = [], []
        for name in names:  # largest first: only large tensors can pay for their own table
            rest = shared_counts - histograms[name]
            separate = _model_cost_bits(rest) + _model_cost_bits(histograms[name])
            if separate < _model_cost_bits(shared_counts):
                shared_counts = rest
                own.append(name)
            else:
                shared.append(name)
        groups += ([(bits, shared)] if shared else []) + [(bits, [name]) for name in own]
    models, assignment = [], {}
    for index, (bits, names) in enumerate(groups):
        models.append((bits, sum(histograms[name] for name in names)))
        assignment.update({name: index for name in names})
    return models, assignment


# --- payload ------------------------------------------------------------------------------------

def encode_tensors(tensors: dict[str, QuantizedTensor]) -> bytes:
    """Entropy-code quantised tensors into one self-describing payload (see docs/bitstream.md)."""
    if not isinstance(tensors, dict):
        raise ValueError(f"encode_tensors needs a dict of name -> QuantizedTensor, got "
                         f"{type(tensors).__name__}")
    for name, q in tensors.items():
        if not isinstance(name, str) or not isinstance(q, QuantizedTensor):
            raise ValueError(f"encode_tensors: entry {name!r} must map a str name to a "
                             f"QuantizedTensor (from quantize_tensor), got {type(q).__name__}")
        q.validate()
    models, assignment = _choose_models(tensors)
    meta = {
        "tensors": [{"name": name, "shape": list(q.symbols.shape), "axis": q.axis, "bits": q.bits,
                     "model": assignment[name]} for name, q in tensors.items()],
        "models": [{"bits": bits} for bits, _ in models],
    }
    meta_bytes = _deflate(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode())
    out = bytearray(PAYLOAD_MAGIC + bytes([PAYLOAD_VERSION]) + _varint(len(meta_bytes)) + meta_bytes)
    for q in tensors.values():
        out += q.scale.astype("<f4").tobytes() + q.offset.astype("<f4").tobytes()
    for _, counts in models:
        out += _encode_table(counts)

    coder = constriction.stream.stack.AnsCoder()
    categoricals = [_categorical(counts) if counts.sum() else None for _, counts in models]
    for name in reversed(list(tensors)):  # ANS is a stack: push in reverse, pop in order
        if tensors[name].symbols.size:
            coder.encode_reverse(tensors[name].symbols.ravel().astype(np.int32),
                                 categoricals[assignment[name]])
    # The last word is never zero, so only its own zero high bytes can be dropped here.
    out += coder.get_compressed().astype("<u4").tobytes().rstrip(b"\x00")
    return bytes(out)


def _parse_meta(meta, payload_bytes: int, expected: dict[str, tuple[int, ...]] | None
                ) -> tuple[list[dict], list[int]]:
    """Check the JSON description; returns the tensor entries and the bit width of each model.

    Everything the decoder will allocate is bounded here, before it is allocated: the
    symbols by :data:`MAX_SYMBOLS_PER_BYTE` and, when given, by the ``expected`` shapes.
    """
    if not isinstance(meta, dict) or not isinstance(meta.get("tensors"), list) \
            or not isinstance(meta.get("models"), list):
        raise ValueError("tensor payload description lacks 'tensors' or 'models' lists")
    model_bits = [check_bits(model.get("bits") if isinstance(model, dict) else None)
                  for model in meta["models"]]
    names, used_models, symbols = set(), set(), 0
    for entry in meta["tensors"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"tensor payload: malformed tensor entry {str(entry)[:60]}")
        name = entry["name"]
        shape = entry.get("shape")
        if name in names:
            raise ValueError(f"tensor payload: tensor {name[:60]!r} appears twice")
        names.add(name)
        if not isinstance(shape, list) or len(shape) > _MAX_DIMENSIONS or not all(
                isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape) \
                or math.prod(shape) > _MAX_ELEMENTS:
            raise ValueError(f"tensor payload: tensor {name[:60]!r} has a malformed shape "
                             f"{str(shape)[:60]}")
        if expected is not None and tuple(shape) != expected.get(name, tuple(shape)):
            raise ValueError(f"tensor payload: tensor {name[:60]!r} has shape {tuple(shape)}, the "
                             f"network's is {expected[name]}")
        symbols += math.prod(shape)
        entry["bits"] = check_bits(entry.get("bits"))
        entry["axis"] = check_axis(entry.get("axis"), len(shape))
        model = entry.get("model")
        if not isinstance(model, int) or not 0 <= model < len(model_bits) \
                or model_bits[model] != entry["bits"]:
            raise ValueError(f"tensor payload: tensor {name[:60]!r} refers to model {model!r}, which "
                             f"does not exist or has another bit width")
        used_models.add(model)
    if expected is not None and names != set(expected):
        extra, missing = sorted(names - set(expected)), sorted(set(expected) - names)
        raise ValueError(f"tensor payload: tensor {extra[0][:60]!r} is not in the network" if extra
                         else f"tensor payload: the network's tensor {missing[0]!r} is missing")
    if len(used_models) != len(model_bits):
        raise ValueError("tensor payload: a histogram model is used by no tensor")
    if symbols > MAX_SYMBOLS_PER_BYTE * payload_bytes:
        raise ValueError(f"tensor payload declares {symbols} symbols in {payload_bytes} bytes, "
                         f"more than {MAX_SYMBOLS_PER_BYTE} per byte")
    table_entries = sum(2**bits for bits in model_bits)
    if table_entries > _FREE_TABLE_ENTRIES + MAX_SYMBOLS_PER_BYTE * payload_bytes:
        raise ValueError(f"tensor payload declares histograms of {table_entries} entries in "
                         f"{payload_bytes} bytes")
    return meta["tensors"], model_bits


def decode_tensors(data: bytes, expected: dict[str, tuple[int, ...]] | None = None
                   ) -> dict[str, QuantizedTensor]:
    """Inverse of :func:`encode_tensors`; raises ValueError with the reason on malformed data.

    ``expected`` (tensor name -> shape): the tensors the payload must hold, checked before
    any symbol is decoded.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"decode_tensors needs bytes, got {type(data).__name__}")
    reader = _Reader(data)
    if reader.take(len(PAYLOAD_MAGIC), "magic") != PAYLOAD_MAGIC:
        raise ValueError(f"not a tensor payload (does not start with {PAYLOAD_MAGIC!r}); pass the "
                         f"bytes written by encode_tensors")
    version = reader.take(1, "version")[0]
    if version != PAYLOAD_VERSION:
        raise ValueError(f"tensor payload version {version} is not supported (this toolkit reads "
                         f"version {PAYLOAD_VERSION}); use the toolkit version that wrote it")
    meta_bytes = reader.take(reader.varint("description length"), "description")
    try:
        meta = parse_json(_inflate(meta_bytes))
    except (zlib.error, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"tensor payload description is corrupted ({error})") from None
    entries, model_bits = _parse_meta(meta, len(data), expected)

    params = []
    for entry in entries:
        channels = 1 if entry["axis"] is None else entry["shape"][entry["axis"]]
        what = f"scales of {entry['name']!r}"
        scale = np.frombuffer(reader.take(4 * channels, what), dtype="<f4").astype(np.float32)
        offset = np.frombuffer(reader.take(4 * channels, what), dtype="<f4").astype(np.float32)
        params.append((scale, offset))
    tables = [_decode_table(reader, 2**bits, f"histogram {index}") for index, bits in enumerate(model_bits)]
    for index, counts in enumerate(tables):
        expected = sum(math.prod(e["shape"]) for e in entries if e["model"] == index)
        if int(counts.sum()) != expected:
            raise ValueError(f"tensor payload: histogram {index} counts {int(counts.sum())} symbols "
                             f"but its tensors hold {expected}; the payload is corrupted")

    coded = reader.rest()
    coded += b"\x00" * (-len(coded) % 4)
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(coded, dtype="<u4").astype(np.uint32))
    except ValueError as error:
        raise ValueError(f"tensor payload: coded symbols are corrupted ({error})") from None
    categoricals = [_categorical(counts) if counts.sum() else None for counts in tables]
    decoded_counts = [np.zeros_like(counts) for counts in tables]
    tensors = {}
    for entry, (scale, offset) in zip(entries, params):
        size = math.prod(entry["shape"])
        flat = coder.decode(categoricals[entry["model"]], size) if size else np.zeros(0, np.int32)
        decoded_counts[entry["model"]] += np.bincount(flat, minlength=2**entry["bits"])
        tensors[entry["name"]] = QuantizedTensor(
            symbols=flat.astype(symbol_dtype(entry["bits"])).reshape(entry["shape"]),
            scale=scale, offset=offset, axis=entry["axis"], bits=entry["bits"])
    if not coder.is_empty() or any(not np.array_equal(a, b) for a, b in zip(decoded_counts, tables)):
        raise ValueError("tensor payload: coded symbols do not match their histograms; "
                         "the payload is corrupted")
    return tensors


def pack_state_dict(state_dict: dict[str, torch.Tensor],
                    bits: int = 8) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Quantise and entropy-code a state dict.

    Returns the payload and the dequantised state dict that :func:`unpack_state_dict`
    will rebuild bit for bit: load it into the model before rendering at encode time.
    """
    quantized = quantize_state_dict(state_dict, bits)
    return encode_tensors(quantized), dequantize_state_dict(quantized)


def unpack_state_dict(data: bytes, expected: dict[str, tuple[int, ...]] | None = None
                      ) -> dict[str, torch.Tensor]:
    """Decode a :func:`pack_state_dict` payload into float32 CPU tensors (``expected``: as
    for :func:`decode_tensors`)."""
    return dequantize_state_dict(decode_tensors(data, expected))
