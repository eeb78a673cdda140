"""Fits take the Runner's own keys (fit.optim_wrapper, fit.param_scheduler, fit.default_hooks)
from the config when set, and derive them from the short fit keys otherwise."""

from __future__ import annotations

import json
import re

import pytest
import torch
from mmengine.hooks import Hook

from test_compress import data_root, run_tool  # noqa: F401  (the fixture and the tool runner)
from toolkit.engine.config import ConfigError, find_config, load_config
from toolkit.engine.fit import (autocast_of, fit_fingerprint, fit_precision, float32_precision,
                                runner_keys, tf32_flags)
from toolkit.registry import HOOKS


def _fit(*options, **overrides):
    overrides.update(dict(o.split("=", 1) for o in options))
    return load_config(find_config("compress", "nerv"), overrides).fit


def test_derived_schedule_follows_max_epochs_from_cfg_options():
    keys = runner_keys(_fit(**{"fit.max_epochs": 10}), on_gpu=False)
    warmup, cosine = keys["param_scheduler"]
    assert (warmup["type"], warmup["end"]) == ("LinearLR", 2)
    assert (cosine["type"], cosine["begin"], cosine["end"], cosine["T_max"]) == ("CosineAnnealingLR", 2, 10, 8)
    assert keys["optim_wrapper"]["type"] == "OptimWrapper"
    assert keys["optim_wrapper"]["optimizer"]["type"] == "Adam"
    assert keys["default_hooks"]["checkpoint"]["interval"] == 25


def test_explicit_runner_keys_override_the_derived_ones():
    fit = _fit(**{"fit.optim_wrapper.accumulative_counts": 2,
                  "fit.optim_wrapper.optimizer.lr": 1e-3,
                  "fit.param_scheduler": [dict(type="ConstantLR", factor=1.0, by_epoch=True)],
                  "fit.default_hooks.checkpoint.max_keep_ckpts": 5,
                  "fit.default_hooks.logger": None})
    keys = runner_keys(fit, on_gpu=True)
    wrapper = keys["optim_wrapper"]
    assert wrapper["type"] == "AmpOptimWrapper" and wrapper["accumulative_counts"] == 2
    assert wrapper["optimizer"] == dict(type="Adam", lr=1e-3, betas=(0.5, 0.999))
    assert keys["param_scheduler"] == [dict(type="ConstantLR", factor=1.0, by_epoch=True)]
    assert keys["default_hooks"]["checkpoint"] == dict(
        type="CheckpointHook", interval=25, max_keep_ckpts=5, save_last=True)
    # None reaches mmengine, which then leaves its own LoggerHook out too
    assert keys["default_hooks"]["logger"] is None and "timer" in keys["default_hooks"]


@pytest.mark.parametrize("amp, loss_scale", [("bfloat16", dict(enabled=False)), ("float16", None)])
def test_bf16_autocast_has_no_loss_scaler(amp, loss_scale):
    """float16 needs dynamic loss scaling; bf16 does not, and its scaler's inf check would
    read a flag back from the GPU at every step."""
    wrapper = runner_keys(_fit(**{"fit.amp": amp}), on_gpu=True)["optim_wrapper"]
    assert wrapper["type"] == "AmpOptimWrapper" and wrapper.get("loss_scale") == loss_scale


def test_misspelt_runner_key_is_refused():
    with pytest.raises(ConfigError, match="fit has no key 'optim_wraper'"):
        _fit(**{"fit.optim_wraper.accumulative_counts": 2})


def test_unset_runner_keys_leave_the_fingerprint_as_before():
    """Fits made before fit.optim_wrapper/param_scheduler existed are still reused."""
    from mmengine.config import ConfigDict

    def fingerprint_fit(fit):
        cfg = ConfigDict(fit=fit, codec=dict(type="nerv"))
        return fit_fingerprint(cfg, type("Job", (), {"network": {}})(), {}, {})["fit"]

    plain = fingerprint_fit(_fit())
    assert not {"optim_wrapper", "param_scheduler", "default_hooks", "tf32"} & set(plain)
    assert "param_scheduler" in fingerprint_fit(
        _fit(**{"fit.param_scheduler": [dict(type="ConstantLR", factor=1.0)]}))
    # IEEE or TF32 arithmetic fits another network: a fit with tf32 set is not one without
    assert fingerprint_fit(_fit(**{"fit.tf32": False}))["tf32"] is False


