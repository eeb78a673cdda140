"""NeRV / D-NeRV networks, clip planning and the sizing rules (CPU, tiny sizes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from toolkit.codecs.bitstream import BitstreamError
from toolkit.codecs.inr.codec import frames_to_uint8
from toolkit.codecs.inr.dnerv import DNeRV, GlobalTemporalMLP, content_time_weights
from toolkit.codecs.inr.keyframes import keyframe_indices, plan_clips
from toolkit.codecs.inr.nerv import NeRV
from toolkit.codecs.inr.sizing import count_parameters, solve_width, stride_plan

H, W, FC, T = 32, 40, 8, 8


def tiny_dnerv(**switches) -> DNeRV:
    return DNeRV(H, W, FC, clip_len=T, pe_levels=16, min_width=8, **switches)


def meta_params(build) -> int:
    with torch.device("meta"):
        return count_parameters(build())


def head_params(c: int) -> int:
    """Parameters of a ConvHead(c, 4): 1x1 c -> c//4, 3x3 c//4 -> 4."""
    return c * (c // 4) + c // 4 + (c // 4) * 4 * 9 + 4


# ---------------------------------------------------------------- sizing

@pytest.mark.parametrize("size, plan", [
    ((256, 320), (4, 5, (4, 2, 2, 2, 2))),
    ((32, 40), (4, 5, (2, 2, 2))),
    ((64, 64), (1, 1, (4, 2, 2, 2, 2))),
    ((48, 80), (3, 5, (2, 2, 2, 2))),
    # the papers' plans for sizes with factors 5 and 3 (NeRV 720p, HNeRV's crop, 1080p)
    ((720, 1280), (9, 16, (5, 2, 2, 2, 2))),
    ((640, 1280), (8, 16, (5, 2, 2, 2, 2))),
    ((1080, 1920), (9, 16, (5, 3, 2, 2, 2))),
])
def test_stride_plan(size, plan):
    assert stride_plan(*size) == plan


def test_stride_plan_respects_max_stride():
    assert stride_plan(1024, 1920, max_stride=128) == (8, 15, (4, 2, 2, 2, 2, 2))


@pytest.mark.parametrize("size", [(250, 320), (256, 322), (0, 320)])
def test_stride_plan_rejects_sizes_not_divisible_by_8(size):
    with pytest.raises(ValueError, match="multiples of 8"):
        stride_plan(*size)


def test_solve_width_finds_exact_and_monotone_widths():
    def build(width):
        return NeRV(H, W, width, pe_levels=4, mlp_hidden=16, min_channels=4)

    exact = meta_params(lambda: build(20))
    assert solve_width(build, exact) == 20
    assert solve_width(build, exact - 1) == 19
    widths = [solve_width(build, target) for target in (5_000, 20_000, 80_000, 300_000)]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    for width, target in zip(widths, (5_000, 20_000, 80_000, 300_000)):
        assert meta_params(lambda: build(width)) <= target < meta_params(lambda: build(width + 1))


def test_solve_width_limits():
    def build(width):
        return NeRV(H, W, width, pe_levels=4, mlp_hidden=16, min_channels=4)

    assert solve_width(build, 10**12, hi=64) == 64
    with pytest.raises(ValueError, match="below the smallest model"):
        solve_width(build, 1_000)


def test_solve_width_recovers_paper_dnerv_size():
    assert solve_width(lambda f: DNeRV(256, 320, f), 21_388_894, lo=16, hi=1024) == 198


# ---------------------------------------------------------------- NeRV

def test_positional_encoding_rounds_as_the_official_code():
    """NeRV's and D-NeRV's utils.PositionalEncoding compute ``pos * lbase ** i * math.pi`` on
    float32 tensors, rounding twice. Past about level 60 the angle is far beyond float32's
    integer range, so the features there depend on that rounding: with one rounding
    (``t * (base**i * pi)``) most features past level 70 differed by O(1) from the official
    ones: given the official weights, our D-NeRV's output was not the official one."""
    from toolkit.codecs.inr.blocks import PositionalEncoding

    levels = 240
    t = torch.tensor([0.0, 1 / 7, 0.3, 5 / 7, 1.0])
    official = []
    for i in range(levels):  # the official loop, interleaved (sin_i, cos_i)
        angle = t * 1.25 ** i * math.pi
        official += [torch.sin(angle), torch.cos(angle)]
    official = torch.stack(official, 1)
    ours = PositionalEncoding(levels)(t)
    assert ours.shape == (5, 2 * levels)
    assert torch.equal(ours[:, :levels], official[:, 0::2])  # sin block, then cos block
    assert torch.equal(ours[:, levels:], official[:, 1::2])


def test_fused_rounding_is_the_encoding_before_the_fix():
    """``rounding="fused"`` is the encoding this toolkit computed before it matched the
    official code: ``t * (base**i * pi)``, the frequency rounded once to float32."""
    from toolkit.codecs.inr.blocks import PositionalEncoding

    t = torch.tensor([0.0, 1 / 7, 0.3, 5 / 7, 1.0])
    freqs = torch.tensor([1.25**i * math.pi for i in range(240)], dtype=torch.float64).float()
    angles = t[:, None] * freqs
    fused = PositionalEncoding(240, rounding="fused")(t)
    assert torch.equal(fused, torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1))
    assert not torch.equal(fused, PositionalEncoding(240)(t))  # the two differ past level ~60


