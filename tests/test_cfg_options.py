"""--cfg-options and numeric arguments: unknown keys at any depth, in every tool, and values
that make no sense are refused with one line before any work; legitimate keys keep working."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import one_line_error

from conftest import moving_frames
from toolkit.cli import compress_dataset, inpaint_eval, prepare_dataset, train_tsm
from toolkit.data.source import SourceWriter, VideoRecord
from toolkit.engine.config import ConfigError, load_config
from toolkit.tasks.action import ActionError
from toolkit.tasks.action.config import fit_config
from toolkit.tasks.action.config import load_config as load_tsm_config

REPO = Path(__file__).resolve().parents[1]

H, W = 16, 40
TSM_CONFIG = REPO / "configs" / "tsm" / "tsm_r18_builtin.py"




@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("data")
    writer = SourceWriter(data / "raw", "raw", codec="raw", size=None, height=H, width=W, fps=2,
                          classes=["a", "b"])
    records = []
    for i, (name, split) in enumerate([("a/v0.mkv", "train"), ("b/v1.mkv", "train"),
                                       ("a/v2.mkv", "test"), ("b/v3.mkv", "test")]):
        writer.write_video(name, moving_frames(4, H, W, seed=i))
        records.append(VideoRecord(name, int(name[0] == "b"), split, 4))
    writer.finalize(records)
    return data


# ---- compress_dataset --------------------------------------------------------------------

@pytest.mark.parametrize("codec,option,needle", [
    ("nerv", "fit.max_epoch=1", "fit has no key 'max_epoch'"),        # found: silently ignored
    ("nerv", "fitt.max_epochs=1", "has no key 'fitt'"),
    ("nerv", "fit.compile.enabeld=True", "fit.compile has no key 'enabeld'"),
    ("nerv", "fit.optimizer.betass=[0.9,0.99]", "fit.optimizer (Adam) takes no argument"),
    ("nerv", "size.x=1", "size is str 'M', not a dict"),
    ("nerv", "throughput.dtypes.5=float32", "throughput.dtypes is tuple"),
    ("nerv", "fit.max_epochs=0", "fit.max_epochs must be a whole number >= 1"),
    ("nerv", "fit.max_epochs=-3", "fit.max_epochs must be"),
    ("nerv", "fit.batch_size=0", "fit.batch_size must be"),
    ("h264", "target_bpp=0", "target_bpp must be a positive number"),  # found: treated as unset
    ("h264", "target_bpp=-0.1", "target_bpp must be"),
    ("h264", "target_bpp=nan", "target_bpp must be"),
    ("dnerv", "codec.network.fc_dimm=3", "unknown key(s) 'fc_dimm' for DNeRV"),
    ("nerv", "codec.network.frame_times=half", "network.frame_times is 'half'; use one of 'closed', 'open'"),
    ("dnerv", "codec.keyframe_settings.presett=fast", "keyframe_settings"),
    ("nerv", "codec.foo=1", "unexpected keyword argument 'foo'"),
    ("h264", "codec.foo=1", "unexpected keyword argument 'foo'"),
    ("h264", "codec.preset=fastest", "unknown preset 'fastest'"),
])
def test_compress_refuses_wrong_options(codec, option, needle, data_root, tmp_path, capsys):
    work = tmp_path / "work"
    assert compress_dataset.main(["--source-root", str(data_root), "--codec", codec, "--size", "M",
                                  "--work-dir", str(work), "--cfg-options", option]) == 2
    one_line_error(capsys, needle)
    assert not list(work.glob("*.bits")) and not (data_root / f"{codec}_M").exists()


def test_compress_keeps_legitimate_keys(data_root, tmp_path):
    args = compress_dataset.parse_args([
        "--source-root", str(data_root), "--codec", "nerv", "--work-dir", str(tmp_path / "w"),
        "--cfg-options", "fit.max_epochs=2", "codec.network.channels=8", "codec.bits=6",
        "fit.clip_grad.max_norm=1", "fit.optimizer.lr=0.001", "fit.compile.enabled=True",
        "fit.max_time_s=30", "target_bpp=0.1", "output=nerv_try", "log_level=WARNING",
        "videos=[0,1]", "throughput.dtypes=[float32]"])
    cfg = compress_dataset.build_config(args)
    assert cfg.fit.max_epochs == 2 and cfg.fit.clip_grad == {"max_norm": 1}
    assert cfg.codec.network == {"pe_levels": 80, "mlp_hidden": 512, "channels": 8}
    assert cfg.fit.optimizer.type == "Adam" and cfg.fit.optimizer.lr == 0.001
    assert cfg.target_bpp == 0.1 and cfg.output == "nerv_try" and cfg.videos == [0, 1]
    from toolkit.engine.config import build_codec

    assert build_codec(cfg.codec).network_overrides == {"pe_levels": 80, "mlp_hidden": 512,
                                                        "channels": 8}


def test_dict_valued_override_is_checked_key_by_key():
    path = REPO / "configs" / "compress" / "nerv.py"
    cfg = load_config(path, {"fit": {"max_epochs": 3, "optimizer": {"lr": 1e-4}}})
    assert cfg.fit.max_epochs == 3 and cfg.fit.optimizer.lr == 1e-4 and cfg.fit.batch_size == 16
    with pytest.raises(ConfigError, match="fit has no key 'max_epoch'"):
        load_config(path, {"fit": {"max_epoch": 3}})


# ---- inpaint_eval ------------------------------------------------------------------------

@pytest.mark.parametrize("option,needle", [
    ("fit.max_epoch=1", "fit has no key 'max_epoch'"),
    ("masks.num_boxs=3", "masks has no key 'num_boxs'"),
    ("fit.max_epochs=0", "fit.max_epochs must be"),
    ("models.nerv.fit.max_epoch=1", "models.nerv.fit: unknown keys ['max_epoch']"),
    ("models.nerv.fitt.max_epochs=1", "models.nerv: unknown keys ['fitt']"),
    ("models.nerv.codec.network.fc_dimm=3", "unknown key(s) 'fc_dimm' for NeRV"),
    ("models.nerv.codec.foo=1", "unexpected keyword argument 'foo'"),
])
def test_inpaint_refuses_wrong_options(option, needle, data_root, tmp_path, capsys):
    assert inpaint_eval.main(["--source-root", str(data_root), "--models", "nerv", "--work-dir",
                              str(tmp_path / "w"), "--cfg-options", option]) == 2
    one_line_error(capsys, needle)
    assert not (tmp_path / "w" / "masks.json").exists()


def test_inpaint_keeps_legitimate_keys(data_root, tmp_path):
    from toolkit.tasks.inpaint.benchmark import InpaintModel

    args = inpaint_eval.parse_args([
        "--source-root", str(data_root), "--work-dir", str(tmp_path / "w"), "--cfg-options",
        "models.nerv.fit.max_epochs=2", "models.nerv.codec.network.channels=4",
        "fit.max_time_s=5", "fit.clip_grad.max_norm=1", "models.dnerv.fit.optimizer.lr=1e-4"])
    cfg = inpaint_eval.build_config(args)
    nerv = InpaintModel.from_config("nerv", cfg.models.nerv, cfg.fit)
    assert nerv.fit["max_epochs"] == 2 and nerv.fit["max_time_s"] == 5
    assert nerv.codec.network_overrides["channels"] == 4
    dnerv = InpaintModel.from_config("dnerv", cfg.models.dnerv, cfg.fit)
    assert dnerv.fit["optimizer"]["lr"] == 1e-4 and dnerv.fit["optimizer"]["type"] == "AdamW"


# ---- train_tsm ---------------------------------------------------------------------------

@pytest.mark.parametrize("option,needle", [
    ("train_cfgg.max_epochs=1", "has no key 'train_cfgg'"),   # found: a full fit, exit 0
    ("train_cfg.max_epoch=1", "train_cfg (EpochBasedTrainLoop) takes no argument 'max_epoch'"),
    ("model.backbone.depthh=18", "model.backbone (ResNetTSM) takes no argument 'depthh'"),
    ("optim_wrapper.optimizer.lrr=0.1", "(AdamW) takes no argument 'lrr'"),
    ("max_epochs=1", "'max_epochs' is a variable of tsm_r18_builtin.py"),
    ("train_dataloader.batch_sise=2", "train_dataloader has no key 'batch_sise'"),
    ("param_scheduler.7.end=3", "param_scheduler has only 2 items"),
])
def test_train_tsm_refuses_wrong_options_before_fitting(option, needle, data_root, tmp_path,
                                                        capsys):
    work = tmp_path / "tsm"
    assert train_tsm.main(["--data-root", str(data_root), "--source", "raw", "--setting", "test",
                           "--config", str(TSM_CONFIG), "--work-dir", str(work),
                           "--cfg-options", option]) == 2
    one_line_error(capsys, needle)
    assert not list(work.rglob("*.pth"))


def test_train_tsm_keeps_deep_mmaction_keys(data_root, tmp_path):
    from toolkit.data.source import Source

    cfg = fit_config(load_tsm_config(TSM_CONFIG), Source.open(data_root, "raw"), tmp_path, cfg_options={
        "model.backbone.depth": 34, "model.backbone.norm_eval": True, "train_dataloader.batch_size": 2,
        "train_cfg.max_epochs": 1, "randomness.seed": 3, "default_hooks.checkpoint.interval": 1,
        "param_scheduler.0.end": 1, "optim_wrapper.optimizer.lr": 0.01, "load_from": None,
        "env_cfg.cudnn_benchmark": False})
    assert cfg.model.backbone.depth == 34 and cfg.model.backbone.norm_eval is True
    assert cfg.train_dataloader.batch_size == 2 and cfg.train_cfg.max_epochs == 1
    assert cfg.param_scheduler[0].end == 1 and cfg.randomness.seed == 3
    with pytest.raises(ActionError, match="takes no argument 'max_epoch'"):
        fit_config(load_tsm_config(TSM_CONFIG), Source.open(data_root, "raw"), tmp_path,
                   cfg_options={"train_cfg.max_epoch": 1})


# ---- prepare_dataset ---------------------------------------------------------------------

@pytest.mark.parametrize("flags,needle", [
    (["--size", "100000x100000"], "height must be a whole number of pixels from 1 to 8192"),
    (["--size", "0x40"], "height must be"),
    (["--fps", "nan"], "fps must be a positive number"),
    (["--fps", "inf"], "fps must be"),
    (["--fps", "0"], "fps must be"),
    (["--workers", "0"], "workers must be at least 1"),
])
def test_prepare_refuses_absurd_numbers(flags, needle, tmp_path, capsys):
    root = tmp_path / "videos"
    write_video_pair(root)
    assert prepare_dataset.main(["list", "--root", str(root), "--out", str(tmp_path / "out"),
                                 "--no-progress", *flags]) == 2
    one_line_error(capsys, needle)
    assert not (tmp_path / "out").exists()


def write_video_pair(root: Path) -> None:
    from toolkit.data.video import write_video

    for i, name in enumerate(("a/v0", "b/v1")):
        write_video(root / f"{name}.mkv", moving_frames(2, H, W, seed=i), fps=2)
    (root / "train.txt").write_text("a/v0.mkv 0\n")
    (root / "test.txt").write_text("b/v1.mkv 1\n")
