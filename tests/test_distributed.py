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