def test_float64_rounding_is_the_hnerv_codes_encoding():
    """HNeRV's NeRV row: frequencies ``1.25 ** arange(80) * pi`` in float32, times the frame
    time as its DataLoader gives it (float64), sin and cos in float64. Its features are
    sampled sinusoids of the frame index; ours in float32 are not past level ~36."""
    from toolkit.codecs.inr.blocks import PositionalEncoding

    t = torch.arange(132, dtype=torch.float64) / 132
    angles = t[:, None] * (1.25 ** torch.arange(80) * math.pi).double()
    hnerv = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()
    ours = PositionalEncoding(80, rounding="float64")(t)
    assert torch.equal(ours, hnerv)
    assert (PositionalEncoding(80)(t) - hnerv).abs().max() > 1


def test_nerv_frame_times_reach_the_network_in_float64(tmp_path):
    """The fit's NeRV time is the network's ``times`` of SourceFrames' index and total, in
    float64 (a float64 encoding needs it; the float32 ones round it to the float32 value they
    were given before): "closed" is i / (N - 1) exactly as before, "open" the official
    NeRV / HNeRV code's i / N."""
    from conftest import moving_frames
    from toolkit.data.source import SourceWriter, VideoRecord
    from toolkit.engine.datasets import SourceFrames
    from toolkit.engine.models import NeRVFitModel

    writer = SourceWriter(tmp_path / "raw", "raw", codec="raw", size=None, height=16, width=64,
                          fps=2, classes=["a"])
    writer.write_video("a/v.mkv", moving_frames(7, 16, 64))
    writer.finalize([VideoRecord("a/v.mkv", 0, "test", 7)])
    dataset = SourceFrames(tmp_path)
    batch = torch.utils.data.default_collate([dataset[i]["inputs"] for i in range(7)])
    seen = {}
    for span, expected in (("closed", [i / 6 for i in range(7)]), ("open", [i / 7 for i in range(7)])):
        model = NeRVFitModel(dict(type="NeRV", height=16, width=64, channels=4, pe_levels=4,
                                  mlp_hidden=None, frame_times=span))
        model.network.forward = lambda t, span=span: seen.setdefault(span, t) * 0  # noqa: E731
        model.render(batch)
        assert seen[span].dtype == torch.float64 and seen[span].tolist() == expected
        assert torch.equal(model.network.times(torch.arange(7), 7), seen[span])
    assert torch.equal(seen["closed"].float(), torch.tensor([i / 6 for i in range(7)], dtype=torch.float32))


def test_frame_times_closed_is_the_old_formula_for_every_frame_and_length():
    """"closed" is bit for bit the float64 time the fit and the decoder used before the option
    existed (``index / max(total - 1, 1)`` with a Python int total), with an int total and a
    per-sample tensor total; unknown spans are refused by name."""
    from toolkit.codecs.inr.nerv import frame_times

    for total in (1, 2, 3, 131, 132, 1000, 2999):
        index = torch.arange(total)
        old = torch.tensor([i / max(total - 1, 1) for i in range(total)], dtype=torch.float64)
        assert torch.equal(frame_times(index, total), old)
        assert torch.equal(frame_times(index, torch.full((total,), total)), old)
        assert torch.equal(frame_times(index, total, "open"),
                           torch.tensor([i / total for i in range(total)], dtype=torch.float64))
    with pytest.raises(ValueError, match="frame_times 'half'.*closed, open"):
        frame_times(torch.arange(3), 3, "half")