def _tf32_flags():
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("tf32", [False, True])
def test_float32_precision_sets_both_flags_and_restores_them(tf32):
    before = _tf32_flags()
    with float32_precision(tf32):
        assert _tf32_flags() == (tf32, tf32)
    assert _tf32_flags() == before
    with pytest.raises(RuntimeError, match="fit died"):
        with float32_precision(tf32):
            raise RuntimeError("fit died")
    assert _tf32_flags() == before
    with float32_precision(None):
        assert _tf32_flags() == before


@pytest.mark.parametrize("value", ["ieee", 1, 0.0])
def test_fit_tf32_other_than_none_true_or_false_is_refused(value):
    with pytest.raises(ConfigError, match=f"fit.tf32 is {value!r}"):
        with float32_precision(value):
            pass


def test_fit_precision_says_autocast_or_how_float32_rounds():
    assert fit_precision("bfloat16", (True, False)) == "bfloat16 autocast"
    assert fit_precision(None, None) == "float32"  # no TF32 on this device
    assert fit_precision(None, (True, False)) == "float32 (convolutions TF32, matmuls IEEE)"
    assert fit_precision(None, (False, False)) == "float32 (convolutions IEEE, matmuls IEEE)"


def test_tf32_flags_are_read_on_a_gpu_that_has_tf32(monkeypatch):
    assert tf32_flags() is None  # the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (7, 5))  # an RTX 2080 Ti
    assert tf32_flags() is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (9, 0))
    with float32_precision(False):
        assert tf32_flags() == (False, False)
    with float32_precision(True):
        assert tf32_flags() == (True, True)


def test_autocast_of_reads_the_wrapper_the_fit_ran_with():
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    assert autocast_of(OptimWrapper(optimizer)) is None
    amp = object.__new__(AmpOptimWrapper)  # building one needs a GPU; only its dtype is read
    amp.cast_dtype = torch.bfloat16
    assert autocast_of(amp) == "bfloat16"
    amp.cast_dtype = None  # AmpOptimWrapper's default: float16 autocast
    assert autocast_of(amp) == "float16"


class RecordTF32Flags(Hook):
    """Test hook: the TF32 flags as training sees them."""

    seen: list = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        RecordTF32Flags.seen.append(_tf32_flags())


HOOKS.register_module(module=RecordTF32Flags, force=True)


def test_fit_runs_under_fit_tf32_and_records_its_precision(data_root, tmp_path):  # noqa: F811
    RecordTF32Flags.seen = []
    before = _tf32_flags()
    config = tmp_path / "ieee.py"
    config.write_text(f"_base_ = [{str(find_config('compress', 'nerv'))!r}]\n"
                      "fit = dict(tf32=False, custom_hooks=[dict(type='RecordTF32Flags')])\n")
    work = tmp_path / "nerv"
    assert run_tool(data_root, "nerv", work, str(config)) == 0
    assert RecordTF32Flags.seen and set(RecordTF32Flags.seen) == {(False, False)}
    assert _tf32_flags() == before  # the process keeps its own setting after the fit
    results = json.loads((work / "results.json").read_text())
    assert results["fit_precision"] == "float32"  # the CPU has no autocast default and no TF32
    fit_json = json.loads((work / "fit" / "shared" / "fit.json").read_text())
    assert fit_json["precision"] == "float32"


def test_runner_keys_reach_the_runner(data_root, tmp_path):  # noqa: F811
    """A constant learning rate and one kept checkpoint, set in a config that inherits nerv's."""
    config = tmp_path / "constant_lr.py"
    config.write_text(
        f"_base_ = [{str(find_config('compress', 'nerv'))!r}]\n"
        "fit = dict(param_scheduler=[dict(type='ConstantLR', factor=1.0, by_epoch=True)],\n"
        "           default_hooks=dict(checkpoint=dict(max_keep_ckpts=1)))\n")
    work = tmp_path / "nerv"
    assert run_tool(data_root, "nerv", work, str(config), "fit.max_epochs=3",
                    "fit.checkpoint_interval=1", "fit.log_interval=1") == 0
    fit_dir = work / "fit" / "shared"
    assert [p.name for p in fit_dir.glob("epoch_*.pth")] == ["epoch_3.pth"]
    log = "".join(p.read_text() for p in fit_dir.glob("*/*.log"))
    assert "lr: 5.0000e-04" in log and "lr: 5.0000e-05" not in log  # no warmup from 0.1 x lr


