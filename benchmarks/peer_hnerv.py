"""Our NeRV beside the HNeRV code's NeRV row (haochen-rye/HNeRV, its code imported unchanged).

``--official PATH`` is a checkout of haochen-rye/HNeRV kept outside this repository; its
``model_all.py`` (``HNeRV``, ``PositionEncoding``) and ``hnerv_utils.py`` (``adjust_lr``) are
imported from there, never copied. Modules it imports only for its data loading or its
ConvNeXt encoder (timm, pytorchvideo, torchvision, decord), none of which the NeRV row uses,
are replaced by empty stand-ins when they are not installed.

The official NeRV row is built with its README's Bunny command (``--embed pe_1.25_80 --fc_hw
8_16 --dec_strds 5 4 2 2 --ks 0_3_3 --reduce 2 --lower_width 12``, GELU, no norm, tanh
output) at ``--fc-dims`` (15 / 30 / 54 / 91: what its sizing formula gives at 0.35 / 0.75 /
1.5 / 3M). Checked, on the CPU in float32:

- parameters: every official tensor has the shape of its counterpart in ours
  (``configs/compress/anchors/nerv_bunny_hnerv.py``'s network), same total;
- forward: its initial weights loaded into ours (``official_state_to_project``) give its
  output, ours fed the official positional encoding (see below), to float rounding;
- positional encoding: how far ours is from the official one at the same ``t`` and at the
  frame times each side uses (reported, not asserted: they differ by design, see
  docs/results/data/nerv_vs_hnerv_code_2026-11-28.md);
- learning rate: the official ``adjust_lr`` (``cosine_0.1_1_0.1``, per iteration) beside our
  mmengine schedule (``warmup_cosine_schedule``) over 300 epochs of 66 iterations.

    python benchmarks/peer_hnerv.py --official /work/peers/HNeRV            # CPU, seconds
    HNERV_OFFICIAL=/work/peers/HNeRV python -m pytest benchmarks/peer_checks -q -k hnerv
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_common import (OfficialCodeError, compare_lrs, finish, official_commit,  # noqa: E402
                         project_fit_model, project_lr_per_iteration, shape_agreement)
from toolkit.codecs.inr.nerv import NeRV, frame_times  # noqa: E402
from toolkit.engine.config import load_config  # noqa: E402

FRAMES, HEIGHT, WIDTH = 132, 640, 1280
BATCH, EPOCHS = 2, 300
FORWARD_TOLERANCE = 1e-5   # float32 rounding of the same maths in another order
# mmengine's LinearLR reaches 1.0 at iteration 1979, adjust_lr at 1980: a 1/1980 slope difference
LR_RELATIVE_TOLERANCE = 1e-3
# The README's NeRV command for Bunny, as train_nerv_all.py parses it.
OFFICIAL_ARGS = dict(embed="pe_1.25_80", fc_hw="8_16", dec_strds=[5, 4, 2, 2], ks="0_3_3",
                     reduce=2.0, lower_width=12, num_blks="1_1", enc_strds=[], enc_dim="64_16",
                     conv_type=["convnext", "pshuffel"], norm="none", act="gelu", out_bias="tanh",
                     lr=1e-3, lr_type="cosine_0.1_1_0.1", epochs=EPOCHS)
# Ours as the anchor config builds it (read from it, so the check follows the config): its
# architecture here, with the project's default input codes; the config's own codes (the HNeRV
# code's: float64 encoding, t = i / N) are the "float64 + open" rows below.
PROJECT_CONFIG = ROOT / "configs" / "compress" / "anchors" / "nerv_bunny_hnerv.py"
INPUT_CODES = ("pe_rounding", "frame_times")
CONFIG = load_config(PROJECT_CONFIG)
PROJECT_NETWORK = {k: v for k, v in CONFIG.codec.network.items() if k not in INPUT_CODES}
CONFIG_INPUT_CODES = {k: CONFIG.codec.network.get(k) for k in INPUT_CODES}


def _stand_in(name: str, **attributes) -> None:
    """An empty module ``name`` (and its parents) unless the real one imports."""
    try:
        importlib.import_module(name)
        return
    except ImportError:
        pass
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sub = ".".join(parts[:i])
        if sub not in sys.modules or getattr(sys.modules[sub], "__hnerv_stand_in__", False):
            module = sys.modules.setdefault(sub, types.ModuleType(sub))
            module.__hnerv_stand_in__ = True
            if i > 1:
                setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], module)
    for key, value in attributes.items():
        setattr(sys.modules[name], key, value)


def _unused(*_, **__):
    raise OfficialCodeError("a stand-in for a module the NeRV row does not use was called")


def load_official(path: Path) -> SimpleNamespace:
    path = Path(path).resolve()
    if not (path / "model_all.py").is_file() or not (path / "hnerv_utils.py").is_file():
        raise OfficialCodeError(f"--official {path}: no model_all.py/hnerv_utils.py there; give "
                                f"a checkout of github.com/haochen-rye/HNeRV")
    _stand_in("timm.models.layers", trunc_normal_=_unused, DropPath=_unused)
    _stand_in("pytorchvideo.data.encoded_video", EncodedVideo=_unused)
    _stand_in("torchvision.transforms.functional", center_crop=_unused, resize=_unused)
    _stand_in("torchvision.io", read_image=_unused)
    _stand_in("decord", bridge=SimpleNamespace(set_bridge=lambda *_: None))
    _stand_in("pytorch_msssim", ssim=_unused, ms_ssim=_unused)
    sys.path.insert(0, str(path))
    try:
        model_all = importlib.import_module("model_all")
        utils = importlib.import_module("hnerv_utils")
    except ImportError as error:
        raise OfficialCodeError(f"--official {path}: importing model_all.py failed ({error})") from error
    return SimpleNamespace(path=str(path), model_all=model_all, utils=utils,
                           commit=official_commit(path))


def official_fc_dim(modelsize: float) -> int:
    """train_nerv_all.py's fc_dim for the NeRV row: the root of a*f^2 + b*f = size."""
    strides, reduce = OFFICIAL_ARGS["dec_strds"], 1 / OFFICIAL_ARGS["reduce"]
    a = reduce * sum(reduce ** (2 * i) * s * s * 3 ** 2 for i, s in enumerate(strides))
    b = 2 * 80 * 8 * 16
    return int((-b + math.sqrt(b * b + 4 * a * modelsize)) / (2 * a))


