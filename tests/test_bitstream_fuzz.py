"""Fuzz test of the decoders: mutated files of every codec give BitstreamError or decode.

Small valid files of every codec (nerv, dnerv, ffnerv, h264, hevc; see
``bitstream_samples``) are mutated at random: bit flips, byte insertions and deletions,
truncations and random overwrites of chunk payloads and of the header text; header field
edits (huge, negative and fractional numbers, NaN and infinity, wrong types, deleted and
unknown keys, codec names swapped); chunk names changed (also to non-UTF-8), chunks
dropped, duplicated or reordered; a file given to another codec's decoder. Lengths and
checksums are recomputed so that the parsers are reached (a few cases damage the raw
file instead). Every case is decoded in a separate process (``bitstream_decode_worker``)
with a timeout, so the test asserts: no crash (e.g. SIGABRT in a C extension), no hang,
no exception other than BitstreamError, and every BitstreamError is one line.

The run is seeded and bounded in time: by default about 20 s of cases. Run it longer,
or with another seed, through environment variables::

    FUZZ_SECONDS=600 FUZZ_SEED=7 python -m pytest -q tests/test_bitstream_fuzz.py

``FUZZ_CASES`` caps the number of cases (``FUZZ_CASES=500`` with a large ``FUZZ_SECONDS``
runs exactly 500, the same ones on every machine); ``FUZZ_CASE_TIMEOUT`` (s, default 20)
is how long one decode may take. A failing case is written to ``fuzz_failures/`` under
pytest's temporary directory and named in the failure message, with its seed and number.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time

import pytest

import bitstream_samples as samples
from bitstream_decode_worker import DecodeWorker
from toolkit.codecs.bitstream import read_bitstream

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", 20))
FUZZ_CASES = int(os.environ.get("FUZZ_CASES", 0)) or None
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", 0))
CASE_TIMEOUT_S = float(os.environ.get("FUZZ_CASE_TIMEOUT", 20))

# The suite's per-test timeout (pyproject) would otherwise end a longer run: allow the
# requested time, the last case and building the samples.
pytestmark = pytest.mark.timeout(FUZZ_SECONDS + CASE_TIMEOUT_S + 300)

# Replacement values for header fields. Values that are valid but only large (say 10**5
# frames) are left out: the decoder rightly renders them, which takes long on a CPU.
ODD_VALUES = [2**31, 2**32, 2**63, 2**64, 10**30, 10**400, -1, -2**31, 0, 1e8, 0.5, -0.0,
              math.nan, math.inf, -math.inf, 1e308, "", "x" * 300, "nerv", "\udcff", None, True,
              False, [], [1, 2], {}, {"type": "NeRV"}, [[[[]]]]]


def _header_slots(value, path=()):
    """Every (container, key, path) of a JSON value, depth first."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield value, key, path + (key,)
        yield from _header_slots(child, path + (key,))


