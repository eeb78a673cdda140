"""Runner hooks of the fitting stage."""

from __future__ import annotations

import time
from pathlib import Path

from mmengine.hooks import Hook

from toolkit.registry import HOOKS


@HOOKS.register_module()
class FitTimeLimit(Hook):
    """End a fit at the first epoch boundary after ``seconds`` of training.

    For runs that must finish inside a fixed time (a lent GPU, a queue slot): the fit stops
    cleanly, its network is kept as the fit's result, and ``fit.json`` records the epochs
    it ran, so a result is never lost to a kill. The learning-rate schedule is then not
    completed: a checkpoint of the epoch it stopped at is saved, from which ``--resume``
    continues the fit to its planned epochs (a job longer than one time slot runs in
    several).
    """

    priority = "LOWEST"

    def __init__(self, seconds: float):
        if seconds <= 0:
            raise ValueError(f"FitTimeLimit needs seconds > 0, got {seconds}")
        self.seconds = seconds
        self.start = None

    def before_train(self, runner) -> None:
        self.start = time.time()

    def after_train_epoch(self, runner) -> None:
        done = runner.epoch + 1  # the loop counts this epoch after its hooks
        if time.time() - self.start >= self.seconds and done < runner.max_epochs:
            runner.logger.warning(f"fit time limit of {self.seconds:.0f} s reached: stopping after "
                                  f"epoch {done} of {runner.max_epochs}")
            runner.train_loop.stop_training = True
            name = f"epoch_{done}.pth"
            if not (Path(runner.work_dir) / name).is_file():  # the checkpoint hook's interval missed it
                runner.save_checkpoint(runner.work_dir, name, save_optimizer=True,
                                       save_param_scheduler=True)


@HOOKS.register_module()
class FitClock(Hook):
    """The fit's training seconds, carried through checkpoints.

    The seconds run so far are stored in every checkpoint's ``meta`` and read back when a
    fit resumes, so a fit interrupted and resumed reports the time of all its runs (up to
    the checkpoint it resumed from: epochs redone after it count once).
    """

    META_KEY = "fit_seconds"
    priority = "VERY_HIGH"

    def __init__(self):
        self.before = 0.0  # seconds of earlier runs, from the resumed checkpoint
        self.start = None

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        self.before = float(checkpoint.get("meta", {}).get(self.META_KEY, 0.0))

    def before_train(self, runner) -> None:
        self.start = time.time()

    def seconds(self) -> float:
        return self.before + (time.time() - self.start if self.start is not None else 0.0)

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        checkpoint.setdefault("meta", {})[self.META_KEY] = self.seconds()
