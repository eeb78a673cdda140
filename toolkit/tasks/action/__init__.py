"""Action recognition on decoded video: TSM (mmaction2) in the two settings of Table 8.

``train``: fit on a decoded source, evaluate on ``raw``; ``test``: fit on ``raw`` once,
evaluate on each decoded source. See docs/action_recognition.md.
"""

from toolkit.tasks.action.experiment import FitResult, RunOptions, evaluate, fit, run, run_plan
from toolkit.tasks.action.gather import GatherReport, ResultTable, build_table, gather, load_results
from toolkit.tasks.action.layout import (REFERENCE_SOURCE, SETTING_CHOICES, SETTINGS, ActionError,
                                         RunPlan, WorkLayout, default_work_root, plan_runs)

__all__ = [
    "ActionError", "FitResult", "GatherReport", "REFERENCE_SOURCE", "ResultTable", "RunOptions",
    "RunPlan", "SETTINGS", "SETTING_CHOICES", "WorkLayout", "build_table", "default_work_root",
    "evaluate", "fit", "gather", "load_results", "plan_runs", "run", "run_plan",
]
