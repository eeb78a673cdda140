"""The INR networks, registered by type name so configs and bitstream headers can name them."""

from __future__ import annotations

from torch import nn

from toolkit.codecs.inr.dnerv import DNeRV
from toolkit.codecs.inr.ffnerv import FFNeRV
from toolkit.codecs.inr.nerv import NeRV
from toolkit.registry import MODELS

NETWORKS = {cls.__name__: MODELS.register_module(module=cls) for cls in (NeRV, DNeRV, FFNeRV)}


def build_network(cfg: dict) -> nn.Module:
    """Build an INR network from ``{"type": "NeRV" | "DNeRV" | "FFNeRV", **kwargs}``."""
    cfg = dict(cfg)
    name = cfg.pop("type", None)
    if name not in NETWORKS:
        raise KeyError(f"unknown network type {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[name](**cfg)
