"""benchmarks/peer_nerv_fit.py report: each side's finished fits and the same-init pairs, from
the records the fits append (no official code needed)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest


def peer_nerv_fit():
    spec = importlib.util.spec_from_file_location(
        "peer_nerv_fit", Path(__file__).resolve().parents[1] / "benchmarks" / "peer_nerv_fit.py")
    module = sys.modules.setdefault("peer_nerv_fit", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


def record(impl, seed, psnr, same_init=True, epochs=300, finished=True, **more):
    """A record as the hnerv code's fits write it (the fields the report reads)."""
    return dict(impl=impl, seed=seed, psnr_best=psnr if finished else 20.0, finished=finished,
                psnr_final=psnr if finished else None, same_init=same_init, epochs=epochs,
                epochs_done=epochs if finished else epochs - 7, code="hnerv", size=1.5, fc_dim=54,
                paper_psnr=30.87, **more)


@pytest.fixture
def records(tmp_path):
    rows = [
        record("official", 1, 30.90, date="first"),  # replaced by the repeat below
        record("official", 1, 30.80),
        record("ours", 1, 30.79),
        record("official", 2, 30.90),
        record("ours", 2, 30.88),
        record("official", 3, 30.70, same_init=False),  # a run of its own: in the mean, not paired
        record("ours", 3, 30.50),
        record("ours", 4, 29.00, finished=False),  # cut by its time limit: left out
        record("official", 1, 26.80, epochs=50),  # a check, not a result: no paper beside it
    ]
    path = tmp_path / "fits.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_gives_each_sides_runs_and_the_same_init_pairs(records, tmp_path, capsys):
    fits = peer_nerv_fit()
    assert fits.main(["report", str(records), "--png", str(tmp_path / "fits.png")]) == 0
    out = capsys.readouterr().out
    lines = {line.split(" | ")[2] + f" {line.split(' | ')[1]}": line for line in out.splitlines()
             if line.startswith("| hnerv 1.5M |") and line.count("|") == 10}
    # official: 30.80 (the repeat), 30.90, 30.70; one of three at or above 30.87
    assert "| 3 | 30.800 (0.058) | 0.100 | 30.700 to 30.900 | 30.87 | 1 of 3 |" in lines["official 300"]
    # ours from the official weights: seeds 1-3, the cut fit left out
    assert "| 3 | 30.723 " in lines["ours, same initial weights 300"]
    assert "| 1 | 26.800 | - | 26.800 to 26.800 | - | - |" in lines["official 50"]
    # pairs: seeds 1 and 2 only (seed 3's official run was not from --same-init)
    assert "| hnerv 1.5M | 300 | 1 | 30.8000 | 30.7900 | -0.0100 |" in out
    assert "| hnerv 1.5M | 300 | 2 | 30.9000 | 30.8800 | -0.0200 |" in out
    assert "| hnerv 1.5M | 300 | 3 |" not in out
    assert "ours - official -0.0150 dB over 2 pair(s), sd 0.0071" in out
    assert (tmp_path / "fits.png").stat().st_size > 0


def test_report_names_a_missing_or_empty_records_file(tmp_path, capsys):
    fits = peer_nerv_fit()
    assert fits.main(["report", str(tmp_path / "none.jsonl")]) == 2
    assert "no such records file" in capsys.readouterr().err
    cut = tmp_path / "cut.jsonl"
    cut.write_text(json.dumps(record("ours", 1, 30.0, finished=False)) + "\n")
    assert fits.main(["report", str(cut)]) == 2
    assert "no finished fit" in capsys.readouterr().err


def test_report_says_when_a_seed_was_run_twice_and_refuses_foreign_records(tmp_path, capsys):
    fits = peer_nerv_fit()
    path = tmp_path / "fits.jsonl"
    # the official side of seed 1 with and without --same-init: the same weights, two runs
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        record("official", 1, 30.80), record("official", 1, 30.82, same_init=False),
        record("official", 2, 30.60))))
    assert fits.main(["report", str(path)]) == 0
    assert "| hnerv 1.5M | 300 | official | 3 (2 seeds) | 30.740 " in capsys.readouterr().out
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(json.dumps({"impl": "ours", "epochs": 300, "epochs_done": 300,
                                   "psnr_best": 30.0}) + "\n")
    assert fits.main(["report", str(foreign)]) == 2
    assert "a record is not one a fit writes (KeyError" in capsys.readouterr().err
