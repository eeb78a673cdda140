"""Loading the tools' mmengine configs, with clear errors for wrong keys."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: Top-level keys that hold a codec's recipe (configs/_base_/recipes/), from which config files
#: build their ``codec`` and ``fit``: the tools never read them, so :func:`load_config` drops
#: them, and an override of one (which would change nothing) is refused.
RECIPE_PREFIX = "recipe_"


class ConfigError(ValueError):
    """A config file or an override is wrong."""


def find_config(group: str, name: str) -> Path:
    """``configs/<group>/<name>.py``; unknown names list what exists."""
    path = REPO_CONFIGS / group / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in (REPO_CONFIGS / group).glob("*.py"))
        raise ConfigError(f"unknown {group} config {name!r}; available: {', '.join(known)}")
    return path


def load_config(path, overrides: dict | None = None, extra_keys: tuple[str, ...] = (),
                open_keys: tuple[str, ...] = ()):
    """Load a config file, less its recipes (:data:`RECIPE_PREFIX`), and apply
    ``--cfg-options`` overrides, checked by :func:`check_overrides` (a typo would otherwise be
    silently ignored)."""
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    cfg = Config.fromfile(str(path))
    for key in [k for k in cfg.keys() if k.startswith(RECIPE_PREFIX)]:
        cfg.pop(key)
    if overrides:
        check_overrides(cfg, overrides, path.name, extra_keys=extra_keys, open_keys=open_keys)
        merge_overrides(cfg, overrides)
    return cfg


def check_overrides(cfg, overrides: dict, config_name: str, *, extra_keys: tuple[str, ...] = (),
                    open_keys: tuple[str, ...] = ()) -> None:
    """Refuse an override whose key the config does not have, at any depth.

    A dotted key must name an existing entry, except: a new key inside a dict with a
    ``type`` (an object built from a registry) must be an argument of that type's
    constructor (passed when the constructor cannot be found or takes open ``**kwargs``);
    a key under an entry that is None fills in an optional part; keys under ``open_keys``
    (dotted patterns, ``*`` matching one component) are checked by the tool itself.
    ``extra_keys`` are top-level keys the tool accepts besides the file's. Indices into
    lists (``param_scheduler.0.end``) must exist. A dict value is checked key by key (it is
    merged into the entry), unless it has ``_delete_=True``.
    """
    for key, value in overrides.items():
        _check_key(cfg, key.split("."), value, config_name, extra_keys, open_keys)


def _is_mapping(node) -> bool:
    """A dict, a ConfigDict or an mmengine Config (which is dict-like, not a dict)."""
    return isinstance(node, dict) or (hasattr(node, "keys") and hasattr(node, "__getitem__"))


def _is_open(parts: list[str], open_keys: tuple[str, ...]) -> bool:
    from fnmatch import fnmatchcase

    for pattern in open_keys:
        wanted = pattern.split(".")
        if len(wanted) <= len(parts) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted)):
            return True
    return False


def _check_key(cfg, parts: list[str], value, config_name: str, extra_keys: tuple[str, ...],
               open_keys: tuple[str, ...]) -> None:
    key, node = ".".join(parts), cfg
    if parts[0].startswith(RECIPE_PREFIX):
        raise ConfigError(f"config key {key!r} for {config_name}: {parts[0]} is a recipe the "
                          f"config file has already built its settings from; override those "
                          f"instead (e.g. fit.optimizer.lr, models.<name>.fit.optimizer.lr)")
    for depth, part in enumerate(parts):
        if _is_open(parts[:depth + 1], open_keys):
            return
        parent = ".".join(parts[:depth]) or "the top level"
        if node is None:
            return
        if _is_mapping(node):
            if part in node:
                node = node[part]
                continue
            if depth == 0 and part in extra_keys:
                return
            if "type" in node:
                takes = _arguments_of(node["type"], cfg.get("default_scope"))
                if takes is None or part in takes:
                    return
                raise ConfigError(f"unknown config key {key!r} for {config_name}: "
                                  f"{parent} ({_type_name(node['type'])}) takes no argument "
                                  f"{part!r} (it takes: {', '.join(sorted(takes))})")
            known = ", ".join(sorted(str(k) for k in node.keys()))
            raise ConfigError(f"unknown config key {key!r} for {config_name}: {parent} has no "
                              f"key {part!r} (its keys: {known})")
        if isinstance(node, list) and part.isdigit():
            if int(part) >= len(node):
                raise ConfigError(f"config key {key!r} for {config_name}: {parent} has only "
                                  f"{len(node)} items")
            node = node[int(part)]
            continue
        raise ConfigError(f"config key {key!r} for {config_name}: {parent} is "
                          f"{type(node).__name__} {node!r}, not a dict, so it has no key "
                          f"{part!r}; set {parent} as a whole")
    if isinstance(value, dict) and _is_mapping(node) and not value.get("_delete_"):
        for sub_key, sub_value in value.items():  # merged into the entry, not replacing it
            _check_key(cfg, [*parts, str(sub_key)], sub_value, config_name, extra_keys,
                       open_keys)


def _type_name(obj) -> str:
    return obj if isinstance(obj, str) else getattr(obj, "__name__", repr(obj))


def _arguments_of(obj, scope) -> set[str] | None:
    """The keyword arguments a config dict's ``type`` takes (a class or function, or its name
    in an mmengine registry under ``scope``); None when unknown (not found, or ``**kwargs``
    that reach no fixed signature), which the check then lets pass."""
    import inspect

    if isinstance(obj, str):
        found = [o for o in _registered(obj, scope) if o is not None]
        arguments = [_arguments_of(o, scope) for o in found]
        if not arguments or any(a is None for a in arguments):
            return None
        return set().union(*arguments)
    names: set[str] = set()
    if inspect.isclass(obj):
        chain = [k.__dict__["__init__"] for k in obj.__mro__
                 if "__init__" in k.__dict__ and k is not object]
    elif callable(obj):
        chain = [obj]
    else:
        return None
    for function in chain:  # a class's __init__, then its bases' while **kwargs go on
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in parameters if p.name != "self"
                  and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names
    return None


def _registered(name: str, scope) -> list:
    """What ``name`` is in each of mmengine's root registries, seen from ``scope``."""
    import logging

    import mmengine.runner  # noqa: F401  (registers mmengine's loops, hooks, optimizers, ...)
    from mmengine import registry as registries
    from mmengine.logging import MMLogger

    found = []
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # switching scope logs a warning per registry without it
    try:
        for registry in vars(registries).values():
            if isinstance(registry, registries.Registry) and registry.parent is None:
                try:
                    with registry.switch_scope_and_registry(scope or "mmengine") as scoped:
                        found.append(scoped.get(name))
                except Exception:  # a registry that cannot look the name up: not there
                    continue
    finally:
        logger.setLevel(level)
    return found