def official_network(official, fc_dim: int, strides=None) -> torch.nn.Module:
    """Its NeRV row at ``fc_dim`` (``strides``: the README's 5, 4, 2, 2 unless given; its
    frames are then 8 x 16 times their product)."""
    args = dict(OFFICIAL_ARGS, **({"dec_strds": list(strides)} if strides else {}))
    return official.model_all.HNeRV(SimpleNamespace(**args, fc_dim=fc_dim)).eval()


def project_network(fc_dim: int) -> NeRV:
    return NeRV(HEIGHT, WIDTH, fc_dim, **PROJECT_NETWORK).eval()


def fit_model(fc_dim: int, strides=None):
    """Our fit model as the anchor config builds it, input codes included (the HNeRV code's);
    ``strides``: the config's 5, 4, 2, 2 unless given (frames 8 x 16 times their product)."""
    plan = tuple(strides or PROJECT_NETWORK["strides"])
    network = dict(type="NeRV", height=8 * math.prod(plan), width=16 * math.prod(plan),
                   channels=fc_dim, **{**PROJECT_NETWORK, "strides": plan},
                   **{k: v for k, v in CONFIG_INPUT_CODES.items() if v is not None})
    return project_fit_model(CONFIG, network)


def official_state_to_project(official_state: dict) -> dict:
    """decoder.0 (a 1x1 conv on the 1x1 encoding) -> stem.0; decoder.k -> blocks.k-1; head."""
    state = {}
    for key, value in official_state.items():
        if key.startswith("decoder.0.conv.downconv."):
            state["stem.0." + key.rsplit(".", 1)[1]] = value.flatten(1) if value.dim() == 4 else value
        elif key.startswith("decoder."):
            index, leaf = key.split(".")[1], key.rsplit(".", 1)[1]
            state[f"blocks.{int(index) - 1}.conv.{leaf}"] = value
        elif key.startswith("head_layer."):
            state["head." + key.split(".", 1)[1]] = value
        else:
            raise KeyError(f"official parameter {key} has no counterpart in ours")
    return state


