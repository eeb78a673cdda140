"""The project's Python sources compile without a warning: Python 3.12 (the GPU machines')
prints a SyntaxWarning for an invalid escape such as ``\\ `` in a docstring each time the
module is compiled, and later versions make it an error."""

from __future__ import annotations

import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("toolkit", "tools", "benchmarks", "configs", "tests")


def test_every_source_compiles_without_a_warning():
    files = sorted(p for folder in SOURCES for p in (REPO / folder).rglob("*.py"))
    assert len(files) > 50
    warned = []
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(), str(path), "exec")
            except (SyntaxError, SyntaxWarning, DeprecationWarning) as error:
                warned.append(f"{path.relative_to(REPO)}: {error}")
    assert not warned, warned
