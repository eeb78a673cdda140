"""Our NeRV against the HNeRV code's NeRV row: needs a checkout of haochen-rye/HNeRV, so it
lives beside the peer benchmarks, not in the CPU test suite. Run it explicitly:

    HNERV_OFFICIAL=/path/to/HNeRV python -m pytest benchmarks/peer_checks -q -k hnerv
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = os.environ.get("HNERV_OFFICIAL")


def test_nerv_row_equals_the_hnerv_code(tmp_path):
    """Same parameter shapes at fc_dim 15/30/54/91; its initial weights in ours give its output
    (ours with pe_rounding='float64' and float64 frame times); the same per-iteration lr."""
    if not OFFICIAL or not (Path(OFFICIAL) / "model_all.py").is_file():
        pytest.fail("set HNERV_OFFICIAL to a checkout of github.com/haochen-rye/HNeRV", pytrace=False)
    out = tmp_path / "rows.jsonl"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "peer_hnerv.py"), "--official", OFFICIAL,
         "--forward-fc-dims", "15", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["fc_dim"] for r in rows if r["check"] == "parameters"] == [15, 30, 54, 91]
    (forward,) = [r for r in rows if r["check"] == "forward"]
    assert forward["max_abs_diff_float64_encoding"] < 1e-5
    assert forward["max_abs_diff_float64_open_frame_times"] < 1e-5
    # the Bunny anchor config takes the HNeRV code's input codes, so it gives its output too
    assert forward["anchor_config_input_codes"] == dict(pe_rounding="float64", frame_times="open")
    assert forward["max_abs_diff_anchor_config"] < 1e-5


def test_nerv_row_fit_side_by_side(tmp_path):
    """peer_nerv_fit.py --code hnerv: the HNeRV code's NeRV row and ours fitted from the same
    initial weights on the same frames, batch 2, train alike; its evaluations are the last,
    third-last and fifth-last epochs (of five), the best of them reported; a size is asked for."""
    if not OFFICIAL or not (Path(OFFICIAL) / "model_all.py").is_file():
        pytest.fail("set HNERV_OFFICIAL to a checkout of github.com/haochen-rye/HNeRV", pytrace=False)
    command = [sys.executable, str(REPO / "benchmarks" / "peer_nerv_fit.py"), "--code", "hnerv",
               "--official", OFFICIAL]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = tmp_path / "fits.jsonl"
    result = subprocess.run([*command, "--tiny", "--same-init", "--out", str(out)],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {r["impl"]: r for r in map(json.loads, out.read_text().splitlines())}
    official, ours = rows["official"], rows["ours"]
    assert official["parameters"] == ours["parameters"] and official["finished"] and ours["finished"]
    assert official["code"] == "hnerv" and official["batch_size"] == 2
    assert [e["epoch"] for e in official["evaluations"]] == [1, 3, 5]
    assert official["psnr_best"] == max(e["psnr"] for e in official["evaluations"])
    # tiny: 15 steps, whose warm-ups round 1.5 iterations differently (at 300 epochs the
    # schedules agree to 5e-4 of lr), so alike, not equal
    assert abs(official["psnr_final"] - ours["psnr_final"]) < 0.1
    assert official["psnr_final"] > official["evaluations"][0]["psnr"]

    unsized = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True,
                             timeout=300, env=env)
    assert unsized.returncode == 2
    assert unsized.stderr.strip().count("\n") == 0 and "--size" in unsized.stderr