@pytest.mark.parametrize("key", ["tf32", "sync_each_step"])
def test_fit_switch_bad_value_stops_before_the_fit_directory(data_root, tmp_path, capsys,  # noqa: F811
                                                             key):
    work = tmp_path / "nerv"
    assert run_tool(data_root, "nerv", work, f"fit.{key}=1") != 0
    err = capsys.readouterr().err.strip()
    assert f"fit.{key} is 1" in err and err.count("\n") == 0
    assert not (work / "fit").exists()


class RecordLosses(Hook):
    """Test hook: each step's losses as the model returned them (it runs first), and what the
    message hub's ``train/loss`` holds after RuntimeInfoHook has run (``after``)."""

    priority = "HIGHEST"
    steps: list = []
    hub: list = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RecordLosses.steps.append((runner.epoch, batch_idx, len(runner.train_dataloader),
                                   float(outputs["loss"])))


class RecordHub(Hook):
    priority = "LOWEST"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        history = runner.message_hub.log_scalars.get("train/loss")
        RecordLosses.hub.append(list(history.data[0]) if history is not None else [])


HOOKS.register_module(module=RecordLosses, force=True)
HOOKS.register_module(module=RecordHub, force=True)


@pytest.mark.parametrize("how", ["logged every 3", "synced", "no logger"])
def test_losses_reach_the_message_hub_when_logged_not_every_step(data_root, tmp_path,  # noqa: F811
                                                                  how):
    """Without fit.sync_each_step the losses stay on the device between the logger's prints
    (at its own interval; without a logger, once an epoch): the hub gets one value per
    period, the mean of that period's steps, and the log prints each period's."""
    RecordLosses.steps, RecordLosses.hub = [], []
    config = tmp_path / "record.py"
    config.write_text(f"_base_ = [{str(find_config('compress', 'nerv'))!r}]\n"
                      "fit = dict(custom_hooks=[dict(type='RecordLosses'), dict(type='RecordHub')])\n")
    work = tmp_path / "nerv"
    options = {"logged every 3": ["fit.default_hooks.logger.interval=3", "fit.log_interval=5"],
               "synced": ["fit.log_interval=3", "fit.sync_each_step=True"],
               "no logger": ["fit.default_hooks.logger=None", "fit.log_interval=3"]}[how]
    assert run_tool(data_root, "nerv", work, str(config), "fit.max_epochs=2", "fit.batch_size=1",
                    *options) == 0
    steps, hub = RecordLosses.steps, RecordLosses.hub
    per_epoch = steps[0][2]
    assert per_epoch > 3 and per_epoch % 3 and len(steps) == 2 * per_epoch == len(hub)
    log = "".join(p.read_text() for p in (work / "fit" / "shared").glob("*/*.log"))
    printed_losses = [float(x) for x in re.findall(r" loss: ([0-9.e+-]+)", log)]
    if how == "synced":
        assert hub[-1] == pytest.approx([s[3] for s in steps])
        return
    every = 3 if how == "logged every 3" else per_epoch + 1
    printed = [i for i, (_, b, n, _) in enumerate(steps) if (b + 1) % every == 0 or b + 1 == n]
    expected, start = [], 0
    for i in printed:
        period = [s[3] for s in steps[start:i + 1]]
        expected.append(sum(period) / len(period))
        start = i + 1
    assert hub[-1] == pytest.approx(expected, rel=1e-6)
    grew = [i for i in range(len(hub)) if len(hub[i]) > (len(hub[i - 1]) if i else 0)]
    assert grew == printed  # nothing reached the hub between prints
    # the logger prints every third step, not an epoch's last (LoggerHook's ignore_last)
    by_logger = [e for i, e in zip(printed, expected) if (steps[i][1] + 1) % 3 == 0]
    assert printed_losses == pytest.approx(by_logger if how == "logged every 3" else [], abs=1e-4)


@pytest.mark.parametrize("sync_each_step", [False, True])
def test_on_a_gpu_batches_come_pinned_and_are_copied_without_blocking(monkeypatch, tmp_path,
                                                                      sync_each_step):
    from types import SimpleNamespace

    from toolkit.engine.fit import runner_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = load_config(find_config("compress", "nerv"), {"fit.sync_each_step": sync_each_step})
    codec = SimpleNamespace(name="nerv", fit_model="NeRVFitModel")
    job = SimpleNamespace(name="shared", network=dict(type="NeRV"))
    runner = runner_config(cfg, codec, job, tmp_path, dict(type="SourceFrames"))
    hooks = [h["type"] for h in runner.custom_hooks]
    assert runner.train_dataloader.pin_memory is not sync_each_step
    assert runner.model.data_preprocessor.non_blocking is not sync_each_step
    assert ("LossReadAtLogging" in hooks) is not sync_each_step