def merge_overrides(cfg, overrides: dict) -> None:
    """``cfg.merge_from_dict(overrides)``, where a key under an entry that is None (an
    optional part, e.g. ``fit.clip_grad.max_norm=1``) fills that entry in."""
    from mmengine.config import ConfigDict

    for key in overrides:
        parts, node = key.split("."), cfg
        for part in parts[:-1]:
            if not _is_mapping(node) or part not in node:
                break
            if node[part] is None:
                node[part] = ConfigDict()
            node = node[part]
    cfg.merge_from_dict(overrides)


def positive(value, key: str, *, integer: bool = False, optional: bool = False):
    """``value`` if it is a positive finite number (a whole one with ``integer``); None
    passes when ``optional``. A :class:`ConfigError` naming ``key`` otherwise."""
    import math
    import numbers

    if value is None and optional:
        return None
    kind = numbers.Integral if integer else numbers.Real
    if (isinstance(value, bool) or not isinstance(value, kind)
            or not math.isfinite(value) or value <= 0):
        what = "a whole number >= 1" if integer else "a positive number"
        raise ConfigError(f"{key} must be {what}{' or None' if optional else ''}, got {value!r}")
    return value


def add_runner_arguments(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``: the tools that run Runners."""
    from mmengine.config import DictAction

    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help=f"override config entries, key=value (e.g. {cfg_example})")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none",
                        help="job launcher (pytorch under torchrun)")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0,
                        help="set by torch.distributed.launch (torchrun sets LOCAL_RANK instead)")
    parser.add_argument("--verbose", action="store_true",
                        help="print mmengine's config, hook tables and log lines on the terminal "
                             "too (they always go to the work dir's log)")


def parse_runner_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse; the legacy launcher's ``--local-rank`` becomes LOCAL_RANK, which mmengine reads."""
    from toolkit.engine.console import set_console_verbosity

    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    set_console_verbosity(args.verbose)
    return args


def build_codec(codec_cfg: dict):
    """Any codec from ``{"type": name, **arguments}`` (see toolkit.registry.CODECS)."""
    import toolkit.codecs.classical  # noqa: F401  (registers h264 and hevc)
    import toolkit.codecs.inr.codec  # noqa: F401  (registers nerv, dnerv and ffnerv)
    from toolkit.registry import CODECS

    cfg = dict(codec_cfg)
    name = cfg.pop("type", None)
    if name not in CODECS.module_dict:
        raise KeyError(f"unknown codec {name!r}; available: {', '.join(sorted(CODECS.module_dict))}")
    try:
        return CODECS.get(name)(**cfg)
    except (TypeError, ValueError) as exc:  # an unknown key or a bad value in codec=dict(...)
        raise ConfigError(f"codec {name!r}: {exc}") from None
