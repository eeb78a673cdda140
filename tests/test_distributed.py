"""Process placement helpers for torchrun (the multi-process paths run in test_compress)."""

from __future__ import annotations

import torch

from toolkit.engine import distributed


def test_local_rank_is_mapped_onto_the_visible_gpus(monkeypatch):
    """12 processes on 3 GPUs: mmengine's logger indexes the visible GPUs by LOCAL_RANK."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setenv("LOCAL_RANK", "7")
    distributed.fit_local_rank_to_gpus()
    assert distributed.launch_env()[1] == 1


def test_local_rank_is_left_alone_without_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "7")
    distributed.fit_local_rank_to_gpus()
    assert distributed.launch_env()[1] == 7


def test_legacy_local_rank_argument_reaches_the_environment(monkeypatch):
    """torch.distributed.launch passes --local-rank; mmengine reads LOCAL_RANK."""
    import argparse

    from toolkit.engine.config import add_runner_arguments, parse_runner_args

    parser = argparse.ArgumentParser()
    add_runner_arguments(parser, "fit.max_epochs=5")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    args = parse_runner_args(parser, ["--local_rank", "3", "--launcher", "pytorch",
                                      "--cfg-options", "fit.max_epochs=5"])
    assert args.cfg_options == {"fit.max_epochs": 5} and args.launcher == "pytorch"
    assert distributed.launch_env()[1] == 3
