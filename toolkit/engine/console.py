"""What the tools print: a progress bar per fit and their closing table by default; mmengine's
environment, config and hook dumps and its per-iteration log lines go to the work dir's log
file only, unless ``--verbose``.

mmengine's Runner gives its console handler and its log file one level (``log_level``);
:func:`set_console_verbosity` raises the console handler of every Runner built afterwards
to WARNING, leaving the file at INFO, and shows the fit's progress as a bar instead.
"""

from __future__ import annotations

import functools
import logging

_ORIGINAL = {}


def _quiet_console(logger) -> None:
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(max(handler.level, logging.WARNING))


def _fit_progress_hook():
    """A tqdm bar over a Runner's training iterations (main process, interactive terminal)."""
    from mmengine.hooks import Hook

    class FitProgress(Hook):
        priority = "VERY_LOW"

        def before_train(self, runner) -> None:
            from mmengine.dist import is_main_process
            from tqdm import tqdm

            self.bar = tqdm(total=runner.max_iters, initial=runner.iter, unit="it", desc="fit",
                            leave=False, disable=None if is_main_process() else True)

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            self.bar.update(1)

        def after_train(self, runner) -> None:
            self.bar.close()

    return FitProgress()


def set_console_verbosity(verbose: bool) -> None:
    """Quiet (default) or full (``verbose``) mmengine console output for Runners built after."""
    from mmengine.runner import Runner

    if not _ORIGINAL:
        _ORIGINAL.update(build_logger=Runner.build_logger, train=Runner.train)
    if verbose:
        Runner.build_logger, Runner.train = _ORIGINAL["build_logger"], _ORIGINAL["train"]
        return

    @functools.wraps(_ORIGINAL["build_logger"])
    def build_logger(self, *args, **kwargs):
        logger = _ORIGINAL["build_logger"](self, *args, **kwargs)
        _quiet_console(logger)
        return logger

    @functools.wraps(_ORIGINAL["train"])
    def train(self):
        self.register_hook(_fit_progress_hook())
        return _ORIGINAL["train"](self)

    Runner.build_logger, Runner.train = build_logger, train