def official_encoding(official, t: torch.Tensor) -> torch.Tensor:
    """The official encoding as its training loop computes it: ``norm_idx`` arrives from the
    DataLoader as float64 (default_collate of Python floats), so the angles are float64."""
    pe = official.model_all.PositionEncoding(OFFICIAL_ARGS["embed"])
    return pe(t.double()[:, None]).float().flatten(1)


def parameters(official, fc_dim: int) -> dict:
    ours = project_network(fc_dim)
    theirs = official_state_to_project(official_network(official, fc_dim).state_dict())
    return dict(fc_dim=fc_dim, **shape_agreement(theirs, ours.state_dict()),
                block_widths=list(ours.block_widths))


def forward_agreement(official, fc_dim: int) -> dict:
    torch.manual_seed(0)
    theirs = official_network(official, fc_dim)
    ours = project_network(fc_dim)
    ours.load_state_dict(official_state_to_project(theirs.state_dict()))
    # the official frame times, float64 as its DataLoader gives them
    t = torch.tensor([0, 1, 65, 131], dtype=torch.float64) / FRAMES
    with torch.no_grad():
        official_out = theirs(t)[0]
        encoding = official_encoding(official, t)
        x = ours.stem(encoding).view(len(t), ours.channels, ours.base_h, ours.base_w)
        project_out = (torch.tanh(ours.head(ours.blocks(x))) + 1) * 0.5
        own_encoding_out = ours(t)
        float64 = NeRV(HEIGHT, WIDTH, fc_dim, **PROJECT_NETWORK, pe_rounding="float64").eval()
        float64.load_state_dict(ours.state_dict())
        float64_out = float64(t)
        # the whole input path as our fit and decoder take it: frame index -> time -> frame
        hnerv_times = NeRV(HEIGHT, WIDTH, fc_dim, **PROJECT_NETWORK, pe_rounding="float64",
                           frame_times="open").eval()
        hnerv_times.load_state_dict(ours.state_dict())
        index = torch.tensor([0, 1, 65, 131])
        hnerv_times_out = hnerv_times(hnerv_times.times(index, FRAMES))
        # the anchor config as it is, input codes included: what the Bunny anchors fit
        codes = {k: v for k, v in CONFIG_INPUT_CODES.items() if v is not None}
        anchor = NeRV(HEIGHT, WIDTH, fc_dim, **PROJECT_NETWORK, **codes).eval()
        anchor.load_state_dict(ours.state_dict())
        anchor_out = anchor(anchor.times(index, FRAMES))
    return dict(fc_dim=fc_dim, output_shape=list(official_out.shape),
                max_abs_diff=float((official_out - project_out).abs().max()),
                max_abs_diff_float64_encoding=float((official_out - float64_out).abs().max()),
                max_abs_diff_float64_open_frame_times=float((official_out - hnerv_times_out).abs().max()),
                anchor_config_input_codes=codes,
                max_abs_diff_anchor_config=float((official_out - anchor_out).abs().max()),
                max_abs_diff_official_rounding=float((official_out - own_encoding_out).abs().max()))


