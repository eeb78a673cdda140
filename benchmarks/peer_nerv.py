"""Our NeRV beside the NeRV paper's own code (haochen-rye/NeRV, its code imported unchanged).

``--official PATH`` is a checkout of haochen-rye/NeRV kept outside this repository; its
``model_nerv.py`` (``Generator``) and ``utils.py`` (``PositionalEncoding``, ``loss_fn``,
``adjust_lr``) are imported from there, never copied. ``utils.py`` imports ``pytorch_msssim``:
the installed one, and with ``--msssim-dir DIR`` also the one in DIR (the official requirement
is 0.2.1: ``pip install --target DIR --no-deps pytorch_msssim==0.2.1``), each row naming the
version it used.

The official network is its README's Bunny command (``--embed 1.25_40 --stem_dim_num 512_1
--fc_hw_dim 9_16_<fc_dim> --expansion 1 --reduction 2 --lower-width 96 --num-blocks 1
--strides 5 2 2 2 2 --conv_type conv --norm none --act swish --single_res``; NeRV-S/M/L =
fc_dim 26/58/112), its recipe ``-e 300 -b 1 --lr 0.0005 --lr_type cosine --warmup 0.2
--loss Fusion6`` with Adam betas (0.5, 0.999). Ours is ``configs/compress/anchors/
nerv_bunny_nerv.py``. Checked, on the CPU in float32:

- parameters: every official tensor has the shape of its counterpart in ours, same total;
- forward: its initial weights loaded into ours (``official_state_to_project``) give its
  output at its frame times (float32 i / 132) at 720x1280, ours fed the same t and ours from
  frame indices (``NeRV.times``, ``frame_times="open"``), and the anchor config as it is
  from frame indices (its input codes included: other frame times fail the check);
- initialisation: each tensor's initial values, pooled over independent draws, from the same
  law on both sides (std, mean, largest magnitude);
- loss: its ``loss_fn`` (Fusion6) and our fit model's loss on the same frames: values and
  gradients w.r.t. the prediction;
- lr: its ``adjust_lr`` per iteration beside our mmengine schedule, 300 epochs of 132;
- optimizer: our config's Adam settings against its ``optim.Adam(params, betas=(0.5, 0.999))``,
  then two steps of each training loop from the same weights on the same frames (a 180x320
  network: strides 5, 2, 2) end at the same weights.

Whole fits of both sides on a GPU: ``benchmarks/peer_nerv_fit.py``.

    python benchmarks/peer_nerv.py --official /work/peers/NeRV --msssim-dir /tmp/msssim021  # CPU, minutes
    NERV_OFFICIAL=/work/peers/NeRV python -m pytest benchmarks/peer_checks -q -k nerv_paper
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_common import (OfficialCodeError, compare_lrs, finish, official_commit,  # noqa: E402
                         project_fit_model, project_lr_per_iteration, project_optim_wrapper,
                         same_law, shape_agreement)
from toolkit.codecs.inr.nerv import NeRV  # noqa: E402
from toolkit.engine.config import load_config  # noqa: E402

FRAMES = 132
BASE_H, BASE_W = 9, 16
STRIDES = (5, 2, 2, 2, 2)
FORWARD_TOLERANCE = 1e-5        # float32 rounding of the same maths in another order
LOSS_TOLERANCE = 1e-5           # loss value, absolute
GRADIENT_TOLERANCE = 1e-4       # max |gradient diff| / max |gradient|
LR_RELATIVE_TOLERANCE = 1e-3    # mmengine's LinearLR ends its warm-up one iteration early
STEP_TOLERANCE = 1e-2           # max |weight diff| / max |weight change| after the Adam steps (rounding:
                                # 3e-4; betas (0.9, 0.999) give 0.14, eps 1e-6 0.8)
# The README's Bunny command, as train_nerv.py passes it to Generator (and its training args;
# train_nerv.py turns --warmup 0.2 into int(0.2 * epochs) epochs).
OFFICIAL_EMBED = "1.25_40"
OFFICIAL_GENERATOR = dict(stem_dim_num="512_1", expansion=1.0, num_blocks=1, norm="none",
                          act="swish", bias=True, reduction=2, conv_type="conv", sin_res=True,
                          lower_width=96, sigmoid=False)
OFFICIAL_TRAINING = dict(epochs=300, warmup=int(0.2 * 300), lr=5e-4, lr_type="cosine",
                         beta=0.5, loss_type="Fusion6", batch_size=1)
PROJECT_CONFIG = ROOT / "configs" / "compress" / "anchors" / "nerv_bunny_nerv.py"
CONFIG = load_config(PROJECT_CONFIG)
INPUT_CODES = ("pe_rounding", "frame_times")
PROJECT_NETWORK = {k: v for k, v in CONFIG.codec.network.items() if k not in INPUT_CODES}
CONFIG_INPUT_CODES = {k: CONFIG.codec.network[k] for k in INPUT_CODES if k in CONFIG.codec.network}
# the official input codes in ours: float32 angles rounded as (t * 1.25**i) * pi, t = i / N
OFFICIAL_INPUT_CODES = dict(pe_rounding="official", frame_times="open")


def _import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _pytorch_msssim_from(directory: Path | None):
    """``import pytorch_msssim`` finds the one in ``directory`` (None: the installed one)."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules)
             if k == "pytorch_msssim" or k.startswith("pytorch_msssim.")}
    if directory is not None:
        sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        if directory is not None:
            sys.path.remove(str(directory))
        for k in [k for k in sys.modules if k == "pytorch_msssim" or k.startswith("pytorch_msssim.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _msssim_version(module) -> str:
    """The version of the pytorch_msssim that ``module`` (the official utils) imported."""
    package = Path(sys.modules[module.ssim.__module__].__file__).resolve().parent
    for dist in importlib.metadata.distributions(path=[str(package.parent)]):
        if dist.metadata["Name"].replace("-", "_").lower() == "pytorch_msssim":
            return dist.version
    return "unknown"


def load_official(path: Path, msssim_dirs=(None,)) -> SimpleNamespace:
    """Its model_nerv.py, and its utils.py once per pytorch_msssim (``msssim_dirs``: None for
    the installed one, or directories holding another), under names of their own."""
    path = Path(path).resolve()
    if not (path / "model_nerv.py").is_file() or not (path / "utils.py").is_file():
        raise OfficialCodeError(f"--official {path}: no model_nerv.py/utils.py there; give a "
                                f"checkout of github.com/haochen-rye/NeRV")
    try:
        model = _import_file("nerv_official_model_nerv", path / "model_nerv.py")
        utils = []
        for i, directory in enumerate(msssim_dirs):
            with _pytorch_msssim_from(directory):
                module = _import_file(f"nerv_official_utils_{i}", path / "utils.py")
                module.msssim_version = _msssim_version(module)
            utils.append(module)
    except ImportError as error:
        raise OfficialCodeError(f"--official {path}: importing its code failed ({error})") from error
    if not hasattr(model, "Generator") or not hasattr(utils[0], "adjust_lr"):
        raise OfficialCodeError(f"--official {path}: no Generator/adjust_lr there; give a checkout "
                                f"of github.com/haochen-rye/NeRV")
    return SimpleNamespace(path=str(path), model=model, utils=utils[0], all_utils=utils,
                           commit=official_commit(path))


def official_network(official, fc_dim: int, strides=STRIDES) -> torch.nn.Module:
    embed_length = official.utils.PositionalEncoding(OFFICIAL_EMBED).embed_length
    return official.model.Generator(embed_length=embed_length, fc_hw_dim=f"{BASE_H}_{BASE_W}_{fc_dim}",
                                    stride_list=list(strides), **OFFICIAL_GENERATOR).eval()


def official_times(index) -> torch.Tensor:
    """Its frame times as its training loop gets them: CustomDataSet's ``float(i) / len`` made
    a (float32) tensor per frame, collated."""
    return torch.stack([torch.tensor(float(i) / FRAMES) for i in index])


def official_frames(official, model, index) -> torch.Tensor:
    """Its frames at ``index``, one at a time (a 720x1280 pass of a batch would take GBs)."""
    pe = official.utils.PositionalEncoding(OFFICIAL_EMBED)
    return torch.cat([model(pe(t[None]))[-1] for t in official_times(index)])


def project_network(fc_dim: int, strides=None, **input_codes) -> NeRV:
    """Ours as the anchor config builds it (``strides``: None, the config's plan from the
    frame size) with ``input_codes`` (default: the config's)."""
    plan = strides or STRIDES
    codes = input_codes or CONFIG_INPUT_CODES
    return NeRV(BASE_H * math.prod(plan), BASE_W * math.prod(plan), fc_dim, **PROJECT_NETWORK,
                strides=strides, **codes).eval()


def official_state_to_project(official_state: dict) -> dict:
    """stem.0 / stem.2 -> the same (stem.0's input columns reordered: its encoding interleaves
    sin and cos per level, ours gives all sines, then all cosines); layers.k.conv.conv ->
    blocks.k.conv; head_layers.<last> -> head."""
    levels = official_state["stem.0.weight"].shape[1] // 2
    order = torch.cat([torch.arange(levels) * 2, torch.arange(levels) * 2 + 1])
    state = {}
    for key, value in official_state.items():
        leaf = key.rsplit(".", 1)[1]
        if key == "stem.0.weight":
            state[key] = value[:, order]
        elif key.startswith("stem."):
            state[key] = value
        elif key.startswith("layers.") and ".conv.conv." in key:
            state[f"blocks.{key.split('.')[1]}.conv.{leaf}"] = value
        elif key.startswith("head_layers."):
            state["head." + leaf] = value
        else:
            raise KeyError(f"official parameter {key} has no counterpart in ours")
    return state


def parameters(official, fc_dim: int) -> dict:
    ours = project_network(fc_dim)
    theirs = official_state_to_project(official_network(official, fc_dim).state_dict())
    return dict(fc_dim=fc_dim, **shape_agreement(theirs, ours.state_dict()),
                block_widths=list(ours.block_widths), strides=list(ours.strides))


def forward_agreement(official, fc_dim: int, index=(0, 1, 65, 131)) -> dict:
    torch.manual_seed(0)
    theirs = official_network(official, fc_dim)
    state = official_state_to_project(theirs.state_dict())
    ours = project_network(fc_dim, **OFFICIAL_INPUT_CODES)
    anchor = project_network(fc_dim)          # the config's input codes, as the anchors fit
    for network in (ours, anchor):
        network.load_state_dict(state)
    t = official_times(index)
    frames = torch.tensor(index)
    with torch.no_grad():
        pe = official.utils.PositionalEncoding(OFFICIAL_EMBED)
        levels = pe.levels
        their_codes = pe(t)
        their_codes = torch.cat([their_codes[:, 0::2], their_codes[:, 1::2]], 1)
        official_out = official_frames(official, theirs, index)
        same_t = torch.cat([ours(t[i:i + 1]) for i in range(len(t))])
        from_index = torch.cat([ours(ours.times(frames[i:i + 1], FRAMES)) for i in range(len(t))])
        anchor_out = torch.cat([anchor(anchor.times(frames[i:i + 1], FRAMES)) for i in range(len(t))])
    return dict(fc_dim=fc_dim, frames=list(index), output_shape=list(official_out.shape),
                encoding_levels=levels,
                encoding_max_abs_diff=float((ours.encoding(t) - their_codes).abs().max()),
                max_abs_diff=float((official_out - same_t).abs().max()),
                max_abs_diff_open_frame_times=float((official_out - from_index).abs().max()),
                anchor_config_input_codes=CONFIG_INPUT_CODES,
                anchor_config_frame_times=[float(v) for v in anchor.times(frames, FRAMES)],
                official_frame_times=[float(v) for v in t],
                max_abs_diff_anchor_config=float((official_out - anchor_out).abs().max()))


def _fan_in(state: dict, key: str) -> int:
    weight = state[key.rsplit(".", 1)[0] + ".weight"]
    return math.prod(weight.shape[1:])


def initial_law(official, fc_dim: int, seeds: int) -> list[dict]:
    """Per tensor, the initial values of each side pooled over ``seeds`` independent draws
    (the sides under different seeds), with PyTorch's default bound 1 / sqrt(fan_in) beside."""
    pooled = {}
    for seed in range(seeds):
        torch.manual_seed(seed)
        theirs = official_state_to_project(official_network(official, fc_dim).state_dict())
        torch.manual_seed(seeds + seed)
        ours = project_network(fc_dim).state_dict()
        for name, value in theirs.items():
            pooled.setdefault(name, ([], []))
            pooled[name][0].append(value.flatten())
            pooled[name][1].append(ours[name].flatten())
    return [dict(fc_dim=fc_dim, seeds=seeds, tensor=name,
                 default_bound=1 / math.sqrt(_fan_in(theirs, name)),
                 **same_law(torch.cat(a), torch.cat(b)))
            for name, (a, b) in pooled.items()]


def fit_model(fc_dim: int, strides=STRIDES):
    """Our fit model as the anchor config builds it (its loss weights), the network with the
    official input codes."""
    network = dict(type="NeRV", height=BASE_H * math.prod(strides), width=BASE_W * math.prod(strides),
                   channels=fc_dim, **PROJECT_NETWORK, strides=tuple(strides), **OFFICIAL_INPUT_CODES)
    return project_fit_model(CONFIG, network)


def loss_agreement(official, height: int, width: int) -> list[dict]:
    """Its ``loss_fn`` (Fusion6) and our fit model's loss on the same frames (a target and a
    prediction 0.1-noisy around it): values and gradients w.r.t. the prediction."""
    torch.manual_seed(0)
    target = torch.rand(1, 3, height, width)
    prediction = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    ours = fit_model(1, strides=(2, 2))
    pred = prediction.clone().requires_grad_()
    project_loss = ours.compute_loss(pred, target, None, {})
    (project_grad,) = torch.autograd.grad(project_loss, pred)
    rows = []
    for utils in official.all_utils:
        pred = prediction.clone().requires_grad_()
        official_loss = utils.loss_fn(pred, target, SimpleNamespace(loss_type=OFFICIAL_TRAINING["loss_type"]))
        (official_grad,) = torch.autograd.grad(official_loss, pred)
        rows.append(dict(size=[height, width], pytorch_msssim=utils.msssim_version,
                         project_loss_weights=ours.loss_weights,
                         official_loss=official_loss.item(), project_loss=project_loss.item(),
                         abs_diff=abs(official_loss.item() - project_loss.item()),
                         gradient_max_abs=float(official_grad.abs().max()),
                         gradient_relative_diff=float((official_grad - project_grad).abs().max()
                                                      / official_grad.abs().max())))
    return rows


def official_lrs(official, iterations_per_epoch: int) -> list[float]:
    """The lr of each iteration as train_nerv.py sets it (``adjust_lr`` before each step)."""
    args = SimpleNamespace(**OFFICIAL_TRAINING)
    probe = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=args.lr)
    return [official.utils.adjust_lr(probe, e, i, iterations_per_epoch, args)
            for e in range(args.epochs) for i in range(iterations_per_epoch)]


def project_lrs() -> list[float]:
    fit = CONFIG.fit
    return project_lr_per_iteration(fit.optimizer.lr, fit.max_epochs, fit.warmup_ratio,
                                     FRAMES // fit.batch_size)


def lr_schedules(official) -> dict:
    theirs, ours = official_lrs(official, FRAMES // OFFICIAL_TRAINING["batch_size"]), project_lrs()
    return compare_lrs(theirs, ours, warmup_end=OFFICIAL_TRAINING["warmup"] * FRAMES)


ADAM_SETTINGS = ("betas", "eps", "weight_decay", "amsgrad", "maximize")


def optimizer_settings() -> dict:
    from toolkit.engine.fit import runner_keys

    probe = torch.nn.Linear(1, 1)
    theirs = torch.optim.Adam(probe.parameters(), betas=(OFFICIAL_TRAINING["beta"], 0.999))
    ours = project_optim_wrapper(CONFIG, probe)
    gpu_wrapper = runner_keys(CONFIG.fit, on_gpu=True)["optim_wrapper"]
    official = {k: theirs.defaults[k] for k in ADAM_SETTINGS}
    project = {k: ours.optimizer.defaults[k] for k in ADAM_SETTINGS}
    return dict(official_type=type(theirs).__name__, project_type=type(ours.optimizer).__name__,
                official=official, project=project,
                official_lr=OFFICIAL_TRAINING["lr"], project_lr=CONFIG.fit.optimizer.lr,
                project_clip_grad=ours.clip_grad_kwargs or None,
                same=(type(theirs) is type(ours.optimizer) and official == project
                      and OFFICIAL_TRAINING["lr"] == CONFIG.fit.optimizer.lr
                      and not ours.clip_grad_kwargs),
                # reported, not compared: how the fit wraps it on a GPU (the official code runs fp32)
                project_gpu_wrapper=dict(type=gpu_wrapper["type"], dtype=gpu_wrapper.get("dtype")))


def training_steps(official, fc_dim: int = 8, strides=(5, 2, 2), frames=(5, 70)) -> dict:
    """From the same weights, one step per frame of each side's training loop: its
    train_nerv.py body (PositionalEncoding, Generator, loss_fn, adjust_lr, Adam) and ours (the
    fit model's loss, the config's optimizer wrapper, our schedule's lr)."""
    torch.manual_seed(0)
    theirs = official_network(official, fc_dim, strides).train()
    ours = fit_model(fc_dim, strides).train()
    ours.network.load_state_dict(official_state_to_project(theirs.state_dict()))
    start = {k: v.clone() for k, v in ours.network.state_dict().items()}
    height, width = ours.network.height, ours.network.width
    video = (torch.rand(len(frames), 3, height, width) * 256).clamp(max=255).to(torch.uint8)
    pe = official.utils.PositionalEncoding(OFFICIAL_EMBED)
    args = SimpleNamespace(**OFFICIAL_TRAINING)
    their_optimizer = torch.optim.Adam(theirs.parameters(), betas=(args.beta, 0.999))
    wrapper = project_optim_wrapper(CONFIG, ours)
    our_lrs = project_lrs()
    losses, lrs = [], []
    for i, (index, frame) in enumerate(zip(frames, video)):
        data = frame[None].float() / 255                       # ToTensor
        output_list = theirs(pe(official_times([index])))
        target_list = [F.adaptive_avg_pool2d(data, x.shape[-2:]) for x in output_list]
        loss = sum(official.utils.loss_fn(o, t, args) for o, t in zip(output_list, target_list))
        official.utils.adjust_lr(their_optimizer, 0, i, FRAMES, args)
        their_optimizer.zero_grad()
        loss.backward()
        their_optimizer.step()

        for group in wrapper.optimizer.param_groups:
            group["lr"] = our_lrs[i]
        inputs = dict(index=torch.tensor([index]), total=torch.tensor([FRAMES]), frame=frame[None])
        project_loss = ours(inputs, mode="loss")["loss"]
        wrapper.update_params(project_loss)
        losses.append([loss.item(), project_loss.item()])
        lrs.append([their_optimizer.param_groups[0]["lr"], our_lrs[i]])
    after = official_state_to_project(theirs.state_dict())
    ours_after = ours.network.state_dict()
    change = max(float((after[k] - start[k]).abs().max()) for k in after)
    diff = max(float((after[k] - ours_after[k]).abs().max()) for k in after)
    return dict(fc_dim=fc_dim, strides=list(strides), frame_size=[height, width], frames=list(frames),
                losses=losses, lrs=lrs,
                max_weight_change=change, max_weight_diff=diff, relative_diff=diff / change)


def failures(rows: list[dict]) -> list[str]:
    failed = []
    for row in rows:
        check = row["check"]
        if check == "parameters" and not (row["same_shapes"] and row["params_official"] == row["params_project"]):
            failed.append(f"parameters at fc_dim {row['fc_dim']}: {row['params_official']} vs "
                          f"{row['params_project']}")
        if check == "forward" and max(row["max_abs_diff"], row["max_abs_diff_open_frame_times"],
                                      row["encoding_max_abs_diff"],
                                      row["max_abs_diff_anchor_config"]) > FORWARD_TOLERANCE:
            failed.append(f"forward at fc_dim {row['fc_dim']}: {row['max_abs_diff']:.2e} at its t, "
                          f"{row['max_abs_diff_open_frame_times']:.2e} from frame indices, "
                          f"{row['max_abs_diff_anchor_config']:.2e} with the anchor config's input "
                          f"codes {row['anchor_config_input_codes'] or '(defaults)'}")
        if check == "init" and not row["agrees"]:
            failed.append(f"initial law of {row['tensor']}: std {row['std_official']:.4g} vs "
                          f"{row['std_project']:.4g}")
        if check == "loss" and (row["abs_diff"] > LOSS_TOLERANCE
                                or row["gradient_relative_diff"] > GRADIENT_TOLERANCE):
            failed.append(f"loss at {row['size']} (pytorch_msssim {row['pytorch_msssim']}): "
                          f"{row['abs_diff']:.2e}, gradient {row['gradient_relative_diff']:.2e}")
        if check == "lr" and row["max_relative_diff"] > LR_RELATIVE_TOLERANCE:
            failed.append(f"lr schedule: {row['max_relative_diff']:.2e} at iteration {row['worst_iteration']}")
        if check == "optimizer" and not row["same"]:
            failed.append(f"optimizer: {row['official']} vs {row['project']}")
        if check == "steps" and row["relative_diff"] > STEP_TOLERANCE:
            failed.append(f"training steps: weights {row['max_weight_diff']:.2e} apart "
                          f"({row['relative_diff']:.2e} of the change)")
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, help="a checkout of haochen-rye/NeRV")
    parser.add_argument("--msssim-dir", type=Path, default=None,
                        help="a directory holding another pytorch_msssim (e.g. 0.2.1, the official "
                             "requirement) to check the loss with too")
    parser.add_argument("--fc-dims", type=int, nargs="+", default=[26, 58, 112],
                        help="widths whose parameters are compared (NeRV-S/M/L)")
    parser.add_argument("--forward-fc-dims", type=int, nargs="+", default=[26],
                        help="widths whose forward pass is compared (720x1280 CPU passes)")
    parser.add_argument("--forward-frames", type=int, nargs="+", default=[0, 1, 65, 131])
    parser.add_argument("--init-seeds", type=int, default=5, help="draws pooled per side (fc_dim 26)")
    parser.add_argument("--out", help="write the rows as JSON lines here")
    args = parser.parse_args(argv)
    if args.msssim_dir is not None and not (args.msssim_dir / "pytorch_msssim").is_dir():
        print(f"error: --msssim-dir {args.msssim_dir}: no pytorch_msssim package there", file=sys.stderr)
        return 2
    try:
        official = load_official(Path(args.official), (None, args.msssim_dir) if args.msssim_dir else (None,))
    except OfficialCodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    command = "python " + " ".join([str(Path(__file__).relative_to(ROOT))] + list(sys.argv[1:] if argv is None else argv))
    rows = [dict(check="parameters", **parameters(official, f)) for f in args.fc_dims]
    rows += [dict(check="forward", **forward_agreement(official, f, tuple(args.forward_frames)))
             for f in args.forward_fc_dims]
    rows += [dict(check="init", **row) for row in initial_law(official, 26, args.init_seeds)]
    for size in ((720, 1280), (64, 96)):
        rows += [dict(check="loss", **row) for row in loss_agreement(official, *size)]
    rows.append(dict(check="lr", **lr_schedules(official)))
    rows.append(dict(check="optimizer", **optimizer_settings()))
    rows.append(dict(check="steps", **training_steps(official)))
    for row in rows:
        row.update(official_commit=official.commit, command=command)
        print(json.dumps({k: v for k, v in row.items() if k != "command"}), flush=True)
    return finish(rows, args.out, failures(rows))


if __name__ == "__main__":
    sys.exit(main())
