"""benchmarks/anchors/bunny.py: which finished work dirs a resumed driver keeps."""
import json
import shlex
import sys

import pytest
from test_inr_nerv_dnerv import anchors_bunny

from toolkit.runinfo import git_commit


def fitted_run(tmp_path, options=(), **made):
    """A 0.35M FFNeRV run whose work dir holds a result written as tools/compress_dataset.py
    writes it: made with ``made`` (``arguments``, ``commit``, ``epochs``) where given, else as
    this run asks for it now."""
    bunny = anchors_bunny()
    run = bunny.Run(bunny.PROTOCOLS["hnerv"], "ffnerv", "350k", 0.0282, tmp_path / "data",
                    tmp_path / "work", options=list(options))
    run.work_dir.mkdir()
    arguments = made.get("arguments", run.arguments(471, 300, resume=True))
    epochs = made.get("epochs", 300)
    (run.work_dir / "results.json").write_text(json.dumps(dict(
        fit_epochs=dict(planned=300, min=epochs, max=epochs),
        command=" ".join(shlex.quote(a) for a in ["python3", *arguments]),
        commit=made.get("commit", git_commit()))))
    return run


def test_a_result_of_this_commit_and_command_is_kept_whatever_its_time_limit(tmp_path):
    run = fitted_run(tmp_path, options=["--cfg-options", "codec.network.grid_lengths=[44,88]"])
    assert run.finished(300)
    # the record of a kept run names the command that made it
    assert run.command[0] == sys.executable
    assert "fit.max_time_s=471" in run.command and "codec.network.grid_lengths=[44,88]" in run.command


@pytest.mark.parametrize("made", [
    dict(commit="0123456789ab"),  # other code: e.g. FFNeRV's solver before it capped the grids
    dict(epochs=221),  # stopped by its time limit
])
def test_a_result_of_other_code_or_a_stopped_fit_is_not_kept(tmp_path, made):
    assert not fitted_run(tmp_path, **made).finished(300)


def test_a_result_made_with_other_options_is_not_kept(tmp_path):
    bunny = anchors_bunny()
    other = bunny.Run(bunny.PROTOCOLS["hnerv"], "ffnerv", "350k", 0.0282, tmp_path / "data",
                      tmp_path / "work", options=["--cfg-options", "seed=1"])
    run = fitted_run(tmp_path, options=["--cfg-options", "seed=2"],
                     arguments=other.arguments(471, 300, resume=True))
    assert not run.finished(300)
