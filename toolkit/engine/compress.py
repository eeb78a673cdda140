"""Moved: the compression stage is :mod:`toolkit.tasks.compress` (kept for the tools' import)."""

from toolkit.tasks.compress import compress_source  # noqa: F401
