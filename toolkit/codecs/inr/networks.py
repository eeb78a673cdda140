"""The INR networks, registered in MODELS by class name so configs and bitstream headers can name them."""

from __future__ import annotations

from torch import nn

from toolkit.codecs.inr.dnerv import DNeRV
from toolkit.codecs.inr.ffnerv import FFNeRV
from toolkit.codecs.inr.nerv import NeRV
from toolkit.registry import MODELS

for _network in (NeRV, DNeRV, FFNeRV):
    MODELS.register_module(module=_network)


def network_class(name: str) -> type[nn.Module]:
    """The network class registered in MODELS as ``name``; a KeyError lists the known ones."""
    # module_dict, not MODELS.get: no scope switch, no importing of registry locations
    cls = MODELS.module_dict.get(name) if isinstance(name, str) else None
    if cls is None:
        raise KeyError(f"unknown network type {name!r}; known: {', '.join(sorted(MODELS.module_dict))}")
    return cls


def build_network(cfg: dict) -> nn.Module:
    """Build an INR network from ``{"type": "NeRV" | "DNeRV" | "FFNeRV", **kwargs}``, looked up
    in MODELS directly (not MODELS.build, whose lookup follows the current default scope)."""
    cfg = dict(cfg)
    return network_class(cfg.pop("type", None))(**cfg)
