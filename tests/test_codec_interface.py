"""The codec interface and its layering: every codec is a Codec; codecs import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from toolkit.codecs.base import Codec
from toolkit.codecs.inr.keyframes import keyframes_by_index, load_keyframes, save_keyframes
from toolkit.engine.config import build_codec

CODECS_DIR = Path(__file__).resolve().parents[1] / "toolkit" / "codecs"


@pytest.mark.parametrize("name", ["nerv", "dnerv", "ffnerv", "h264", "hevc"])
def test_every_codec_is_a_codec(name):
    codec = build_codec(dict(type=name))
    assert isinstance(codec, Codec) and codec.name == name
    assert not getattr(type(codec), "__abstractmethods__", None)


def test_classical_codecs_prepare_and_fit_nothing(tmp_path):
    codec = build_codec(dict(type="h264"))
    assert codec.cached_files == () and not codec.per_video and not codec.measures_decode_throughput
    assert codec.prepare(None, [0], 1000.0, tmp_path) == {}
    assert codec.preparation(tmp_path, 1000.0, {}).weight_bits == 1000.0
    assert codec.fit_jobs(None, [0], 1000.0) == []
    assert list(tmp_path.iterdir()) == []


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_codecs_import_nothing_from_engine_or_tasks():
    """Work-dir I/O, distributed barriers and fitting live in the stages, not in a codec."""
    offending = {f"{path.relative_to(CODECS_DIR)}: {name}"
                 for path in CODECS_DIR.rglob("*.py") for name in _imports(path)
                 if name.startswith(("toolkit.engine", "toolkit.tasks", "mmengine.dist"))}
    assert not offending


def test_stored_keyframes_round_trip_and_are_checked_against_the_clip_plan(tmp_path):
    path = tmp_path / "keyframes.npz"
    first = np.arange(3 * 8 * 8 * 3, dtype=np.uint8).reshape(3, 8, 8, 3)   # 9 frames, clips of 4
    second = np.ones((2, 8, 8, 3), np.uint8)                              # 5 frames, clips of 4
    save_keyframes(path, [first, second])
    loaded = load_keyframes(path)
    assert [a.shape[0] for a in loaded] == [3, 2] and np.array_equal(loaded[0], first)
    maps = keyframes_by_index(path, [9, 5], clip_len=4)
    assert sorted(maps[0]) == [0, 4, 8] and sorted(maps[1]) == [0, 4]
    with pytest.raises(ValueError, match="3 keyframes for a 10-frame video, expected 4"):
        keyframes_by_index(path, [10, 5], clip_len=4)
    with pytest.raises(ValueError, match="keyframes of 2 videos, expected 1"):
        keyframes_by_index(path, [9], clip_len=4)
