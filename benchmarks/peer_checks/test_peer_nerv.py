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


def _fit(tmp_path, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "peer_nerv_fit.py"), "--official", OFFICIAL or "",
         "--tiny", *args], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_nerv_paper_fit_side_by_side_and_continued(tmp_path):
    """peer_nerv_fit.py: both sides fitted from the same initial weights on the same frames
    train alike; a fit stopped by its time limit and continued ends where the whole fit does;
    a state saved by another command is refused in one line."""
    if not OFFICIAL or not (Path(OFFICIAL) / "model_nerv.py").is_file():
        pytest.fail("set NERV_OFFICIAL to a checkout of github.com/haochen-rye/NeRV", pytrace=False)
    whole = tmp_path / "whole.jsonl"
    result = _fit(tmp_path, "--same-init", "--out", str(whole))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {r["impl"]: r for r in map(json.loads, whole.read_text().splitlines())}
    assert set(rows) == {"official", "ours"}
    official, ours = rows["official"], rows["ours"]
    assert official["parameters"] == ours["parameters"] and official["finished"]
    # the train_nerv.py evaluations: the last nine epochs of five, best of them reported
    assert [e["epoch"] for e in official["evaluations"]] == [1, 2, 3, 4, 5]
    assert official["psnr_best"] == max(e["psnr"] for e in official["evaluations"])
    # tiny: the two warm-ups differ by one of six iterations, so alike, not equal
    assert abs(official["psnr_final"] - ours["psnr_final"]) < 0.05
    assert official["psnr_final"] > official["evaluations"][0]["psnr"]

    work, parts = tmp_path / "work", tmp_path / "parts.jsonl"
    first = _fit(tmp_path, "--same-init", "--impl", "official", "--work", str(work),
                 "--max-time-s", "0.001", "--out", str(parts))
    assert first.returncode == 0, first.stderr[-2000:]
    stopped = json.loads(parts.read_text().splitlines()[-1])
    assert not stopped["finished"] and stopped["epochs_done"] < 5
    second = _fit(tmp_path, "--same-init", "--impl", "official", "--work", str(work), "--out", str(parts))
    assert second.returncode == 0, second.stderr[-2000:]
    continued = json.loads(parts.read_text().splitlines()[-1])
    assert continued["finished"] and continued["psnr_final"] == pytest.approx(official["psnr_final"], abs=1e-6)

    other = _fit(tmp_path, "--impl", "official", "--seed", "3", "--work", str(work), "--out", str(parts))
    assert other.returncode == 2
    assert other.stderr.strip().count("\n") == 0 and "seed 1 there, 3 here" in other.stderr