def _mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    kind = rng.choice(["flip", "flips", "insert", "delete", "truncate", "overwrite", "duplicate"])
    at = rng.randrange(len(data) + 1)
    if kind == "flip" and data:
        data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
    elif kind == "flips":
        for _ in range(rng.randint(2, 16)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        data[at:at] = rng.randbytes(rng.choice([1, 2, 4, 16, 256]))
    elif kind == "delete":
        del data[at:at + rng.choice([1, 2, 4, 16, 256])]
    elif kind == "truncate":
        del data[at:]
    elif kind == "overwrite":
        size = rng.choice([1, 4, 8, 64])
        data[at:at + size] = rng.randbytes(size)
    else:
        size = rng.choice([4, 32, 512])
        data[at:at] = data[max(0, at - size):at]
    return bytes(data), f"{kind}@{at}"


def _mutate_header(rng: random.Random, header: dict, codec: str) -> str:
    slots = list(_header_slots(header))
    if not slots:
        return "empty header"
    container, key, path = rng.choice(slots)
    kind = rng.choice(["value", "value", "value", "nudge", "delete", "add", "codec"])
    if kind == "codec":
        header["codec"] = rng.choice([c for c in samples.CODECS if c != codec] + ["NeRV", 7])
        return f"codec={header['codec']!r}"
    if kind == "add" and isinstance(container, dict):
        container[rng.choice(["bogus", "type", "num_frames", "clip_len"])] = rng.choice(ODD_VALUES)
        return f"add key under {path[:-1]}"
    if kind == "delete":
        if isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
        return f"delete {path}"
    current = container[key]
    if kind == "nudge" and isinstance(current, (int, float)) and not isinstance(current, bool):
        container[key] = rng.choice([current + 1, current - 1, current * 2, -current, type(current)(0)])
    else:
        container[key] = rng.choice(ODD_VALUES)
    return f"{path}={container[key]!r}"[:120]


def _mutate_chunks(rng: random.Random, chunks: list) -> str:
    kind = rng.choice(["payload", "payload", "payload", "rename", "drop", "duplicate", "reorder", "extra"])
    if not chunks:
        kind = "extra"
    index = rng.randrange(max(len(chunks), 1))
    name, payload = chunks[index] if chunks else ("", b"")
    if kind == "payload":
        chunks[index] = (name, _mutate_bytes(rng, payload)[0])
        return f"payload of {name!r}"
    if kind == "rename":
        new = rng.choice([b"\xff\xfe", b"weights/00001", b"video/00009", b"keyframes/00000",
                          bytes(name.encode() if isinstance(name, str) else name) + b"\x00",
                          rng.randbytes(rng.randint(1, 8))])
        chunks[index] = (new, payload)
        return f"rename {name!r} -> {new!r}"
    if kind == "drop":
        chunks.pop(index)
        return f"drop {name}"
    if kind == "duplicate":
        chunks.append((name, payload))
        return f"duplicate {name}"
    if kind == "reorder":
        rng.shuffle(chunks)
        return "reorder"
    chunks.append(("extra", rng.randbytes(16)))
    return "extra chunk"


def make_case(rng: random.Random, codec: str, original) -> tuple[bytes, str, list[str]]:
    """A mutated file of ``codec``: (bytes, the decoder's codec, what was done)."""
    header = json.loads(samples.header_text(original.header))  # a deep copy
    chunks = [(name, bytes(payload)) for name, payload in original.chunks.items()]
    done, text = [], None
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        target = rng.random()
        if target < 0.45:
            done.append(_mutate_chunks(rng, chunks))
        elif target < 0.9:
            done.append(_mutate_header(rng, header, codec))
        else:
            text, what = _mutate_bytes(rng, samples.header_text(header))
            done.append(f"header text {what}")
    data = samples.container(text if text is not None else samples.header_text(header), chunks)
    if rng.random() < 0.05:
        data, what = _mutate_bytes(rng, data)  # checksums not recomputed: the container parser
        done.append(f"raw file {what}")
    reader = codec
    if rng.random() < 0.1:
        reader = rng.choice(samples.CODECS)
        done.append(f"decoded as {reader}")
    return data, reader, done


def test_mutated_files_of_every_codec_give_bitstream_error_or_decode(tmp_path):
    sample_paths = samples.write_samples(tmp_path)
    originals = {codec: read_bitstream(path) for codec, path in sample_paths.items()}
    failures_dir = tmp_path / "fuzz_failures"
    outcomes = {codec: {} for codec in samples.CODECS}
    failures = []
    deadline = time.monotonic() + FUZZ_SECONDS
    case = 0
    with DecodeWorker() as worker:
        while time.monotonic() < deadline and (FUZZ_CASES is None or case < FUZZ_CASES):
            codec = samples.CODECS[case % len(samples.CODECS)]
            rng = random.Random(f"{FUZZ_SEED}/{case}")
            data, reader, done = make_case(rng, codec, originals[codec])
            path = tmp_path / "case.bits"
            path.write_bytes(data)
            outcome, message = worker.decode(reader, path, CASE_TIMEOUT_S)
            outcomes[codec][outcome] = outcomes[codec].get(outcome, 0) + 1
            if outcome not in ("ok", "BitstreamError") or "\n" in message:
                failures_dir.mkdir(exist_ok=True)
                kept = failures_dir / f"seed{FUZZ_SEED}_case{case}_{codec}.bits"
                shutil.copyfile(path, kept)
                failures.append(f"seed {FUZZ_SEED} case {case} ({codec} file decoded as {reader}; "
                                f"{'; '.join(done)}) -> {outcome}: {message.strip()[-2000:]}\n  kept: {kept}")
            case += 1
    print(f"fuzz: {case} cases in {FUZZ_SECONDS:g} s (seed {FUZZ_SEED}): {outcomes}")
    assert not failures, f"{len(failures)} of {case} cases failed:\n" + "\n".join(failures[:10])
    for codec, counts in outcomes.items():  # every codec was fuzzed and its decoder refused something
        assert counts.get("BitstreamError", 0) > 0, (codec, counts)