def test_nerv_with_open_frame_times_round_trips_and_old_headers_decode_closed(tmp_path):
    """frame_times="open" goes into the header and the decoder renders with it (the decoded
    frames are the fitted network's at t = i / N); a header without the field is "closed"."""
    import bitstream_samples

    sample = bitstream_samples.sample("nerv")
    coder = bitstream_samples.decoder("nerv")
    assert all("frame_times" not in n for n in sample.header["networks"])
    assert {n.frame_times for n in coder.networks_from(sample)} == {"closed"}
    closed = [video.copy() for video in coder.decompress(sample, device="cpu")]
    for network in sample.header["networks"]:
        network["frame_times"] = "open"
    assert {n.frame_times for n in coder.networks_from(sample)} == {"open"}
    opened = list(coder.decompress(sample, device="cpu"))
    # one network over both videos: the first frame is at t = 0 either way, the last is not
    assert np.array_equal(opened[0][0], closed[0][0]) and not np.array_equal(opened[1][-1], closed[1][-1])
    decoded = coder.networks_from(sample)[0]
    total = sum(len(video) for video in opened)
    with torch.no_grad():
        last = decoded(decoded.times(torch.tensor([total - 1]), total))[0]
    assert np.array_equal(opened[1][-1], frames_to_uint8(last[None])[0])
    sample.header["networks"][0]["frame_times"] = "half"
    with pytest.raises(BitstreamError, match="networks\\[0\\].frame_times is 'half'"):
        coder.networks_from(sample)


@pytest.mark.parametrize("codec", ["nerv", "dnerv"])
def test_bitstreams_from_before_the_rounding_fix_decode_as_fitted(codec):
    """New headers state the encoding's rounding; a header without it (written before the
    fix) builds the network with the rounding it was fitted with, so old files still decode."""
    import bitstream_samples

    new = bitstream_samples.sample(codec)
    assert all(n["pe_rounding"] == "official" for n in new.header["networks"])
    coder = bitstream_samples.decoder(codec)
    assert {n.encoding.rounding for n in coder.networks_from(new)} == {"official"}
    for network in new.header["networks"]:
        del network["pe_rounding"]
    assert {n.encoding.rounding for n in coder.networks_from(new)} == {"fused"}


def test_nerv_shapes_range_and_gradients():
    model = NeRV(H, W, 16, pe_levels=8, min_channels=4)
    frames = model(torch.linspace(0, 1, 3))
    assert frames.shape == (3, 3, H, W)
    assert frames.min() >= 0 and frames.max() <= 1
    frames.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match=r"\(N,\)"):
        model(torch.zeros(2, 3))


def test_nerv_parameters_grow_with_channels():
    counts = [meta_params(lambda c=c: NeRV(256, 320, c)) for c in (8, 16, 32, 64)]
    assert counts == sorted(counts) and len(set(counts)) == 4


@pytest.mark.parametrize("channels, millions", [(465, 88.0), (510, 105.3), (562, 127.2)])
def test_nerv_paper_parameter_counts(channels, millions):
    count = meta_params(lambda: NeRV(256, 320, channels, pe_levels=240))
    print(f"NeRV channels={channels}: {count / 1e6:.2f}M (paper {millions}M)")
    assert abs(count / 1e6 - millions) / millions < 0.05


