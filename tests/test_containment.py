"""Containment and names: nothing from a list, split file, manifest or option writes outside
its root; leakage, names mmaction2 cannot list and unwritable directories are one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import one_line_error

from conftest import moving_frames
from toolkit.cli import compress_dataset, inpaint_eval, prepare_dataset, train_tsm
from toolkit.data.layouts import LayoutError, list_index, ucf101_index
from toolkit.data.source import Source, SourceError, SourceWriter, VideoRecord
from toolkit.data.video import write_video
from toolkit.paths import PathError, path_under, relative_path


H, W = 16, 40




def list_dataset(tmp_path: Path, train: str, test: str,
                 videos=("a/v0", "a/v1", "b/v2", "b/v3")) -> Path:
    root = tmp_path / "videos"
    for i, name in enumerate(videos):
        write_video(root / f"{name}.mkv", moving_frames(4, H, W, seed=i), fps=2)
    (root / "train.txt").write_text(train)
    (root / "test.txt").write_text(test)
    return root


def prepare(root: Path, out: Path, *extra: str) -> int:
    return prepare_dataset.main(["list", "--root", str(root), "--out", str(out), "--size",
                                 f"{H}x{W}", "--fps", "2", "--workers", "1", "--no-progress",
                                 *extra])


@pytest.fixture
def victim(tmp_path) -> Path:
    """A video outside every root, which nothing may overwrite."""
    path = tmp_path / "outside" / "victim.mkv"
    write_video(path, moving_frames(4, H, W, seed=9), fps=2)
    return path


def test_relative_path_rules(tmp_path):
    assert relative_path("a/./b.mkv", "x").as_posix() == "a/b.mkv"
    for bad in ("/etc/passwd", "a/../../b", "..", "", "\\\\server\\x", "a\\..\\b"):
        with pytest.raises(PathError, match="^list line 7: "):
            relative_path(bad, "list line 7")
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "link")
    with pytest.raises(PathError, match="through a symbolic link"):
        path_under(tmp_path / "root", "link/x.mkv", "entry")
    assert path_under(tmp_path / "root", "a/x.mkv", "entry") == tmp_path / "root" / "a" / "x.mkv"


def test_absolute_list_path_is_refused_and_nothing_outside_is_written(tmp_path, victim, capsys):
    before = victim.read_bytes()
    root = list_dataset(tmp_path, f"a/v0.mkv 0\n{victim} 0\n", "b/v2.mkv 1\n")
    assert prepare(root, tmp_path / "out") == 2
    one_line_error(capsys, f"{root / 'train.txt'} line 2", str(victim), "absolute")
    assert victim.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_dotdot_list_path_is_refused(tmp_path, victim, capsys):
    root = list_dataset(tmp_path, "a/v0.mkv 0\n", "\n\na/../../outside/victim.mkv 1\n")
    assert prepare(root, tmp_path / "out") == 2
    one_line_error(capsys, f"{root / 'test.txt'} line 3", "'..'")
    assert not (tmp_path / "out").exists()


def ucf_tree(tmp_path: Path, trainlist: bytes) -> tuple[Path, Path]:
    root, splits = tmp_path / "UCF-101", tmp_path / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_bytes(b"1 Jump\r\n2 Run\r\n")
    (splits / "trainlist01.txt").write_bytes(trainlist)
    (splits / "testlist01.txt").write_bytes(b"Run/v_Run_g02_c01.avi\r\n")
    for i, rel in enumerate(["Jump/v_Jump_g01_c01", "Run/v_Run_g02_c01"]):
        write_video((root / rel).with_suffix(".avi"), moving_frames(4, H, W, seed=i), fps=2)
    return root, splits


def test_ucf101_split_line_cannot_leave_the_class_folder(tmp_path, capsys):
    root, splits = ucf_tree(tmp_path, b"Jump/v_Jump_g01_c01.avi 1\r\nJump/../../outside/x.avi 1\r\n")
    with pytest.raises(LayoutError, match=r"trainlist01.txt line 2: 'Jump/\.\./\.\./outside/x.avi'"):
        ucf101_index(root, splits, 1)
    assert prepare_dataset.main(["ucf101", "--root", str(root), "--splits-dir", str(splits),
                                 "--out", str(tmp_path / "out"), "--size", f"{H}x{W}",
                                 "--no-progress"]) == 2
    one_line_error(capsys, "trainlist01.txt line 2", "'..'")


def test_ucf101_line_without_a_class_folder_is_refused(tmp_path):
    root, splits = ucf_tree(tmp_path, b"Jump\r\n")
    with pytest.raises(LayoutError, match="line 1: unknown class 'Jump' in 'Jump'"):
        ucf101_index(root, splits, 1)


def test_same_video_in_train_and_test_is_refused(tmp_path, capsys):
    root = list_dataset(tmp_path, "a/v0.mkv 0\nb/v2.mkv 1\n", "b/v3.mkv 1\n./b/v2.mkv 1\n")
    assert prepare(root, tmp_path / "out") == 2
    one_line_error(capsys, "'b/v2'", "both the train and the test split",
                   f"{root / 'train.txt'} line 2", f"{root / 'test.txt'} line 2")
    assert not (tmp_path / "out").exists()


def test_same_output_name_twice_is_refused(tmp_path):
    root = list_dataset(tmp_path, "a/v0.mkv 0\n", "b/v2.mkv 1\n")
    write_video(root / "a" / "v0.mp4", moving_frames(2, H, W), fps=2)
    (root / "train.txt").write_text("a/v0.mkv 0\na/v0.mp4 0\n")
    with pytest.raises(LayoutError, match="'a/v0' is listed twice"):
        list_index(root, root / "train.txt", root / "test.txt")


def test_name_with_a_space_is_refused_at_prepare(tmp_path, capsys):
    root = list_dataset(tmp_path, "a/v0.mkv 0\na/my clip.mkv 0\n", "b/v2.mkv 1\n",
                        videos=("a/v0", "a/my clip", "b/v2"))
    assert prepare(root, tmp_path / "out") == 2
    one_line_error(capsys, "my clip", "white space", "rename")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_class_folder_with_a_space_is_refused_at_prepare(tmp_path, capsys):
    for c in ("jump high", "run"):
        for i in range(2):
            write_video(tmp_path / "v" / c / f"{i}.mkv", moving_frames(2, H, W, seed=i), fps=2)
    assert prepare_dataset.main(["folders", "--root", str(tmp_path / "v"), "--out",
                                 str(tmp_path / "out"), "--size", f"{H}x{W}", "--no-progress"]) == 2
    one_line_error(capsys, "jump high/", "white space")


def test_source_name_cannot_leave_the_dataset_root(tmp_path, capsys):
    root = list_dataset(tmp_path, "a/v0.mkv 0\n", "b/v2.mkv 1\n")
    assert prepare(root, tmp_path / "out", "--name", "../escaped") == 2
    one_line_error(capsys, "'../escaped'", "not a plain name")
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(SourceError, match="not a plain name"):
        Source.open(tmp_path, "../out")


@pytest.fixture
def prepared(tmp_path) -> Path:
    """A dataset root with the source raw (two train videos, one test)."""
    data = tmp_path / "data"
    writer = SourceWriter(data / "raw", "raw", codec="raw", size=None, height=H, width=W, fps=2,
                          classes=["a", "b"])
    records = []
    for i, (name, split) in enumerate([("a/v0.mkv", "train"), ("b/v1.mkv", "train"),
                                       ("b/v2.mkv", "test")]):
        writer.write_video(name, moving_frames(4, H, W, seed=i))
        records.append(VideoRecord(name, int(name[0] == "b"), split, 4))
    writer.finalize(records)
    return data


def point_manifest_at(source_root: Path, path: str) -> None:
    manifest_path = source_root / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["videos"][0]["path"] = path
    manifest_path.write_text(json.dumps(manifest))


def compress(data: Path, work: Path, *options: str) -> int:
    return compress_dataset.main(["--source-root", str(data), "--codec", "h264", "--size", "M",
                                  "--work-dir", str(work), "--cfg-options", "workers=1",
                                  *options])


def test_manifest_with_an_absolute_path_cannot_overwrite_the_original(prepared, tmp_path, victim,
                                                                      capsys):
    """Found: the decoded source's path came from the manifest, so compress_dataset wrote
    the lossy decode over the original video."""
    before = victim.read_bytes()
    point_manifest_at(prepared / "raw", str(victim))
    with pytest.raises(SourceError, match="video 0: .* is an absolute path"):
        Source.open(prepared, "raw")
    assert compress(prepared, tmp_path / "work") == 2
    one_line_error(capsys, "manifest.json video 0", str(victim))
    assert victim.read_bytes() == before
    assert not (prepared / "h264_M").exists()


def test_manifest_with_dotdot_is_refused(prepared):
    point_manifest_at(prepared / "raw", "../../outside/victim.mkv")
    with pytest.raises(SourceError, match="manifest.json video 0: .*'..' component"):
        Source.open(prepared, "raw")


def test_source_writer_stays_under_its_videos(tmp_path):
    writer = SourceWriter(tmp_path / "s", "s", codec="raw", size=None, height=H, width=W, fps=2,
                          classes=["a"])
    frames = moving_frames(2, H, W)
    for bad in ("../x.mkv", str(tmp_path / "x.mkv")):
        with pytest.raises(SourceError):
            writer.write_video(bad, frames)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "s" / "videos" / "a")
    with pytest.raises(SourceError, match="symbolic link"):
        writer.write_video("a/x.mkv", frames)
    assert list((tmp_path / "elsewhere").iterdir()) == [] and not (tmp_path / "x.mkv").exists()


def test_output_name_cannot_leave_the_dataset_root(prepared, tmp_path, capsys):
    assert compress(prepared, tmp_path / "work", "output=../escaped") == 2
    one_line_error(capsys, "'../escaped'")
    assert not (tmp_path / "escaped").exists()


def test_unwritable_out_dir_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    root = list_dataset(tmp_path, "a/v0.mkv 0\n", "b/v2.mkv 1\n")
    assert prepare(root, blocker / "out") == 2
    one_line_error(capsys, str(blocker / "out"), "cannot be written")


def test_unwritable_work_dir_is_one_line(prepared, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert compress(prepared, blocker / "work") == 2
    one_line_error(capsys, "work dir", str(blocker / "work"), "cannot be written")
    assert inpaint_eval.main(["--source-root", str(prepared), "--work-dir",
                              str(blocker / "inpaint")]) == 2
    one_line_error(capsys, "work dir", "cannot be written")
    assert train_tsm.main(["--data-root", str(prepared), "--source", "raw", "--work-dir",
                           str(blocker / "tsm")]) == 2
    one_line_error(capsys, "work dir", "cannot be written")


