"""Our NeRV against the NeRV paper's own code: needs a checkout of haochen-rye/NeRV, so it lives
beside the peer benchmarks, not in the CPU test suite. Run it explicitly:

    NERV_OFFICIAL=/path/to/NeRV python -m pytest benchmarks/peer_checks -q -k nerv_paper
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = os.environ.get("NERV_OFFICIAL")


def test_nerv_paper_code_equals_ours(tmp_path):
    """Same parameter shapes at NeRV-S/M/L (3,201,905 at fc_dim 26); its initial weights in ours
    give its 720x1280 output from its frame times and from frame indices (frame_times='open');
    the same init law, loss (values and gradients), per-iteration lr, Adam settings and two
    training steps."""
    if not OFFICIAL or not (Path(OFFICIAL) / "model_nerv.py").is_file():
        pytest.fail("set NERV_OFFICIAL to a checkout of github.com/haochen-rye/NeRV", pytrace=False)
    out = tmp_path / "rows.jsonl"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "peer_nerv.py"), "--official", OFFICIAL,
         "--forward-frames", "1", "131", "--init-seeds", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    params = {r["fc_dim"]: r["params_project"] for r in rows if r["check"] == "parameters"}
    assert sorted(params) == [26, 58, 112] and params[26] == 3_201_905
    (forward,) = [r for r in rows if r["check"] == "forward"]
    assert forward["output_shape"] == [2, 3, 720, 1280]
    assert forward["max_abs_diff_open_frame_times"] < 1e-5
    # the NeRV-S anchor config takes the official frame times, so it gives its output too
    assert forward["anchor_config_input_codes"] == dict(frame_times="open")
    assert forward["max_abs_diff_anchor_config"] < 1e-5
    checks = {r["check"] for r in rows}
    assert checks == {"parameters", "forward", "init", "loss", "lr", "optimizer", "steps"}


def test_nerv_paper_official_not_a_checkout_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "peer_nerv.py"), "--official", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "haochen-rye/NeRV" in result.stderr
