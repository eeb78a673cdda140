"""Layouts and tools/prepare_dataset.py: splits, resampling, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import moving_frames
from toolkit.cli import prepare_dataset
from toolkit.data.layouts import LayoutError, class_folder_index, list_index, ucf101_index
from toolkit.data.prepare import resample_indices, resize_frame
from toolkit.data.source import Source, SourceError
from toolkit.data.video import write_video


def test_resample_indices():
    assert resample_indices(25, 25.0, 2.0) == [0, 13]  # instants 0 s and 0.5 s (12.5 rounds up)
    assert resample_indices(79, 25.0, 2.0) == [0, 13, 25, 38, 50, 63, 75]
    assert resample_indices(5, 2.0, 2.0) == [0, 1, 2, 3, 4]
    assert resample_indices(10, 29.97, 2.0) == [0]


def test_resize_crop_keeps_aspect_and_centre():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, 150:170] = 255  # a centred vertical bar
    out = resize_frame(frame, 256, 320, "crop")
    assert out.shape == (256, 320, 3)
    cols = np.nonzero(out[128, :, 0] > 127)[0]
    assert abs((cols.min() + cols.max()) / 2 - 159.5) < 2  # still centred
    assert 19 <= len(cols) <= 24  # scaled by 256/240, not stretched
    assert resize_frame(frame, 256, 320, "stretch").shape == (256, 320, 3)


def make_ucf_tree(tmp_path: Path):
    root, splits = tmp_path / "UCF-101", tmp_path / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_bytes(b"1 Jump\r\n2 Run Fast\r\n".replace(b"Run Fast", b"RunFast"))
    (splits / "trainlist01.txt").write_bytes(b"Jump/v_Jump_g01_c01.avi 1\r\nRunFast/v_RunFast_g01_c01.avi 2\r\n")
    (splits / "testlist01.txt").write_bytes(b"Jump/v_Jump_g02_c01.avi\r\nRunFast/v_RunFast_g09_c01.avi\r\n")
    for i, rel in enumerate(["Jump/v_Jump_g01_c01", "RunFast/v_RunFast_g01_c01", "Jump/v_Jump_g02_c01"]):
        write_video((root / rel).with_suffix(".avi"), moving_frames(10, 24, 32, seed=i), fps=10)
    return root, splits


def test_ucf101_index_reads_crlf_lists(tmp_path):
    root, splits = make_ucf_tree(tmp_path)
    index = ucf101_index(root, splits, split=1)
    assert index.classes == ["Jump", "RunFast"]
    assert [(e.name, e.label, e.split) for e in index.entries] == [
        ("Jump/v_Jump_g01_c01", 0, "train"), ("RunFast/v_RunFast_g01_c01", 1, "train"),
        ("Jump/v_Jump_g02_c01", 0, "test"), ("RunFast/v_RunFast_g09_c01", 1, "test")]
    with pytest.raises(LayoutError, match="split must be 1, 2 or 3"):
        ucf101_index(root, splits, split=4)
    with pytest.raises(LayoutError, match="trainlist02.txt: annotation file not found"):
        ucf101_index(root, splits, split=2)


def test_official_ucf101_split_files(shared_data):
    index = ucf101_index(shared_data / "ucf101_mini" / "UCF-101", shared_data / "ucf101_splits", 1)
    assert len(index.classes) == 101
    assert len(index.split("train")) == 9537 and len(index.split("test")) == 3783
    guitar = [e for e in index.entries if "PlayingGuitar_g16_c02" in e.name]
    assert guitar[0].split == "train" and index.classes[guitar[0].label] == "PlayingGuitar"


def test_class_folders_and_hmdb_split_files(tmp_path):
    for c in ("clap", "wave"):
        for i in range(4):
            write_video(tmp_path / "v" / c / f"{c} {i}!.mp4".replace(".mp4", ".mkv"), moving_frames(2, 8, 8), 2)
    index = class_folder_index(tmp_path / "v")
    assert index.classes == ["clap", "wave"]
    assert sum(e.split == "test" for e in index.entries) == 2
    splits = tmp_path / "splits"
    splits.mkdir()
    for c in ("clap", "wave"):
        (splits / f"{c}_test_split1.txt").write_text(
            f"{c} 0!.mkv 1\n{c} 1!.mkv 2\n{c} 2!.mkv 0\n{c} 3!.mkv 1\n")
    index = class_folder_index(tmp_path / "v", splits, 1)
    assert [e.split for e in index.entries] == ["train", "test", "train"] * 2


def test_list_layout_errors(tmp_path):
    (tmp_path / "train.txt").write_text("a.mkv 0\nb.mkv x\n")
    (tmp_path / "test.txt").write_text("")
    with pytest.raises(LayoutError, match="expected 'relative/path label'"):
        list_index(tmp_path, tmp_path / "train.txt", tmp_path / "test.txt")


def test_prepare_ucf_layout_end_to_end(tmp_path, capsys):
    root, splits = make_ucf_tree(tmp_path)
    (root / "Jump" / "v_Jump_g02_c01.avi").write_bytes(b"\x00" * 100)  # a corrupt video
    out = tmp_path / "data"
    args = ["ucf101", "--root", str(root), "--splits-dir", str(splits), "--out", str(out),
            "--fps", "2", "--size", "16x40", "--workers", "2", "--no-progress"]
    assert prepare_dataset.main(args) == 0
    report = capsys.readouterr()
    assert "failures        1" in report.out and "missing files   1" in report.out
    source = Source.open(out, "raw")
    assert [v.path for v in source.videos] == ["Jump/v_Jump_g01_c01.mkv", "RunFast/v_RunFast_g01_c01.mkv"]
    assert all(v.num_frames == 2 for v in source.videos)  # 10 frames at 10 fps -> 2 fps
    assert source.read_video(source.videos[0]).shape == (2, 16, 40, 3)
    assert "v_Jump_g02_c01.avi" in (source.root / "failures.txt").read_text()
    assert (source.root / "train_list.txt").read_text() == \
        "Jump/v_Jump_g01_c01.mkv 0\nRunFast/v_RunFast_g01_c01.mkv 1\n"
    # resume: finished videos are not rewritten
    mtime = source.video_path(source.videos[0]).stat().st_mtime_ns
    assert prepare_dataset.main(args) == 0
    assert "videos resumed  2" in capsys.readouterr().out
    assert source.video_path(source.videos[0]).stat().st_mtime_ns == mtime


def test_unknown_source_lists_existing(tmp_path):
    root, splits = make_ucf_tree(tmp_path)
    prepare_dataset.main(["ucf101", "--root", str(root), "--splits-dir", str(splits), "--out",
                          str(tmp_path / "d"), "--size", "8x40", "--workers", "1", "--no-progress"])
    with pytest.raises(SourceError, match=r"unknown source 'dnerv_M'.*sources there: raw"):
        Source.open(tmp_path / "d", "dnerv_M")


def test_prepare_real_ucf101_mini_loads_in_mmaction(shared_data, tmp_path):
    out = tmp_path / "ucf"
    assert prepare_dataset.main([
        "ucf101", "--root", str(shared_data / "ucf101_mini" / "UCF-101"), "--splits-dir",
        str(shared_data / "ucf101_splits"), "--out", str(out), "--size", "64x80", "--workers", "2",
        "--no-progress"]) == 0
    source = Source.open(out, "raw")
    manifest = json.loads((source.root / "manifest.json").read_text())
    assert manifest["num_videos"] == 6 and manifest["height"] == 64
    assert len(source.split("train")) == 1 and len(source.split("test")) == 5
    from toolkit.compat import register_mmaction

    register_mmaction()
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmaction"):
        dataset = DATASETS.build(dict(
            type="VideoDataset", ann_file=str(source.list_path("test")),
            data_prefix=dict(video=str(source.root / "videos")),
            pipeline=[dict(type="DecordInit"), dict(type="SampleFrames", clip_len=1, frame_interval=1,
                                                    num_clips=4, test_mode=True),
                      dict(type="DecordDecode"), dict(type="FormatShape", input_format="NCHW"),
                      dict(type="PackActionInputs")]))
        sample = dataset[0]
    assert len(dataset) == 5 and tuple(sample["inputs"].shape) == (4, 3, 64, 80)
