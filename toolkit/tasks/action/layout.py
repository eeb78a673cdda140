"""The two evaluation settings of Table 8 and where each run writes.

- ``train`` setting of source X: TSM fitted on X's train list, evaluated on ``raw``.
- ``test`` setting of source X: TSM fitted on ``raw`` (once, shared by every X),
  evaluated on X's test list.

A *work root* holds::

    fit_<source>/            mmengine work dir of the fit on <source>'s train list
                             (epoch_N.pth, last_checkpoint, logs, fit.json)
    train_<source>/results.json   train setting of <source>: fit_<source> on raw
    test_<source>/results.json    test setting of <source>: fit_raw on <source>

``fit_raw`` serves the test setting of every source and the train setting of ``raw``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REFERENCE_SOURCE = "raw"
SETTINGS = ("train", "test")
SETTING_CHOICES = (*SETTINGS, "both")
RESULTS_FILE = "results.json"
FIT_FILE = "fit.json"


class ActionError(ValueError):
    """An action-recognition run cannot go ahead as asked (bad config, stale work dir, ...)."""


@dataclass(frozen=True)
class RunPlan:
    """One (source, setting) cell of the table: which source is fitted, which evaluated."""

    setting: str
    source: str
    fit_source: str
    eval_source: str

    @classmethod
    def for_setting(cls, source: str, setting: str) -> "RunPlan":
        if setting == "train":
            return cls(setting, source, fit_source=source, eval_source=REFERENCE_SOURCE)
        if setting == "test":
            return cls(setting, source, fit_source=REFERENCE_SOURCE, eval_source=source)
        raise ActionError(f"unknown setting {setting!r}; use one of {', '.join(SETTINGS)}")


def plan_runs(source: str, setting: str) -> list[RunPlan]:
    """The runs of ``--setting train|test|both`` for one source, in order."""
    if setting not in SETTING_CHOICES:
        raise ActionError(f"unknown setting {setting!r}; use one of {', '.join(SETTING_CHOICES)}")
    settings = SETTINGS if setting == "both" else (setting,)
    return [RunPlan.for_setting(source, s) for s in settings]


def default_work_root(data_root) -> Path:
    """``work_dirs/tsm/<dataset-root-name>`` (relative to the current directory)."""
    return Path("work_dirs") / "tsm" / Path(data_root).resolve().name


@dataclass(frozen=True)
class WorkLayout:
    """Paths under a work root (see the module docstring)."""

    root: Path

    def fit_dir(self, fit_source: str) -> Path:
        return self.root / f"fit_{fit_source}"

    def eval_dir(self, plan: RunPlan) -> Path:
        return self.root / f"{plan.setting}_{plan.source}"

    def results_path(self, plan: RunPlan) -> Path:
        return self.eval_dir(plan) / RESULTS_FILE

    def results_files(self) -> list[Path]:
        """Every finished run's results.json under the root."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob(f"*/{RESULTS_FILE}")
                      if p.parent.name.startswith(tuple(f"{s}_" for s in SETTINGS)))
