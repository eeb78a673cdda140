"""Narrow fixes for known defects of the upstream stack.

Each fix checks for its defect and does nothing when the defect is absent. All are
installed by :func:`apply`, which ``import toolkit`` calls, so they also hold in
DataLoader worker processes: forked workers inherit them, and spawned workers
re-import the main module (a tool, which imports ``toolkit``) or unpickle toolkit
objects first.

1. mmaction2 1.2.0 on PyPI lacks ``mmaction/models/localizers/drn`` (upstream
   issue open-mmlab/mmaction2#2714), so ``import mmaction.models`` fails. A
   meta-path finder placed *after* the normal finders supplies a stub module only
   when the real one cannot be found; using the stub ``DRN`` raises a clear error.
2. ``transformers`` >= 5 removed ``apply_chunking_to_forward``, which
   ``mmaction.models.multimodal`` imports. When such a version is installed the
   multimodal models are switched off as mmaction2 does when transformers is
   missing (``mmaction.utils.dependency.WITH_MULTIMODAL = False``).
3. torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine's
   checkpoints hold a ``HistoryBuffer`` (whose bound methods pickle through
   ``getattr``) and numpy scalars/arrays in their message hub, so ``resume`` and
   ``load_from`` fail. mmengine's local checkpoint loader is re-registered to load
   inside ``torch.serialization.safe_globals`` with exactly those classes: still
   ``weights_only``, and the wider allowlist applies to mmengine's loader only,
   not to other ``torch.load`` calls.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types

_DRN_MODULES = ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn")
_DEPENDENCY_MODULE = "mmaction.utils.dependency"


class _StubDRN:
    """Placeholder for mmaction2's DRN localizer, which the PyPI wheel lacks."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "mmaction2's DRN localizer is missing from the installed mmaction2 1.2.0 "
            "(upstream issue #2714); install mmaction2 from source to use it")


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__.endswith(".drn.drn"):
            module.DRN = _StubDRN
        else:
            module.__path__ = []


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then switches multimodal models off."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.WITH_MULTIMODAL = False


def _transformers_major() -> int | None:
    try:
        return int(importlib.metadata.version("transformers").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


class _LateFinder(importlib.abc.MetaPathFinder):
    """Consulted after the standard finders: it only answers for missing DRN files."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in _DRN_MODULES:
            return importlib.machinery.ModuleSpec(
                fullname, _StubLoader(), is_package=not fullname.endswith(".drn.drn"))
        return None


class _EarlyFinder(importlib.abc.MetaPathFinder):
    """Consulted first: wraps the loader of mmaction's dependency flags."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _DEPENDENCY_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def _install_import_fixes() -> None:
    if not any(isinstance(f, _LateFinder) for f in sys.meta_path):
        sys.meta_path.append(_LateFinder())
    major = _transformers_major()
    if major is not None and major >= 5:
        loaded = sys.modules.get(_DEPENDENCY_MODULE)
        if loaded is not None:
            loaded.WITH_MULTIMODAL = False
        elif not any(isinstance(f, _EarlyFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _EarlyFinder())


def _checkpoint_safe_globals() -> list:
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = [type(np.dtype(t)) for t in
              ("float64", "float32", "float16", "int64", "int32", "uint8", "bool")]
    return [HistoryBuffer, getattr, _reconstruct, scalar, np.ndarray, np.dtype, *dtypes]


def _load_mmengine_checkpoint(filename, map_location):
    """mmengine's local loader, weights_only with mmengine's own classes allowed."""
    import os.path as osp

    import torch

    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"{filename}: checkpoint not found")
    with torch.serialization.safe_globals(_checkpoint_safe_globals()):
        return torch.load(filename, map_location=map_location, weights_only=True)


def _install_checkpoint_fix() -> None:
    import torch

    if not hasattr(torch.serialization, "safe_globals"):
        return  # torch < 2.5 loads these checkpoints without a fix
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes="", force=True)(_load_mmengine_checkpoint)


_applied = False


def apply() -> None:
    """Install every fix once per process (idempotent)."""
    global _applied
    if _applied:
        return
    _install_import_fixes()
    _applied = True


def apply_checkpoint_fix() -> None:
    """Let mmengine load its own checkpoints under ``weights_only`` (see fix 3).

    Kept separate from :func:`apply` because it imports torch and mmengine; tools
    that resume or load checkpoints call it.
    """
    _install_checkpoint_fix()


def register_mmaction() -> types.ModuleType:
    """Import mmaction2's models and register all its modules (scope ``mmaction``)."""
    apply()
    if importlib.util.find_spec("mmaction") is None:
        raise ImportError("mmaction2 is not installed; run: pip install --no-deps mmaction2==1.2.0 "
                          "(--no-deps keeps a single OpenCV, see README)")
    from mmaction.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    return sys.modules["mmaction"]