def anchors_bunny():
    """benchmarks/anchors/bunny.py as a module (it is a script, not part of the package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "anchors_bunny", Path(__file__).resolve().parents[1] / "benchmarks" / "anchors" / "bunny.py")
    bunny = sys.modules.setdefault("anchors_bunny", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(bunny)
    return bunny


NERV_PAPER_BUNNY = dict(pe_levels=40, expansion=1.0, min_channels=96, act="swish")
HNERV_NERV_ROW = dict(pe_levels=80, mlp_hidden=None, expansion=None, min_channels=12,
                      head_kernel=3, strides=(5, 4, 2, 2))


@pytest.mark.parametrize("channels, millions", [(26, 3.2), (58, 6.3), (112, 12.5)])
def test_nerv_as_the_nerv_paper_fits_bunny(channels, millions):
    """NeRV-S/M/L on 720x1280: fc 9x16xC, strides 5,2,2,2,2, widths C, 96, 96, 96, 96."""
    count = meta_params(lambda: NeRV(720, 1280, channels, **NERV_PAPER_BUNNY))
    assert abs(count / 1e6 - millions) / millions < 0.02
    with torch.device("meta"):
        net = NeRV(720, 1280, channels, **NERV_PAPER_BUNNY)
    assert (net.base_h, net.base_w, net.strides) == (9, 16, (5, 2, 2, 2, 2))
    assert net.block_widths == (channels, 96, 96, 96, 96)


def test_nerv_as_hnerv_reimplements_it():
    """HNeRV's NeRV row at 1.5M: the PE straight into an 8x16 map of ~54 channels (its own
    solver gives 54), strides 5,4,2,2, widths halving to 12, a 3x3 head."""
    width = solve_width(lambda c: NeRV(640, 1280, c, **HNERV_NERV_ROW), 1_500_000)
    assert width in (53, 54)
    net = NeRV(64 * 5, 128 * 5, width, **HNERV_NERV_ROW)  # a smaller frame, same plan
    assert net.strides == (5, 4, 2, 2) and net.block_widths == (26, 13, 12, 12)
    assert len(net.stem) == 2 and net.head.kernel_size == (3, 3)
    out = net(torch.tensor([0.0, 0.5]))
    assert out.shape == (2, 3, 320, 640) and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("nominal, fc_dim", [(3.2e6, 26), (6.3e6, 58), (12.5e6, 112)])
def test_nerv_paper_models_are_fitted_at_their_own_width(nominal, fc_dim):
    """NeRV-S/M/L are fc_dim 26 / 58 / 112 (the NeRV README's Bunny commands); the anchors
    fit them at those networks' parameter counts, not at the rounded 3.2 / 6.3 / 12.5M,
    which would buy S and L one channel less."""
    bunny = anchors_bunny()
    counted = bunny.AS_PUBLISHED[("nerv", "nerv")][nominal]
    assert meta_params(lambda: NeRV(720, 1280, fc_dim, **NERV_PAPER_BUNNY)) == counted
    assert solve_width(lambda c: NeRV(720, 1280, c, **NERV_PAPER_BUNNY), counted) == fc_dim
    budget_bits = bunny.budget_bpp(counted, 720, 1280, 132) * 720 * 1280 * 132
    assert round(budget_bits / 8) == counted  # the bpp handed to the fit buys the same count


@pytest.mark.parametrize("nominal, fc_dim", [(0.35e6, 15), (0.75e6, 30), (1.5e6, 54), (3e6, 91)])
def test_nerv_sized_as_the_hnerv_code_sizes_its_nerv_row(nominal, fc_dim):
    """HNeRV's code solves fc_dim from a*f^2 + b*f = size (no biases, no width floor); the
    anchors fit NeRV at the parameter counts of those models (benchmarks/anchors/bunny.py),
    and our solver then picks the same fc_dim."""
    bunny = anchors_bunny()
    strides = HNERV_NERV_ROW["strides"]
    a = 0.5 * sum(0.25**i * s * s * 9 for i, s in enumerate(strides))
    b = 2 * HNERV_NERV_ROW["pe_levels"] * 8 * 16
    assert int((-b + math.sqrt(b * b + 4 * a * nominal)) / (2 * a)) == fc_dim
    counted = bunny.AS_PUBLISHED[("hnerv", "nerv")][nominal]
    assert meta_params(lambda: NeRV(640, 1280, fc_dim, **HNERV_NERV_ROW)) == counted
    assert solve_width(lambda c: NeRV(640, 1280, c, **HNERV_NERV_ROW), counted) == fc_dim


def test_bunny_seed_spread_groups_runs_by_everything_but_their_seed(tmp_path):
    bunny = anchors_bunny()

    def run(source, psnr, seed=None, epochs=300, planned=300):
        command = "tools/compress_dataset.py ... --cfg-options fit.max_epochs=300" + (
            f" seed={seed}" if seed is not None else "")
        return dict(protocol="hnerv", codec="nerv", source=source, psnr_unquantized=psnr,
                    parameter_budget=1.5e6, epochs=epochs, epochs_planned=planned,
                    command=command, matched_to=None)

    records = [run("nerv_1500k_ieee6", 30.8, 6), run("nerv_1500k_ieee7", 31.0, 7),
               run("nerv_1500k_ieee8", 20.0, 8, epochs=100),  # cut short: left out
               run("nerv_1500k_f64open0", 30.6, 0), run("nerv_1500k_e150", 28.5, 0, 150, 150),
               run("nerv_1500k_ieee6", 30.9, 6)]  # a rerun replaces the first
    rows = {row["variant"]: row for row in bunny.seed_spread(records, "^nerv_", pool=False)}
    assert set(rows) == {"ieee", "f64open", "e150"}  # e150 of seed 0 is not e15
    ieee = rows["ieee"]
    assert ieee["runs"] == 2 and abs(ieee["mean"] - 30.95) < 1e-9 and abs(ieee["sd"] - 0.0707) < 1e-3
    assert ieee["published"] == 30.87 and ieee["above"] == 2
    assert rows["e150"]["published"] is None  # the published rows are 300-epoch fits
    pooled = bunny.seed_spread(records, "ieee|f64open", pool=True)
    assert [(row["variant"], row["runs"]) for row in pooled] == [("pooled", 3)]
    png = tmp_path / "seeds.png"
    bunny.plot_seeds(pooled + list(rows.values()), png)
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"


def test_bunny_report_shows_the_runs_whose_source_matches(tmp_path, capsys):
    bunny = anchors_bunny()

    def run(source, bpp, psnr, matched_to=None):
        codec = source.split("_")[0]
        return dict(protocol="hnerv", codec=codec, source=source, size="1500k", bpp=bpp, psnr=psnr,
                    psnr_unquantized=None if matched_to else psnr, ms_ssim=0.9, frames=132,
                    height=640, width=1280, parameters=None if matched_to else 1.5e6,
                    parameter_budget=None if matched_to else 1.5e6, epochs=None if matched_to else 300,
                    epochs_planned=300, matched_to=matched_to, fit_time_s=1.0)

    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [
        run("nerv_1500k_old", 0.11, 30.4), run("nerv_1500k_new", 0.11, 30.8),
        run("h264_1500k_at_nerv_1500k_new", 0.11, 39.0, "nerv_1500k_new"),
        run("h264_1500k_at_nerv_1500k_old", 0.11, 38.9, "nerv_1500k_old")]))
    png = tmp_path / "rd.png"
    assert bunny.main(["report", str(jsonl), "--png", str(png), "--sources", "_new$"]) == 0
    table = capsys.readouterr().out
    assert "30.80" in table and "39.00" in table and "30.40" not in table and "38.90" not in table
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert bunny.main(["report", str(jsonl), "--sources", "^ffnerv"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--sources" in error


@pytest.mark.parametrize("variant, command, kept", [
    ("ieee7", "x --cfg-options seed=7", "ieee"), ("7", "seed=7", ""),
    ("ieee11", "x seed=1", "ieee11"), ("e150", "x seed=0", "e150"), ("c300", "x seed=0", "c300"),
    ("open1", "x codec.seed=1", "open1"), ("open1", "x seed=0 seed=1", "open"),
    ("fp32", "x", "fp32")])
def test_bunny_seed_is_taken_off_a_variant_only_where_the_run_was_given_it(variant, command, kept):
    assert anchors_bunny().without_seed(variant, command) == kept


def test_bunny_sized_as_refuses_what_it_cannot_size(tmp_path):
    bunny = anchors_bunny()
    assert bunny.parse_sized_as("ffnerv=nerv") == {"ffnerv": "nerv"}
    assert bunny.parse_sized_as("") == {}
    for bad in ("ffnerv", "ffnerv=nervv", "nerv=nerv", "ffnerv=dnerv"):
        with pytest.raises(SystemExit) as stop:
            bunny.parse_sized_as(bad)
        assert str(stop.value).startswith("error: --sized-as") and "\n" not in str(stop.value)
    with pytest.raises(SystemExit, match="no published nerv model of 1M parameters"):
        bunny.counted_parameters("hnerv", "ffnerv", 1e6, {"ffnerv": "nerv"})
    # nothing is written before the option is refused
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="--sized-as 'ffnerv'"):
        bunny.main(["run", "--out", str(out), "--work", str(tmp_path / "work"), "--sized-as", "ffnerv"])
    assert not out.exists() and not (tmp_path / "work").exists()


def test_nerv_explicit_strides_must_fit_the_frame():
    assert NeRV(720, 1280, 8, strides=(5, 4, 2, 2)).strides == (5, 4, 2, 2)  # 9x16 base
    with pytest.raises(ValueError, match="must divide"):
        NeRV(720, 1280, 8, strides=(3, 4, 2, 2))  # 48 does not divide 1280


# ---------------------------------------------------------------- clip planning

@pytest.mark.parametrize("num_frames", [1, 7, 8, 9, 16, 17])
def test_plan_clips_covers_every_frame_once(num_frames):
    plans = plan_clips(num_frames)
    assert len(plans) == -(-num_frames // 8)
    real = [i for p in plans for i, ok in zip(p.frame_indices, p.valid) if ok]
    assert real == list(range(num_frames))
    for c, p in enumerate(plans):
        assert p.start == 8 * c and len(p.frame_indices) == len(p.valid) == 8
        assert p.keyframes == (8 * c, min(8 * c + 8, num_frames - 1))
        assert p.frame_indices[0] == p.start
        assert p.end_weights[0] == 0.0 and all(0 <= w <= 1 for w in p.end_weights)
    for left, right in zip(plans, plans[1:]):  # neighbours share a keyframe
        assert left.keyframes[1] == right.keyframes[0]


def test_plan_clips_pads_and_masks_short_last_clip():
    last = plan_clips(9)[-1]
    assert last.frame_indices == (8,) * 8
    assert last.valid == (True,) + (False,) * 7
    assert last.keyframes == (8, 8)
    assert last.times == (1.0,) * 8
    only = plan_clips(1)[0]
    assert only.keyframes == (0, 0) and only.times == (0.0,) * 8
    short = plan_clips(7)[0]
    assert short.frame_indices == (0, 1, 2, 3, 4, 5, 6, 6)
    assert short.valid == (True,) * 7 + (False,)
    assert short.end_weights[-2:] == (1.0, 1.0)  # end keyframe is frame 6


def test_plan_clips_times_and_weights_of_full_clip():
    first = plan_clips(17)[0]
    assert first.times == tuple(i / 16 for i in range(8))
    assert first.end_weights == tuple(k / 8 for k in range(8))


@pytest.mark.parametrize("num_frames, expected", [
    (1, [0]), (7, [0, 6]), (8, [0, 7]), (9, [0, 8]), (16, [0, 8, 15]), (17, [0, 8, 16]),
])
def test_keyframe_indices(num_frames, expected):
    assert keyframe_indices(num_frames) == expected


def test_plan_clips_rejects_empty_video():
    with pytest.raises(ValueError, match="num_frames"):
        plan_clips(0)


# ---------------------------------------------------------------- D-NeRV pieces

@pytest.mark.parametrize("frames", [8, 5, 2])
def test_content_time_weights_match_trilinear_interpolation(frames):
    pair = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1, 1)
    reference = F.interpolate(pair, scale_factor=(frames / 2, 1, 1), mode="trilinear")
    assert torch.allclose(content_time_weights(frames), reference.flatten())


def test_gtmlp_mixes_frames_per_channel():
    torch.manual_seed(0)
    b, c, t = 2, 3, 4
    gtmlp = GlobalTemporalMLP(c, t)
    x = torch.randn(b * t, c, 5, 6)
    weight = gtmlp.mix.weight.view(c, t, t)  # [channel, out frame, in frame]
    bias = gtmlp.mix.bias.view(c, t)
    clips = x.view(b, t, c, 5, 6)
    mixed = torch.einsum("cts,bschw->btchw", weight, clips) + bias.T[None, :, :, None, None]
    assert torch.allclose(gtmlp(x), (clips + mixed).view(b * t, c, 5, 6), atol=1e-5)


def test_instance_norm_matches_instancenorm3d_over_clip():
    x = torch.randn(2 * T, 5, 4, 5)
    official = nn.InstanceNorm3d(5)(x.view(2, T, 5, 4, 5).transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(DNeRV._normalize_over_clip(x, 2), official.reshape(2 * T, 5, 4, 5),
                          atol=1e-5)


# ---------------------------------------------------------------- D-NeRV network

def test_dnerv_output_shape_and_range():
    torch.manual_seed(0)
    model = tiny_dnerv()
    out = model(torch.rand(2, 2, 3, H, W), torch.rand(2, T))
    assert out.shape == (2, T, 3, H, W)
    assert out.min() >= 0 and out.max() <= 1


def test_dnerv_decodes_clips_from_plan():
    torch.manual_seed(0)
    video = torch.rand(11, 3, H, W)
    plans = plan_clips(11, T)
    keyframes = torch.stack([video[list(p.keyframes)] for p in plans])
    times = torch.tensor([p.times for p in plans])
    weights = torch.tensor([p.end_weights for p in plans])
    valid = torch.tensor([p.valid for p in plans])
    out = tiny_dnerv()(keyframes, times, weights)
    assert out.shape == (2, T, 3, H, W)
    target = video[torch.tensor([p.frame_indices for p in plans])]
    assert out[valid].shape == target[valid].shape == (11, 3, H, W)


def test_dnerv_rejects_bad_inputs():
    model = tiny_dnerv()
    with pytest.raises(ValueError, match="keyframes"):
        model(torch.rand(2, 1, 3, H, W), torch.rand(2, T))
    with pytest.raises(ValueError, match="whole clips"):
        model(torch.rand(2, 2, 3, H, W), torch.rand(2, T - 1))
    with pytest.raises(ValueError, match="end_weight"):
        model(torch.rand(2, 2, 3, H, W), torch.rand(2, T), torch.rand(2, 3))


def test_dnerv_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = tiny_dnerv()
    out = model(torch.rand(2, 2, 3, H, W), torch.rand(2, T))
    ((out - torch.rand_like(out)) ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing


@pytest.mark.parametrize("switch", ["use_saf", "use_gtmlp", "use_flow"])
def test_dnerv_ablation_switches_remove_exactly_their_parameters(switch):
    torch.manual_seed(0)
    full, ablated = tiny_dnerv(), tiny_dnerv(**{switch: False})
    saf_inputs = full.scale_widths[:-1]
    removed = {
        "use_gtmlp": sum(c * T * T + c * T for c in full.block_widths),
        "use_flow": sum(head_params(c) for c in full.scale_widths),
        "use_saf": sum(64 * 2 * c + 2 * c + head_params(c) for c in saf_inputs),
    }[switch]
    assert count_parameters(full) - count_parameters(ablated) == removed
    out = ablated(torch.rand(2, 2, 3, H, W), torch.rand(2, T))
    assert out.shape == (2, T, 3, H, W)
    out.mean().backward()
    assert all(p.grad is not None for p in ablated.parameters())


def test_dnerv_without_gtmlp_decodes_any_number_of_frames():
    out = tiny_dnerv(use_gtmlp=False)(torch.rand(1, 2, 3, H, W), torch.rand(1, 3))
    assert out.shape == (1, 3, 3, H, W)


def zero_flow_heads(model: DNeRV, flow: tuple[float, float, float, float]) -> None:
    """Make every flow head output the constant ``flow`` (start x, y, end x, y)."""
    with torch.no_grad():
        for head in model.flow_heads.values():
            head[-1].weight.zero_()
            head[-1].bias.copy_(torch.tensor(flow))


@pytest.mark.parametrize("flow, end_weight", [
    ((0.0, 0.0, 0.0, 0.0), None),
    ((3.0, -2.0, 0.0, 0.0), 1.0),   # start keyframe is moved but weighs nothing
    ((0.0, 0.0, 2.5, 1.0), 0.0),    # end keyframe is moved but weighs nothing
])
def test_dnerv_flow_warps_the_right_keyframe(flow, end_weight):
    """With these flows the warped model must equal the no-flow model with the same weights."""
    torch.manual_seed(0)
    warped, plain = tiny_dnerv(), tiny_dnerv(use_flow=False)
    plain.load_state_dict({k: v for k, v in warped.state_dict().items()
                           if not k.startswith("flow_heads.")})
    zero_flow_heads(warped, flow)
    keyframes, t = torch.rand(2, 2, 3, H, W), torch.rand(2, T)
    weights = None if end_weight is None else torch.full((2, T), end_weight)
    assert torch.allclose(warped(keyframes, t, weights), plain(keyframes, t, weights), atol=1e-5)
    zero_flow_heads(warped, (3.0, -2.0, 2.5, 1.0))  # and a real shift changes the output
    assert not torch.allclose(warped(keyframes, t), plain(keyframes, t), atol=1e-3)


def test_warping_many_frames_equals_warping_per_frame_copies():
    """Stacking the frames' grids (no per-frame copies of the image) samples the same values."""
    from toolkit.codecs.inr.blocks import backward_warp, backward_warp_frames

    torch.manual_seed(0)
    image = torch.rand(3, 5, 8, 12, requires_grad=True)
    flow = torch.randn(3, 4, 2, 8, 12) * 3
    stacked = backward_warp_frames(image, flow)
    assert stacked.shape == (3, 4, 5, 8, 12)
    copies = torch.stack([backward_warp(image, flow[:, k]) for k in range(4)], dim=1)
    assert torch.equal(stacked, copies)
    (grad_stacked,) = torch.autograd.grad(stacked.square().sum(), image)
    (grad_copies,) = torch.autograd.grad(copies.square().sum(), image)
    assert torch.allclose(grad_stacked, grad_copies, atol=1e-5)


def test_dnerv_channels_last_and_bf16_autocast():
    torch.manual_seed(0)
    model = tiny_dnerv()
    keyframes, t = torch.rand(1, 2, 3, H, W), torch.rand(1, T)
    reference = model(keyframes, t)
    model = model.to(memory_format=torch.channels_last)
    assert torch.allclose(model(keyframes, t), reference, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(keyframes, t)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - reference).abs().max() < 0.1


@pytest.mark.parametrize("fc_dim, millions", [(198, 21.4), (281, 39.1), (361, 61.3)])
def test_dnerv_paper_parameter_counts(fc_dim, millions):
    count = meta_params(lambda: DNeRV(256, 320, fc_dim))
    print(f"D-NeRV fc_dim={fc_dim}: {count / 1e6:.2f}M (paper {millions}M)")
    assert abs(count / 1e6 - millions) / millions < 0.05


def test_dnerv_width_multiple_rounds_every_decoder_width():
    paper = meta_params(lambda: DNeRV(256, 320, 281))
    with torch.device("meta"):
        rounded = DNeRV(256, 320, 288, width_multiple=8)
    assert rounded.block_widths == (576, 288, 144, 72, 40)
    convs = [m for m in rounded.modules() if isinstance(m, nn.Conv2d)]
    heads = [*rounded.flow_heads.values(), rounded.rgb_head]
    assert all(head[0].out_channels % 8 == 0 for head in heads)
    assert all(c.out_channels % 8 == 0 for c in convs if c.out_channels > 4)
    assert 1.0 < count_parameters(rounded) / paper < 1.06
    with pytest.raises(ValueError, match="width_multiple"):
        DNeRV(H, W, FC, width_multiple=0)


# ---------------------------------------------------------------- channels-last fast path

def fast_and_reference(**switches) -> tuple[DNeRV, DNeRV]:
    """The default network and a channels-last one with the same weights; flows of several
    pixels (reaching past the borders) so that the warps really sample."""
    torch.manual_seed(0)
    reference = tiny_dnerv(**switches)
    with torch.no_grad():
        for head in reference.flow_heads.values():
            head[-1].weight.mul_(40.0)
            head[-1].bias.copy_(torch.tensor([2.5, -1.5, -3.25, 4.0]))
    fast = tiny_dnerv(channels_last=True, **switches)
    fast.load_state_dict(reference.state_dict())
    return fast, reference


def clip_inputs(batch: int = 2):
    torch.manual_seed(1)
    return (torch.rand(batch, 2, 3, H, W), torch.rand(batch, T).sort(dim=1).values,
            torch.rand(batch, T))


@pytest.mark.parametrize("switches", [{}, {"use_flow": False}, {"use_gtmlp": False}])
def test_channels_last_path_equals_reference_in_float32(switches):
    fast, reference = fast_and_reference(**switches)
    inputs = clip_inputs()
    out_fast, out_ref = fast(*inputs), reference(*inputs)
    assert (out_fast - out_ref).abs().max() < 1e-5
    back = tiny_dnerv(**switches)  # the state dicts are interchangeable both ways
    back.load_state_dict(fast.state_dict())
    assert torch.equal(back(*inputs), out_ref)
    out_fast.square().mean().backward()
    out_ref.square().mean().backward()
    grads = dict(reference.named_parameters())
    for name, p in fast.named_parameters():
        assert torch.allclose(p.grad, grads[name].grad, rtol=1e-4, atol=1e-6), name


def test_channels_last_path_under_bf16_is_as_exact_as_the_reference():
    """bf16 autocast (keyframe features warped in bf16) stays within the reference path's own
    bf16 error of the float32 output."""
    fast, reference = fast_and_reference()
    inputs = clip_inputs()
    exact = reference(*inputs).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low_fast, low_ref = fast(*inputs).detach(), reference(*inputs).detach()
    assert low_fast.dtype == torch.float32
    ref_error = (low_ref - exact).abs()
    fast_error = (low_fast - exact).abs()
    assert fast_error.max() <= 2 * ref_error.max() and fast_error.mean() <= 1.5 * ref_error.mean()
    assert fast_error.max() < 2e-2


def test_channels_last_path_feeds_every_convolution_nhwc():
    """The point of the path: no convolution gets an NCHW input (cuDNN would transpose it)."""
    fast, _ = fast_and_reference()
    layouts = []
    hooks = [m.register_forward_pre_hook(
        lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
        for m in fast.modules() if isinstance(m, nn.Conv2d)]
    fast(*clip_inputs())
    for hook in hooks:
        hook.remove()
    assert layouts and all(layouts)


def test_warp_and_blend_channels_last_equals_grid_sample_warps():
    from toolkit.codecs.inr.blocks import backward_warp_frames, warp_and_blend_channels_last

    torch.manual_seed(0)
    b, c, t, h, w = 2, 5, 3, 7, 9
    keys = torch.rand(b, 2, c, h, w, requires_grad=True)
    flow = (torch.randn(b, t, 2, 2, h, w) * 4).requires_grad_()  # reaches past the borders
    end = torch.rand(b, t, 1, 1, 1)
    warped = backward_warp_frames(keys.flatten(0, 1), flow.transpose(1, 2).flatten(0, 1))
    warped = warped.unflatten(0, (b, 2))
    expected = ((1 - end) * warped[:, 0] + end * warped[:, 1]).flatten(0, 1)
    got = warp_and_blend_channels_last(keys, flow, end)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, expected, atol=1e-5)
    grads_got = torch.autograd.grad(got.square().sum(), (keys, flow))
    grads_expected = torch.autograd.grad(expected.square().sum(), (keys, flow))
    for g, e in zip(grads_got, grads_expected):
        assert torch.allclose(g, e, atol=1e-4)


def test_pixel_shuffle_and_gtmlp_channels_last_equal_nchw():
    from toolkit.codecs.inr.blocks import pixel_shuffle_channels_last

    torch.manual_seed(0)
    x = torch.randn(4, 3 * 4, 5, 6).contiguous(memory_format=torch.channels_last)
    shuffled = pixel_shuffle_channels_last(x, 2)
    assert shuffled.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(shuffled, nn.PixelShuffle(2)(x.contiguous()))
    gtmlp = GlobalTemporalMLP(3, 4)
    y = torch.randn(8, 3, 5, 6)
    mixed = gtmlp(y.contiguous(memory_format=torch.channels_last), channels_last=True)
    assert mixed.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(mixed, gtmlp(y), atol=1e-6)


def test_codec_sizing_raises_a_bad_network_config_instead_of_taking_the_smallest_width():
    """Only a budget below the smallest network falls back to the smallest width (with a
    warning); any other error of the network's config is raised when the network is sized."""
    import warnings

    from toolkit.engine.config import build_codec

    codec = build_codec(dict(type="nerv", network=dict(strides=(3, 4, 2, 2))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="must divide"):
            codec.network_config(720, 1280, 10, 1_000_000)
    small = build_codec(dict(type="nerv"))
    with pytest.warns(UserWarning, match="below the smallest network"):
        cfg = small.network_config(64, 80, 10, 10)
    assert cfg["channels"] == small.min_width
