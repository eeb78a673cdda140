"""Work dirs: no stale reuse, one run at a time, no half-written leftovers, honest resumption.

Tiny NeRV / D-NeRV fits and H.264 runs through tools/compress_dataset.py on CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import moving_frames
from test_compress import _register_stop_hook, compress_dataset, run_tool
from toolkit.data.source import Source, SourceError, SourceWriter, VideoRecord
from toolkit.engine.workdir import DirLock, WorkDirError


def make_source(root: Path) -> Path:
    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=32, width=64, fps=2,
                          classes=["left", "right"])
    records = []
    for i, length in enumerate([9, 8, 3]):
        path = f"{'left' if i % 2 == 0 else 'right'}/v{i}.mkv"
        writer.write_video(path, moving_frames(length, 32, 64, seed=i))
        records.append(VideoRecord(path, i % 2, "train" if i < 2 else "test", length))
    writer.finalize(records)
    return root


@pytest.fixture
def data_root(tmp_path) -> Path:
    return make_source(tmp_path / "data")


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---- no stale reuse ------------------------------------------------------------------------

def test_rerun_with_other_epochs_is_refused_then_refitted(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=1") == 0
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=2") == 2
    line = error_line(capsys)
    assert "fit.max_epochs: 1 -> 2" in line and "--refit" in line and "fit/shared" in line
    assert json.loads((work / "fit" / "shared" / "fit.json").read_text())["epochs"] == 1
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=2", "--refit") == 0
    assert "discarding the fit" in capsys.readouterr().err
    assert json.loads((work / "fit" / "shared" / "fit.json").read_text())["epochs"] == 2
    results = json.loads((work / "results.json").read_text())
    assert results["fits_reused"] == 0 and results["fit_epochs"]["max"] == 2


def test_rerun_with_other_videos_or_changed_video_is_refused(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    assert run_tool(data_root, "nerv", work, "videos=[0,1]") == 0
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work, "videos=[0,1,2]") == 2
    assert "source.videos: 2 -> 3 entries" in error_line(capsys)
    # the same video list, but a video's content changed since the fit
    raw = Source.open(data_root, "raw")
    SourceWriter(raw.root, "raw", codec="raw", size=None, height=32, width=64, fps=2,
                 classes=raw.classes).write_video(raw.videos[1].path, moving_frames(8, 32, 64, seed=7))
    assert run_tool(data_root, "nerv", work, "videos=[0,1]") == 2
    assert "source.videos[1].sha256" in error_line(capsys)


def test_dnerv_keyframes_are_not_reused_for_other_videos(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    assert run_tool(data_root, "dnerv", work, "videos=[0,1]") == 0
    capsys.readouterr()
    assert run_tool(data_root, "dnerv", work, "videos=[0,2]") == 2
    line = error_line(capsys)
    assert "what is prepared in" in line and "source.videos[1]" in line
    assert run_tool(data_root, "dnerv", work, "videos=[0,2]", "--refit") == 0
    decoded = Source.open(data_root, "dnerv_M")
    assert [v.num_frames for v in decoded.videos] == [9, 3]


def test_fit_survives_a_failure_after_it_and_is_reused(data_root, tmp_path, capsys, monkeypatch):
    """Issue 11: quality measurement running out of memory after the fit loses nothing."""
    import toolkit.tasks.compress.stage as compress

    work = tmp_path / "work"

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory while measuring quality")

    with monkeypatch.context() as patch:
        patch.setattr(compress, "compare_frames", out_of_memory)
        with pytest.raises(MemoryError):
            run_tool(data_root, "nerv", work)
    final = work / "fit" / "shared" / "network_final.pth"
    assert final.is_file()
    fitted = final.read_bytes()
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work) == 0
    assert "reusing the fit" in capsys.readouterr().err
    assert final.read_bytes() == fitted
    assert json.loads((work / "results.json").read_text())["fits_reused"] == 1


def test_output_may_not_replace_its_source(data_root, tmp_path, capsys):
    assert run_tool(data_root, "h264", tmp_path / "work", "output=raw") == 2
    assert "would replace the source" in error_line(capsys)
    assert Source.open(data_root, "raw").manifest["codec"] == "raw"


def test_resume_and_refit_together_are_refused(data_root, tmp_path, capsys):
    assert run_tool(data_root, "nerv", tmp_path / "work", "--resume", "--refit") == 2
    assert "give one of them" in error_line(capsys)


# ---- one run at a time, nothing half-written left ----------------------------------------

def test_a_held_work_dir_is_refused_and_a_dead_holder_taken_over(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    with DirLock(work):
        assert run_tool(data_root, "h264", work) == 2
        line = error_line(capsys)
        assert f"work dir {work} is in use by another run (pid {os.getpid()}" in line
        with pytest.raises(WorkDirError):  # a second holder in this process too
            DirLock(work).acquire()
    assert not (work / "run.lock").exists()
    pid = dead_pid()
    (work / "run.lock").write_text(json.dumps(dict(pid=pid, host=os.uname().nodename,
                                                   started="earlier")))
    assert run_tool(data_root, "h264", work) == 0
    err = capsys.readouterr().err
    assert f"taking over the lock of work dir {work}" in err and f"pid {pid}" in err
    assert "no longer running" in err
    assert not (work / "run.lock").exists()


def test_a_decoded_source_is_held_too(data_root, tmp_path, capsys):
    with DirLock(data_root / "h264_M", "decoded source"):
        assert run_tool(data_root, "h264", tmp_path / "work") == 2
        assert "decoded source" in error_line(capsys)


def test_temporaries_of_killed_runs_are_removed(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    pid = dead_pid()
    left = [work / "fit" / "shared" / f".network_final.tmp-{pid}.pth",
            data_root / "h264_M" / "videos" / "left" / f".v0.tmp-{pid}.mkv",
            work / f".results.tmp-{pid}.json"]
    alive = work / f".other.tmp-{os.getppid()}.json"  # a running process's: kept
    for path in left + [alive]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    assert run_tool(data_root, "h264", work) == 0
    err = capsys.readouterr().err
    assert f"removed 2 temporary file(s) left by an interrupted run under {work}" in err
    assert f"removed 1 temporary file(s) left by an interrupted run under {data_root / 'h264_M'}" in err
    assert not any(p.exists() for p in left) and alive.exists()


def test_interrupted_decode_never_leaves_a_complete_looking_source(data_root, tmp_path, monkeypatch):
    work = tmp_path / "work"
    assert run_tool(data_root, "h264", work) == 0
    assert len(Source.open(data_root, "h264_M").videos) == 3
    written = []
    original = SourceWriter.write_video

    def killed_after_one(self, relpath, frames):
        if written:
            raise KeyboardInterrupt("killed")
        written.append(relpath)
        original(self, relpath, frames)

    with monkeypatch.context() as patch:
        patch.setattr(SourceWriter, "write_video", killed_after_one)
        with pytest.raises(KeyboardInterrupt):
            run_tool(data_root, "h264", work, "target_bpp=2.0")
    with pytest.raises(SourceError, match="unknown source 'h264_M'"):
        Source.open(data_root, "h264_M")
    # a rerun for fewer videos leaves none of the old ones behind
    assert run_tool(data_root, "h264", work, "videos=[1]") == 0
    decoded = Source.open(data_root, "h264_M")
    assert [v.path for v in decoded.videos] == ["right/v1.mkv"]
    assert sorted(p.name for p in (decoded.root / "videos").rglob("*.mkv")) == ["v1.mkv"]


# ---- resumption ------------------------------------------------------------------------------

def interrupted_config(tmp_path: Path, epoch: int, sleep: float = 0.0) -> Path:
    _register_stop_hook()
    _register_sleep_hook()
    path = tmp_path / "interrupted.py"
    path.write_text(
        f"_base_ = [{str(compress_dataset.find_config('compress', 'nerv'))!r}]\n"
        f"fit = dict(custom_hooks=[dict(type='SleepInEpoch', seconds={sleep}), "
        f"dict(type='StopAfterEpoch', epoch={epoch})])\n")
    return path


def _register_sleep_hook():
    from mmengine.hooks import Hook

    from toolkit.registry import HOOKS

    if "SleepInEpoch" in HOOKS.module_dict:
        return

    @HOOKS.register_module()
    class SleepInEpoch(Hook):
        priority = "NORMAL"  # before the checkpoint of the epoch

        def __init__(self, seconds: float):
            self.seconds = seconds

        def after_train_epoch(self, runner):
            import time

            time.sleep(self.seconds)


def test_fit_time_adds_up_over_an_interruption(data_root, tmp_path):
    work = tmp_path / "work"
    options = ["fit.max_epochs=3", "fit.checkpoint_interval=1"]
    with pytest.raises(KeyboardInterrupt):
        run_tool(data_root, "nerv", work, str(interrupted_config(tmp_path, 1, sleep=3.0)), *options)
    assert run_tool(data_root, "nerv", work, *options, "--resume") == 0
    record = json.loads((work / "fit" / "shared" / "fit.json").read_text())
    assert record["resumed_from"] == "epoch_1.pth" and record["epochs"] == 3
    assert record["seconds"] > 3.0
    assert json.loads((work / "results.json").read_text())["fit_time_s"] == record["seconds"]


def test_resume_falls_back_past_a_corrupt_checkpoint(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    fit_dir = work / "fit" / "shared"
    options = ["fit.max_epochs=4", "fit.checkpoint_interval=1"]
    with pytest.raises(KeyboardInterrupt):
        run_tool(data_root, "nerv", work, str(interrupted_config(tmp_path, 2)), *options)
    newest = fit_dir / "epoch_2.pth"
    newest.write_bytes(newest.read_bytes()[:1000])  # killed while saving
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work, *options, "--resume") == 0
    err = capsys.readouterr().err
    assert "epoch_2.pth is truncated or corrupt" in err and "from epoch_1.pth" in err
    assert json.loads((fit_dir / "fit.json").read_text())["resumed_from"] == "epoch_1.pth"


def test_resume_with_only_corrupt_checkpoints_fits_from_the_start(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    fit_dir = work / "fit" / "shared"
    options = ["fit.max_epochs=2", "fit.checkpoint_interval=1"]
    with pytest.raises(KeyboardInterrupt):
        run_tool(data_root, "nerv", work, str(interrupted_config(tmp_path, 1)), *options)
    (fit_dir / "epoch_1.pth").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work, *options, "--resume") == 0
    assert "has no readable checkpoint: fitting from the start" in capsys.readouterr().err
    record = json.loads((fit_dir / "fit.json").read_text())
    assert record["resumed_from"] is None and record["epochs"] == 2


def test_resume_refuses_a_fit_made_for_other_settings(data_root, tmp_path, capsys):
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        run_tool(data_root, "nerv", work, str(interrupted_config(tmp_path, 1)),
                 "fit.max_epochs=3", "fit.checkpoint_interval=1")
    capsys.readouterr()
    assert run_tool(data_root, "nerv", work, "fit.max_epochs=3", "fit.batch_size=2", "--resume") == 2
    assert "fit.batch_size: 4 -> 2" in error_line(capsys)


# ---- damaged inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["h264", "nerv"])
def test_damaged_source_video_is_one_line(data_root, tmp_path, codec, capsys):
    video = Source.open(data_root, "raw").video_path(Source.open(data_root, "raw").videos[1])
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    assert run_tool(data_root, codec, tmp_path / "work") == 2
    line = error_line(capsys)
    assert str(video) in line and ("truncated" in line or "corrupt" in line)


def test_prepare_redoes_a_truncated_video(tmp_path, capsys):
    from test_prepare import make_ucf_tree, prepare_dataset

    root, splits = make_ucf_tree(tmp_path)
    out = tmp_path / "prepared"
    args = ["ucf101", "--root", str(root), "--splits-dir", str(splits), "--out", str(out),
            "--size", "16x40", "--workers", "1", "--no-progress"]
    assert prepare_dataset.main(args) == 0
    source = Source.open(out, "raw")
    damaged = source.video_path(source.videos[0])
    damaged.write_bytes(damaged.read_bytes()[:-200])
    capsys.readouterr()
    assert prepare_dataset.main(args) == 0
    out_text = capsys.readouterr().out
    assert "videos written  1" in out_text and "videos resumed  2" in out_text  # 3 on disk
    source = Source.open(out, "raw")
    assert source.read_video(source.videos[0]).shape == (2, 16, 40, 3)
