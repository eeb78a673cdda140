"""Loading the tools' mmengine configs, with clear errors for wrong keys."""

from __future__ import annotations

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