def encoding_difference(official) -> dict:
    """Ours vs the official encoding, per level (max over frames of |sin| and |cos| diffs)."""
    ours = project_network(8).encoding
    index = torch.arange(FRAMES, dtype=torch.float64)
    official_t = index / FRAMES                 # model_all.VideoDataSet: idx / len(video)
    project_t = frame_times(index, FRAMES)      # ours, frame_times="closed": idx / (N - 1)

    def per_level(a, b):
        d = (a - b).abs().view(FRAMES, 2, -1).amax(dim=(0, 1))
        return [round(float(v), 4) for v in d]

    same_t = per_level(official_encoding(official, official_t), ours(official_t.float()))
    first = next((i for i, v in enumerate(same_t) if v > 1e-3), None)
    own_t = per_level(official_encoding(official, official_t), ours(project_t.float()))
    return dict(same_t_first_level_differing=first, same_t_max_diff_per_level=same_t,
                own_t_max_diff_per_level=own_t)


def lr_schedules(official) -> dict:
    """Per-iteration lr: the official adjust_lr vs our schedulers stepped as mmengine's
    ParamSchedulerHook steps them (after each iteration)."""
    iters = FRAMES // BATCH
    args = SimpleNamespace(lr=OFFICIAL_ARGS["lr"], lr_type=OFFICIAL_ARGS["lr_type"],
                           epochs=EPOCHS)
    probe = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=OFFICIAL_ARGS["lr"])
    theirs = [official.utils.adjust_lr(probe, (e + i / iters) / EPOCHS, args)
              for e in range(EPOCHS) for i in range(iters)]
    ours = project_lr_per_iteration(OFFICIAL_ARGS["lr"], EPOCHS, 0.1, iters)
    return compare_lrs(theirs, ours, warmup_end=30 * iters)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, help="a checkout of haochen-rye/HNeRV")
    parser.add_argument("--fc-dims", type=int, nargs="+", default=None,
                        help="widths to check (default: the official sizing at 0.35/0.75/1.5/3M)")
    parser.add_argument("--forward-fc-dims", type=int, nargs="+", default=[15, 54],
                        help="widths whose forward pass is compared (each a 640x1280 CPU pass)")
    parser.add_argument("--out", help="write the rows as JSON lines here")
    args = parser.parse_args(argv)
    try:
        official = load_official(Path(args.official))
    except OfficialCodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    fc_dims = args.fc_dims or [official_fc_dim(m) for m in (0.35e6, 0.75e6, 1.5e6, 3e6)]
    rows = [dict(check="parameters", **parameters(official, f)) for f in fc_dims]
    rows += [dict(check="forward", **forward_agreement(official, f)) for f in args.forward_fc_dims]
    rows.append(dict(check="encoding", **encoding_difference(official)))
    rows.append(dict(check="lr", **lr_schedules(official)))
    failed = []
    for row in rows:
        row["official_commit"] = official.commit
        shown = {k: v for k, v in row.items() if not k.endswith("per_level")}
        print(json.dumps(shown))
        if row["check"] == "parameters" and not (row["same_shapes"]
                                                 and row["params_official"] == row["params_project"]):
            failed.append(f"parameters at fc_dim {row['fc_dim']}")
        if row["check"] == "forward" and max(row["max_abs_diff"], row["max_abs_diff_float64_encoding"],
                                             row["max_abs_diff_anchor_config"]) > FORWARD_TOLERANCE:
            failed.append(f"forward at fc_dim {row['fc_dim']}: {row['max_abs_diff']:.2e} "
                          f"(ours with pe_rounding='float64': {row['max_abs_diff_float64_encoding']:.2e}; "
                          f"the anchor config from frame indices: {row['max_abs_diff_anchor_config']:.2e})")
        if row["check"] == "lr" and row["max_relative_diff"] > LR_RELATIVE_TOLERANCE:
            failed.append(f"lr schedule: {row['max_relative_diff']:.2e} at iteration {row['worst_iteration']}")
    return finish(rows, args.out, failed)


if __name__ == "__main__":
    sys.exit(main())
