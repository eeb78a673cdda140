"""Runner hooks of the fitting stage."""

from __future__ import annotations

import time
from pathlib import Path

import torch
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


@HOOKS.register_module()
class LossReadAtLogging(Hook):
    """The training losses read back from the device only when the logger prints them.

    mmengine's RuntimeInfoHook turns every step's losses into Python floats (``.item()``): a
    device sync per step, after which the GPU waits while the host prepares the next step. This
    hook runs before it and sums the losses on the device (in float32); at the steps the
    runner's LoggerHook prints (every ``interval`` steps of an epoch) and at each epoch's end
    it hands RuntimeInfoHook each loss's mean since then, at the other steps nothing. So the
    message hub's ``train/loss`` holds one value per period, and the fit's log processor prints
    the last one (``runner_config``). Without a LoggerHook: once an epoch. (The log's step
    ``time`` is then uneven: the step that reads the losses waits for the queued GPU work.)
    """

    priority = "HIGHEST"  # before RuntimeInfoHook ("VERY_HIGH"), which reads ``outputs``

    def __init__(self):
        self.interval = None
        self.sums: dict = {}
        self.counts: dict = {}

    def before_train(self, runner) -> None:
        from mmengine.hooks import LoggerHook, RuntimeInfoHook

        runtime = next((i for i, h in enumerate(runner.hooks) if isinstance(h, RuntimeInfoHook)), None)
        if runtime is not None and runtime < runner.hooks.index(self):
            raise RuntimeError("LossReadAtLogging must run before RuntimeInfoHook, which reads "
                               "the losses; give it a higher priority than that hook")
        logger = next((h for h in runner.hooks if isinstance(h, LoggerHook)), None)
        self.interval = logger.interval if logger is not None else None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        for key, value in outputs.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
            self.counts[key] = self.counts.get(key, 0) + 1
        outputs.clear()
        printed = self.interval is not None and self.every_n_inner_iters(batch_idx, self.interval)
        if printed or self.end_of_epoch(runner.train_dataloader, batch_idx):
            outputs.update({key: total / self.counts[key] for key, total in self.sums.items()})
            self.sums, self.counts = {}, {}
