"""TSM action recognition (tools/train_tsm.py, tools/gather_tsm_results.py) on tiny sources, CPU.

One module fixture builds a dataset root (raw, h264_M, hevc_S; 3 motion classes) and runs
the tool in both settings with 1-epoch fits; the tests inspect what it wrote.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit.data.source import Source, SourceWriter, VideoRecord
from toolkit.tasks.action import ActionError, WorkLayout, plan_runs
from toolkit.tasks.action.config import fit_config, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "tsm" / "tsm_r18_builtin.py"
HEIGHT, WIDTH, FRAMES = 32, 40, 8
DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0)}
NOISY_SOURCES = {"h264_M": ("h264", "M"), "hevc_S": ("hevc", "S")}
TINY = ["train_cfg.max_epochs=1", "train_dataloader.batch_size=4",
        *(f"{loader}.num_workers=0" for loader in ("train_dataloader", "val_dataloader",
                                                   "test_dataloader"))]
RESULT_KEYS = {"setting", "source", "fit_source", "eval_source", "top1", "top5",
               "mean_class_accuracy", "epochs", "checkpoint", "command", "commit", "device", "date"}


def load_tool(name: str):
    return importlib.import_module(f"toolkit.cli.{name}")


def moving_square(dy: int, dx: int, rng) -> np.ndarray:
    """A bright square moving 2 px per frame over a dark noisy background."""
    frames = rng.integers(0, 40, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    y, x = rng.integers(4, HEIGHT - 12), rng.integers(4, WIDTH - 12)
    for t in range(FRAMES):
        top, left = (y + 2 * t * dy) % (HEIGHT - 8), (x + 2 * t * dx) % (WIDTH - 8)
        frames[t, top:top + 8, left:left + 8] = 220
    return frames


def write_sources(data_root: Path, per_split=(("train", 2), ("test", 1))) -> None:
    rng = np.random.default_rng(0)
    classes = list(DIRECTIONS)
    header = dict(height=HEIGHT, width=WIDTH, fps=2.0, classes=classes)
    writers = {"raw": SourceWriter(data_root / "raw", "raw", codec="raw", size=None, **header)}
    writers.update({name: SourceWriter(data_root / name, name, codec=codec, size=size, **header)
                    for name, (codec, size) in NOISY_SOURCES.items()})
    records = []
    for label, (dy, dx) in enumerate(DIRECTIONS.values()):
        for split, count in per_split:
            for i in range(count):
                frames = moving_square(dy, dx, rng)
                relpath = writers["raw"].relpath(f"{classes[label]}/{split}{i}")
                for name, writer in writers.items():
                    noise = 0 if name == "raw" else rng.integers(-6, 7, frames.shape)
                    writer.write_video(relpath, np.clip(frames.astype(int) + noise, 0, 255)
                                       .astype(np.uint8))
                records.append(VideoRecord(relpath, label, split, FRAMES))
    for writer in writers.values():
        writer.finalize(records)


def train_tsm(data_root: Path, work_root: Path, source: str, setting: str, *extra,
              options=()) -> int:
    argv = ["--data-root", str(data_root), "--work-dir", str(work_root), "--source", source,
            "--setting", setting, "--config", str(CONFIG), *extra,
            "--cfg-options", *TINY, *options]
    return load_tool("train_tsm").main(argv)


def read_results(work_root: Path, setting: str, source: str) -> dict:
    return json.loads((work_root / f"{setting}_{source}" / "results.json").read_text())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tsm_data")
    write_sources(root)
    return root


@pytest.fixture(scope="module")
def finished(data_root, tmp_path_factory):
    """Both settings of h264_M, then the test setting of hevc_S and raw (reusing fit_raw)."""
    work_root = tmp_path_factory.mktemp("tsm_work")
    assert train_tsm(data_root, work_root, "h264_M", "both") == 0
    raw_checkpoint = work_root / "fit_raw" / "epoch_1.pth"
    first_fit_mtime = raw_checkpoint.stat().st_mtime_ns
    for source in ("hevc_S", "raw"):
        assert train_tsm(data_root, work_root, source, "test", "--no-validate") == 0
    return dict(work_root=work_root, raw_checkpoint=raw_checkpoint,
                first_fit_mtime=first_fit_mtime)


def test_plan_and_layout():
    train, test = plan_runs("dnerv_M", "both")
    assert (train.fit_source, train.eval_source) == ("dnerv_M", "raw")
    assert (test.fit_source, test.eval_source) == ("raw", "dnerv_M")
    layout = WorkLayout(Path("/w"))
    assert layout.results_path(test) == Path("/w/test_dnerv_M/results.json")
    assert layout.fit_dir(test.fit_source) == Path("/w/fit_raw")
    with pytest.raises(ActionError, match="train, test, both"):
        plan_runs("dnerv_M", "eval")


def test_fit_config_fills_paths_and_keeps_user_overrides(data_root, tmp_path):
    source = Source.open(data_root, "h264_M")
    cfg = fit_config(load_config(CONFIG), source, tmp_path / "fit",
                     cfg_options={"val_dataloader.num_workers": 0, "train_cfg.max_epochs": 3})
    assert cfg.train_dataloader.dataset.ann_file == str((data_root / "h264_M" / "train_list.txt"))
    assert cfg.val_dataloader.dataset.ann_file.endswith("h264_M/test_list.txt")
    assert cfg.train_dataloader.dataset.data_prefix["video"] == str(data_root / "h264_M" / "videos")
    assert cfg.model.cls_head.num_classes == 3
    assert cfg.val_evaluator.metric_options["top_k_accuracy"]["topk"] == (1,)  # < 5 classes
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.train_dataloader.persistent_workers  # 2 workers in the config
    assert not cfg.val_dataloader.persistent_workers  # 0 workers: must be off
    assert cfg.test_dataloader is None and cfg.work_dir == str(tmp_path / "fit")
    no_val = fit_config(load_config(CONFIG), source, tmp_path / "fit", validate=False)
    assert no_val.val_dataloader is None and no_val.val_cfg is None


def test_top5_is_computed_from_five_classes(data_root, tmp_path):
    source = Source.open(data_root, "raw")
    source.classes = [f"c{i}" for i in range(5)]
    cfg = fit_config(load_config(CONFIG), source, tmp_path / "fit")
    assert cfg.val_evaluator.metric_options["top_k_accuracy"]["topk"] == (1, 5)


def test_both_settings_write_results(finished):
    work_root = finished["work_root"]
    train = read_results(work_root, "train", "h264_M")
    test = read_results(work_root, "test", "h264_M")
    assert RESULT_KEYS <= train.keys() and RESULT_KEYS <= test.keys()
    assert (train["fit_source"], train["eval_source"]) == ("h264_M", "raw")
    assert (test["fit_source"], test["eval_source"]) == ("raw", "h264_M")
    assert train["checkpoint"] == str(work_root / "fit_h264_M" / "epoch_1.pth")
    assert test["checkpoint"] == str(finished["raw_checkpoint"])
    for record in (train, test):
        assert 0.0 <= record["top1"] <= 1.0 and 0.0 <= record["mean_class_accuracy"] <= 1.0
        assert record["top5"] is None  # 3 classes: no top-5
        assert record["epochs"] == 1 and record["num_eval_videos"] == 3
        assert (record["source_codec"], record["source_size"]) == ("h264", "M")
    checkpoint = torch.load(finished["raw_checkpoint"], map_location="cpu", weights_only=False)
    assert checkpoint["state_dict"]["cls_head.fc_cls.weight"].shape[0] == 3


def test_test_setting_reuses_the_raw_fit(finished):
    work_root = finished["work_root"]
    assert finished["raw_checkpoint"].stat().st_mtime_ns == finished["first_fit_mtime"]
    for source in ("hevc_S", "raw"):
        record = read_results(work_root, "test", source)
        assert record["fit_reused"] is True
        assert record["checkpoint"] == str(finished["raw_checkpoint"])
    assert read_results(work_root, "test", "hevc_S")["eval_source"] == "hevc_S"
    assert sorted(p.name for p in work_root.glob("fit_*")) == ["fit_h264_M", "fit_raw"]


def test_gather_writes_table_and_chart(finished, capsys):
    work_root = finished["work_root"]
    assert load_tool("gather_tsm_results").main(["--work-root", str(work_root)]) == 0
    markdown = (work_root / "tsm_results.md").read_text()
    assert capsys.readouterr().out.startswith(markdown.splitlines()[0])
    top1 = markdown.split("## top-1")[1].split("##")[0]
    header = next(line for line in top1.splitlines() if line.startswith("| source"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "source", "train S", "train M", "train L", "test S", "test M", "test L"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")[1:]]
            for line in top1.splitlines() if line.startswith("| ") and "source" not in line}
    assert list(rows) == ["raw", "h264", "hevc"]
    raw_top1 = 100 * read_results(work_root, "test", "raw")["top1"]
    assert rows["raw"] == [f"{raw_top1:.1f}"] * 6
    h264_train = 100 * read_results(work_root, "train", "h264_M")["top1"]
    assert rows["h264"][1] == f"{h264_train:.1f}" and rows["h264"][0] == "–"
    assert rows["hevc"][3] != "–" and rows["hevc"][0] == "–"
    png = work_root / "tsm_results.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_gather_without_runs_is_a_clear_error(tmp_path, capsys):
    assert load_tool("gather_tsm_results").main(["--work-root", str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_resume_continues_from_the_last_epoch(data_root, tmp_path, capsys):
    work_root = tmp_path / "work"
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate") == 0
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate",
                     options=["train_cfg.max_epochs=2"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate", "--resume",
                     options=["train_cfg.max_epochs=2"]) == 0
    fit_dir = work_root / "fit_raw"
    record = read_results(work_root, "test", "raw")
    assert record["resumed_from"] == str(fit_dir / "epoch_1.pth")
    assert record["epochs"] == 2 and record["checkpoint"] == str(fit_dir / "epoch_2.pth")
    assert torch.load(fit_dir / "epoch_2.pth", weights_only=False)["meta"]["epoch"] == 2
    logs = [p.read_text() for p in fit_dir.glob("*/*.log")]
    resumed = [log for log in logs if "resumed epoch: 1" in log]
    assert len(resumed) == 1
    assert "Epoch(train) [2]" in resumed[0] and "Epoch(train) [1]" not in resumed[0]


def test_refit_with_another_model_is_refused(finished, capsys):
    assert train_tsm(Path(read_results(finished["work_root"], "test", "raw")["data_root"]),
                     finished["work_root"], "raw", "test",
                     options=["model.backbone.shift_div=4"]) == 2
    assert "different model" in capsys.readouterr().err


def test_unknown_source_lists_the_existing_ones(data_root, tmp_path, capsys):
    assert train_tsm(data_root, tmp_path, "nerv_M", "train") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown source 'nerv_M'" in err and "h264_M, hevc_S, raw" in err
    assert not any(tmp_path.iterdir())  # nothing fitted


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_amp_without_gpu_is_a_clear_error(data_root, tmp_path, capsys):
    assert load_tool("train_tsm").main(["--data-root", str(data_root), "--source", "raw", "--amp",
                                        "--work-dir", str(tmp_path)]) == 2
    assert "--amp needs a CUDA GPU" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_fit_made_for_other_training_data_is_refused(tmp_path, capsys):
    """A rerun after the source was made again (other videos or content) must not reuse the
    fit made for the old data: ``fit_raw`` is refused with one line."""
    data_root, work_root = tmp_path / "data", tmp_path / "work"
    write_sources(data_root, per_split=(("train", 1), ("test", 1)))
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate") == 0
    for name in ("raw", "h264_M", "hevc_S"):  # the dataset prepared again, with more videos
        (data_root / name / "manifest.json").unlink()
    write_sources(data_root, per_split=(("train", 2), ("test", 1)))
    capsys.readouterr()
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "fit_raw" in err and "other training data" in err


def test_corrupt_checkpoints_are_one_line_or_passed_over(data_root, tmp_path, capsys):
    """A corrupt --load-from file or reused final checkpoint is one line; --resume passes a
    truncated newest checkpoint over for the one before it, saying so."""
    work_root = tmp_path / "work"
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate", "--load-from",
                     str(garbage)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --load-from") and "\n" not in err, err
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate") == 0
    fit_dir = work_root / "fit_raw"
    newest = fit_dir / "epoch_2.pth"  # a second epoch killed while saving
    newest.write_bytes((fit_dir / "epoch_1.pth").read_bytes()[:1000])
    (fit_dir / "last_checkpoint").write_text(str(newest))
    capsys.readouterr()
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate", "--resume",
                     options=["train_cfg.max_epochs=2"]) == 0
    assert "epoch_2.pth is truncated or corrupt" in capsys.readouterr().err
    assert read_results(work_root, "test", "raw")["resumed_from"] == str(fit_dir / "epoch_1.pth")
    newest.write_bytes(newest.read_bytes()[:1000])  # the final checkpoint damaged: not reused
    assert train_tsm(data_root, work_root, "raw", "test", "--no-validate",
                     options=["train_cfg.max_epochs=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "rerun with --resume" in err, err
