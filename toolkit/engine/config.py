"""Loading the tools' mmengine configs, with clear errors for wrong keys."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class ConfigError(ValueError):
    """A config file or an override is wrong."""


def find_config(group: str, name: str) -> Path:
    """``configs/<group>/<name>.py``; unknown names list what exists."""
    path = REPO_CONFIGS / group / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in (REPO_CONFIGS / group).glob("*.py"))
        raise ConfigError(f"unknown {group} config {name!r}; available: {', '.join(known)}")
    return path


def load_config(path, overrides: dict | None = None, extra_keys: tuple[str, ...] = ()):
    """Load a config file and apply ``--cfg-options`` overrides.

    An override whose first key the config does not define is refused (a typo would
    otherwise be silently ignored); ``extra_keys`` are accepted in addition.
    """
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    cfg = Config.fromfile(str(path))
    for key in overrides or {}:
        top = key.split(".")[0]
        if top not in cfg and top not in extra_keys:
            raise ConfigError(f"unknown config key {key!r} for {path.name}; top-level keys: "
                              f"{', '.join(sorted(cfg.keys()))}")
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg


def add_runner_arguments(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``: the tools that run Runners."""
    from mmengine.config import DictAction

    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help=f"override config entries, key=value (e.g. {cfg_example})")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher (pytorch under torchrun)")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0,
                        help="set by torch.distributed.launch (torchrun sets LOCAL_RANK instead)")


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse; the legacy launcher's ``--local-rank`` becomes LOCAL_RANK, which mmengine reads."""
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args
