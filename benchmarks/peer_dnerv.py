"""Our D-NeRV beside the official one (boheumd/D-NeRV, its code imported unchanged).

``--official PATH`` is a checkout of boheumd/D-NeRV kept outside this repository; its
``model.py`` (``DNeRV``), ``utils.py`` (``PositionalEncoding``, ``adjust_lr``) and, when
importable, ``loss.py`` (``loss_fn``) are imported from there, never copied.

forward Loads the official network's initial weights into ours (``official_state_to_project``)
        and compares, on the same random clips, the outputs of every stage (float32, CPU);
        fails when the outputs differ by more than float rounding.
init    Draws the initial weights of both networks under independent seeds and compares, tensor
        by tensor, their std and mean pooled over ``--init-seeds`` draws (float32, CPU); fails
        when a tensor's law differs (beyond 5 standard errors).
parity  Trains both networks on the same prepared source: the same clips in the same order,
        the same decoded keyframes (coded once, as configs/compress/dnerv.py codes them),
        epochs, batch, AdamW 5e-4 and per-iteration schedule (the official ``adjust_lr``:
        20 % warm-up from 0.1 * lr, then cosine). Each side draws its own initial weights
        (same seed, same distributions, another order) and ours the mean/std our recipe fits
        with (the official UCF101 statistics since issue 13); ``--same-init`` starts ours from
        the official's weights (and mean/std), so a gap left is not init luck. Loss: the official ``loss_fn`` with
        ``Fusion19`` (MSE + 0.03 (1 - SSIM)) for the official side, our fit model's loss
        (the same terms) for ours. Reports PSNR before quantisation (float32, every real
        frame) and training wall time of each, at the widths ``--fc-dims``: ``budget`` (what
        our budget picks for ``--size``) and/or numbers (281: the paper's M).
speed   Times the official model as its train.py trains (forward, loss, backward, AdamW
        step) in float32 and bf16 autocast, and decoding (forward under no_grad), beside ours
        at the settings given (``--project-settings``), same shapes, sizes S/M/L.

How the official forward is fed (its dataset.py's tensors, from ours): keyframes
(B, 2, 3, H, W) in [0, 1] -> (B, 3, 2, H, W) normalised with the official UCF101 mean/std
(train.py's ``transforms.Normalize``; the same mean/std go to its constructor); time
``t`` -> its ``PositionalEncoding('1.25_240')`` -> (B, 480, T); ``end_weight`` -> its
``backward_distance``; valid -> ``frame_mask``. Output (B, 3, T, H, W). Its constructor
takes ``device`` (grids and mean/std are plain tensors, not buffers), so it is built on the
target device; nothing in it calls ``.cuda()``.

    python benchmarks/peer_dnerv.py parity --official /work/peers/D-NeRV --data-root data/builtin \\
        --size M --fc-dims budget 281 --epochs 100 --out docs/results/data/dnerv_parity.jsonl
    python benchmarks/peer_dnerv.py speed --official /work/peers/D-NeRV --sizes S M L \\
        --out docs/results/data/dnerv_speed_vs_official.jsonl
    python benchmarks/peer_dnerv.py forward --official /work/peers/D-NeRV --tiny  # CPU, seconds
    python benchmarks/peer_dnerv.py init --official /work/peers/D-NeRV --tiny     # CPU, seconds
    python benchmarks/peer_dnerv.py parity --official /work/peers/D-NeRV --tiny   # CPU dry run
    python benchmarks/peer_dnerv.py speed --official /work/peers/D-NeRV --tiny
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import tempfile
import time
import types
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from peer_common import OfficialCodeError, official_commit, same_law  # noqa: E402
from dnerv_speed import FC_DIM, bench, peak_memory_gib, timed  # noqa: E402
from toolkit.codecs.inr.sizing import count_parameters, stride_plan  # noqa: E402
from toolkit.quality import psnr, ssim  # noqa: E402
from toolkit.runinfo import run_facts  # noqa: E402

UCF101_MEAN = (0.3986, 0.3829, 0.3546)  # the official train.py's dataset statistics
UCF101_STD = (0.2805, 0.2747, 0.2787)
OFFICIAL_EMBED = "1.25_240"
OFFICIAL_LOSS = "Fusion19"  # MSE + 0.03 * (1 - SSIM), the UCF101 recipe
CLIP_LEN = 8
FORWARD_TOLERANCE = 1e-5  # float32 rounding of the same maths in another order


# ---- the official code ----------------------------------------------------------------

def _ssim_stand_in() -> types.ModuleType:
    """A ``pytorch_msssim`` module over toolkit.quality (same window, constants, averaging)."""
    module = types.ModuleType("pytorch_msssim")

    def ssim_(x, y, data_range=1.0, size_average=True, **_):
        values = ssim(x, y, data_range)
        return values.mean() if size_average else values

    def ms_ssim_(x, y, data_range=1.0, size_average=True, **_):
        from toolkit.quality import ms_ssim

        values = ms_ssim(x, y, data_range)
        return values.mean() if size_average else values

    module.ssim, module.ms_ssim = ssim_, ms_ssim_
    module.__toolkit_stand_in__ = True
    return module


def load_official(path: Path) -> SimpleNamespace:
    """Import the official model, positional encoding, lr schedule and (if it imports) loss."""
    path = Path(path).resolve()
    if not (path / "model.py").is_file() or not (path / "utils.py").is_file():
        raise OfficialCodeError(f"--official {path}: no model.py/utils.py there; give a checkout "
                                f"of github.com/boheumd/D-NeRV")
    notes = []
    try:
        importlib.import_module("pytorch_msssim")
        ssim_source = "pytorch_msssim"
    except ImportError:
        # utils.py imports it at the top (for UVG evaluation only); its SSIM is the same as ours
        sys.modules["pytorch_msssim"] = _ssim_stand_in()
        ssim_source = "toolkit.quality (pytorch_msssim not installed)"
        notes.append("pytorch_msssim replaced by a stand-in over toolkit.quality.ssim")
    sys.path.insert(0, str(path))
    try:
        model = importlib.import_module("model")
        utils = importlib.import_module("utils")
    except ImportError as error:
        raise OfficialCodeError(f"--official {path}: importing its model.py failed ({error}); "
                                f"install what it needs (tqdm, Pillow)") from error
    if Path(model.__file__).resolve().parent != path:
        raise OfficialCodeError(f"a module named 'model' was already imported from {model.__file__}")
    try:
        loss_fn = importlib.import_module("loss").loss_fn
        loss_source = f"official loss.py {OFFICIAL_LOSS}, SSIM from {ssim_source}"
    except ImportError as error:
        loss_fn = None
        loss_source = f"project reconstruction_loss (official loss.py not importable: {error})"
        notes.append(loss_source)
    return SimpleNamespace(path=str(path), DNeRV=model.DNeRV, utils=utils, loss_fn=loss_fn,
                           loss_source=loss_source, notes=notes)


def official_network(official, height: int, width: int, fc_dim: int, device) -> torch.nn.Module:
    """The official DNeRV as its train.py builds it for UCF101 (strides from our stride plan)."""
    base_h, base_w, strides = stride_plan(height, width)
    embed = official.utils.PositionalEncoding(OFFICIAL_EMBED)
    net = official.DNeRV(embed_length=embed.embed_length, fc_hw=f"{base_h}_{base_w}", fc_dim=fc_dim,
                         expansion=2, stride_list=list(strides), lower_width=32, clip_size=CLIP_LEN,
                         device=torch.device(device), dataset_mean=list(UCF101_MEAN),
                         dataset_std=list(UCF101_STD))
    return net.to(device)


class OfficialInputs:
    """Our clip tensors -> the official forward's arguments (see the module docstring)."""

    def __init__(self, official, device):
        self.embed = official.utils.PositionalEncoding(OFFICIAL_EMBED)
        self.mean = torch.tensor(UCF101_MEAN, device=device).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(UCF101_STD, device=device).view(1, 1, 3, 1, 1)

    def __call__(self, keyframes, t, end_weight):
        """keyframes (B, 2, 3, H, W) in [0, 1], t and end_weight (B, T)."""
        keyframe = ((keyframes - self.mean) / self.std).permute(0, 2, 1, 3, 4).contiguous()
        return dict(embed_input=self.embed(t), keyframe=keyframe, backward_distance=end_weight)


def official_loss(official, output, frames, valid):
    """output (B, 3, T, H, W), frames (B, T, 3, H, W) in [0, 1], valid (B, T) bool."""
    if official.loss_fn is None:
        return project_loss(output.transpose(1, 2), frames, valid)
    return official.loss_fn(output, frames.transpose(1, 2), valid.bool(), loss_type=OFFICIAL_LOSS)


def project_loss(pred, frames, valid):
    from toolkit.quality import reconstruction_loss

    return reconstruction_loss(pred, frames, valid, mse=1.0, ssim_weight=0.03)


# ---- forward: the same weights, the same outputs ---------------------------------------------

def official_state_to_project(official_state: dict, project_state: dict) -> dict:
    """The official DNeRV's weights under our names and shapes.

    The two state dicts hold the same tensors in the same order: Conv3d kernels (1, k, k) are
    our Conv2d kernels, the stem's Conv1d (kernel 1) our Linear layers. One permutation: the
    official positional encoding interleaves (sin_i, cos_i), ours puts the sin block first, so
    the stem's first weight takes the official columns 0, 2, 4, ... then 1, 3, 5, ...
    """
    if len(official_state) != len(project_state):
        raise ValueError(f"official DNeRV has {len(official_state)} tensors, ours "
                         f"{len(project_state)}: not the same architecture")
    mapped = {}
    for (name, value), (ours, like) in zip(official_state.items(), project_state.items()):
        if value.numel() != like.numel():
            raise ValueError(f"official {name} {tuple(value.shape)} does not map to our {ours} "
                             f"{tuple(like.shape)}")
        if name == "stem.mlp.0.weight":
            value = torch.cat([value[:, 0::2], value[:, 1::2]], dim=1)
        mapped[ours] = value.reshape(like.shape).clone()
    return mapped


def forward_agreement(official, height: int, width: int, fc_dim: int, clips: int = 2,
                      seed: int = 0) -> dict[str, float]:
    """Largest |official - ours| at each stage, ours loaded with the official's initial weights
    and the official mean/std, on the same random clip inputs (CPU, float32)."""
    from toolkit.codecs.inr.dnerv import DNeRV

    torch.manual_seed(seed)
    theirs = official_network(official, height, width, fc_dim, "cpu").eval()
    ours = DNeRV(height, width, fc_dim, clip_len=CLIP_LEN, mean=UCF101_MEAN, std=UCF101_STD).eval()
    ours.load_state_dict(official_state_to_project(theirs.state_dict(), ours.state_dict()))
    stages = [("stem", theirs.stem, ours.stem), ("encoder", theirs.encoder, ours.encoder)]
    stages += [(f"block{i}", a, b) for i, (a, b) in enumerate(zip(theirs.decoder_list, ours.blocks))]
    stages += [(f"flow{i}", theirs.flow_pred_list[i], ours.flow_heads[str(i)])
               for i in range(len(theirs.flow_pred_list))]
    stages += [("rgb", theirs.rgb_head_layer, ours.rgb_head)]
    seen = {}
    for name, a, b in stages:
        a.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(("official", name), o))
        b.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(("project", name), o))
    keyframes = torch.rand(clips, 2, 3, height, width)
    t = torch.rand(clips, CLIP_LEN).sort(dim=1).values
    end_weight = torch.arange(CLIP_LEN).float().div(CLIP_LEN).expand(clips, -1)
    with torch.no_grad():
        out_official = theirs(**OfficialInputs(official, "cpu")(keyframes, t, end_weight))
        out_project = ours(keyframes, t, end_weight)

    def frames_first(x):  # official (B, C, T, h, w) -> our (B*T, C, h, w)
        return x.transpose(1, 2).flatten(0, 1)

    differences = {}
    for name, *_ in stages:
        a, b = seen[("official", name)], seen[("project", name)]
        if name == "stem":  # (B, C*h*w, T) -> (B*T, C*h*w)
            pairs = [(a.transpose(1, 2).flatten(0, 1), b)]
        elif name == "encoder":
            pairs = [(frames_first(x), y) for x, y in zip(a, b)]  # (B*2, C, h, w) both
        else:
            pairs = [(frames_first(a), b)]
        differences[name] = max((x.reshape(y.shape) - y).abs().max().item() for x, y in pairs)
    differences["output"] = (out_official.transpose(1, 2) - out_project).abs().max().item()
    return differences


def forward(args, official) -> int:
    height, width = (64, 80) if args.tiny else (256, 320)
    worst = 0.0
    for fc_dim in args.forward_fc_dims:
        differences = forward_agreement(official, height, width, fc_dim, seed=args.seed)
        worst = max(worst, differences["output"])
        print(f"fc_dim {fc_dim} at {height}x{width}: largest |official - ours| "
              + ", ".join(f"{k} {v:.2e}" for k, v in differences.items()), flush=True)
    if worst > FORWARD_TOLERANCE:
        print(f"error: outputs differ by {worst:.2e} > {FORWARD_TOLERANCE:.0e} with the same weights",
              file=sys.stderr)
        return 1
    return 0


# ---- init: the same law of initial weights ------------------------------------------------

def initial_law_agreement(official, height: int, width: int, fc_dim: int,
                          seeds: int = 20) -> list[dict]:
    """Per tensor, the initial weights of each side pooled over ``seeds`` independent draws
    (the sides under different seeds: with the same seed the draws of several tensors
    coincide, which would hide a difference). Every tensor of both is uniform or zero, so
    its std and mean say its law; ``agrees`` allows 5 standard errors of each."""
    from toolkit.codecs.inr.dnerv import DNeRV

    pooled = {}
    for seed in range(seeds):
        torch.manual_seed(seed)
        theirs = official_network(official, height, width, fc_dim, "cpu").state_dict()
        torch.manual_seed(seeds + seed)
        ours = DNeRV(height, width, fc_dim, clip_len=CLIP_LEN, mean=UCF101_MEAN,
                     std=UCF101_STD).state_dict()
        for name, value in official_state_to_project(theirs, ours).items():
            pooled.setdefault(name, ([], []))
            pooled[name][0].append(value.flatten())
            pooled[name][1].append(ours[name].flatten())
    return [dict(tensor=name, **same_law(torch.cat(a), torch.cat(b)))
            for name, (a, b) in pooled.items()]


def init(args, official) -> int:
    height, width = (64, 80) if args.tiny else (256, 320)
    failed = []
    for fc_dim in args.forward_fc_dims:
        for row in initial_law_agreement(official, height, width, fc_dim, args.init_seeds):
            print(f"fc_dim {fc_dim} {row['tensor']:28s} std official {row['std_official']:.4f} "
                  f"ours {row['std_project']:.4f}, mean {row['mean_official']:+.4f} "
                  f"{row['mean_project']:+.4f} ({row['values']} values)"
                  + ("" if row["agrees"] else "  DIFFERS"), flush=True)
            if not row["agrees"]:
                failed.append(f"{row['tensor']} (fc_dim {fc_dim})")
    if failed:
        print(f"error: initial weights drawn from another law: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# ---- parity -------------------------------------------------------------------------------

def tiny_source(root: Path) -> Path:
    """A generated two-video source at 64x80 for CPU dry runs."""
    import numpy as np

    from toolkit.data.source import SourceWriter, VideoRecord

    writer = SourceWriter(root / "raw", "raw", codec="raw", size=None, height=64, width=80, fps=2,
                          classes=["a"])
    rng = np.random.default_rng(0)
    records = []
    for i, length in enumerate([12, 9]):
        texture = rng.integers(0, 256, (64, 80 + 2 * length, 3)).astype(np.uint8)
        frames = np.stack([texture[:, 2 * k:2 * k + 80] for k in range(length)])
        writer.write_video(f"a/v{i}.mkv", frames)
        records.append(VideoRecord(f"a/v{i}.mkv", 0, "train", length))
    writer.finalize(records)
    return root


def prepare_clips(data_root: Path, source_name: str, size: str, work_dir: Path, workers: int):
    """Code the keyframes as the D-NeRV codec does for ``size``; return the clip dataset and
    the fc_dim the budget left for the weights picks."""
    from toolkit.data.source import Source
    from toolkit.engine.config import build_codec, find_config, load_config
    from toolkit.engine.datasets import SourceClips

    cfg = load_config(find_config("compress", "dnerv"))
    codec = build_codec(cfg.codec)
    source = Source.open(data_root, source_name)
    videos = list(range(len(source.videos)))
    budget_bits = cfg.sizes[size] * source.num_pixels
    made = {}
    if not all((Path(work_dir) / f).is_file() for f in codec.cached_files):
        made = codec.prepare(source, videos, budget_bits, work_dir, workers=max(workers, 1))
    prep = codec.preparation(work_dir, budget_bits, made)
    job = codec.fit_jobs(source, videos, prep.weight_bits)[0]
    dataset = SourceClips(data_root, keyframes=prep.dataset_args["keyframes"], source=source_name,
                          clip_len=CLIP_LEN)
    return dataset, job.network["fc_dim"], dict(keyframe_bits=prep.info["keyframe_bits"],
                                                 budget_bits=budget_bits, frames=source.num_frames,
                                                 mean=job.network["mean"], std=job.network["std"])


def to_unit(frames):
    return frames.float() / 255.0


def train_and_measure(step_fn, decode_fn, params, loader, epochs: int, dtype, device, lr_of,
                      label: str = ""):
    """Train with AdamW at the per-iteration lr ``lr_of(epoch, i, iters)``; return (seconds,
    PSNR over every real frame of the loader decoded in float32). Prints progress about ten
    times a run (``label``: which side)."""
    optimizer = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    autocast = dict(device_type=torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)
    iters = len(loader)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    # one untimed forward/backward (CUDA context, cuDNN autotuning), no optimizer step
    batch = {k: v.to(device) for k, v in next(iter(loader.dataset_in_order()))["inputs"].items()}
    with torch.autocast(**autocast):
        step_fn(batch).backward()
    optimizer.zero_grad(set_to_none=True)
    sync()
    begin = time.perf_counter()
    for epoch in range(epochs):
        for i, batch in enumerate(loader):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch["inputs"].items()}
            lr = lr_of(epoch, i, iters)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(**autocast):
                loss = step_fn(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if (epoch + 1) % max(1, epochs // 10) == 0 or epoch + 1 == epochs:
            print(f"  {label} epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, "
                  f"{time.perf_counter() - begin:.0f} s", flush=True)
    sync()
    seconds = time.perf_counter() - begin
    values = []
    with torch.no_grad():
        for batch in loader.dataset_in_order():
            batch = {k: v.to(device) for k, v in batch["inputs"].items()}
            pred = decode_fn(batch).float()
            keep = batch["valid"].reshape(-1).bool()
            values.append(psnr(pred.reshape(-1, *pred.shape[-3:])[keep],
                               to_unit(batch["frames"]).reshape(-1, *pred.shape[-3:])[keep]))
    return seconds, torch.cat(values).mean().item()


class Loader:
    """The same shuffled batches for both sides (a generator re-seeded per side), and the
    clips in order for evaluation. Keeps the last short batch (the official train.py drops
    it; with a few hundred clips dropping would lose data)."""

    def __init__(self, dataset, batch_size: int, workers: int, seed: int):
        self.dataset, self.batch_size, self.workers, self.seed = dataset, batch_size, workers, seed

    def _loader(self, shuffle: bool):
        generator = torch.Generator().manual_seed(self.seed)
        return torch.utils.data.DataLoader(self.dataset, batch_size=self.batch_size, shuffle=shuffle,
                                           num_workers=self.workers, generator=generator,
                                           persistent_workers=self.workers > 0,
                                           pin_memory=torch.cuda.is_available())

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        if not hasattr(self, "_shuffled"):
            self._shuffled = self._loader(True)
        return iter(self._shuffled)

    def reset(self):
        self.__dict__.pop("_shuffled", None)

    def dataset_in_order(self):
        return iter(self._loader(False))


def parity(args, official) -> list[dict]:
    from toolkit.engine.models import DNeRVFitModel

    device = args.device
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_root = tiny_source(Path(tmp)) if args.tiny else args.data_root
        work_dir = args.work_dir or Path(tmp) / "keyframes"
        work_dir.mkdir(parents=True, exist_ok=True)
        dataset, budget_fc_dim, info = prepare_clips(data_root, args.source, args.size, work_dir,
                                                     args.workers)
        height, width = dataset.source.height, dataset.source.width
        loader = Loader(dataset, args.batch, args.workers, args.seed)
        fc_dims = [("budget", budget_fc_dim) if f == "budget" else ("set", int(f)) for f in args.fc_dims]
        warmup = int(0.2 * args.epochs)  # train.py: args.warmup = int(args.warmup * args.epochs)

        def lr_of(epoch, i, iters):  # the official adjust_lr, one function for both sides
            state = SimpleNamespace(warmup=warmup, epochs=args.epochs, lr=5e-4)
            return official.utils.adjust_lr(SimpleNamespace(param_groups=[{}]), epoch, i, iters, state)

        for origin, fc_dim in fc_dims:
            torch.manual_seed(args.seed)
            theirs = official_network(official, height, width, fc_dim, device)
            initial = ({k: v.detach().clone() for k, v in theirs.state_dict().items()}
                       if args.same_init else None)
            feed = OfficialInputs(official, device)

            def official_forward(batch):
                return theirs(**feed(to_unit(batch["keyframes"]), batch["t"], batch["end_weight"]))

            def official_step(batch):
                return official_loss(official, official_forward(batch), to_unit(batch["frames"]),
                                     batch["valid"])

            loader.reset()
            theirs.train()
            time_official, psnr_official = train_and_measure(
                official_step, lambda b: official_forward(b).transpose(1, 2), theirs.parameters(),
                loader, args.epochs, getattr(torch, args.official_dtype), device, lr_of, "official")
            print(f"fc_dim {fc_dim}: official {psnr_official:.2f} dB in {time_official:.0f} s", flush=True)

            torch.manual_seed(args.seed)
            network = dict(type="DNeRV", height=height, width=width, fc_dim=fc_dim,
                           clip_len=CLIP_LEN, mean=info["mean"], std=info["std"],  # as the recipe fits
                           **args.project_network)
            if args.same_init:  # the same function as the official's needs its mean/std too
                network.update(mean=UCF101_MEAN, std=UCF101_STD)
            ours = DNeRVFitModel(network).to(device)
            if args.same_init:
                ours.network.load_state_dict(
                    official_state_to_project(initial, ours.network.state_dict()))
            loader.reset()
            ours.train()
            time_project, psnr_project = train_and_measure(
                ours._training_loss, lambda b: ours.render(b)[0], ours.parameters(), loader,
                args.epochs, getattr(torch, args.project_dtype), device, lr_of, "project")

            row = dict(dataset=args.dataset_name or ("tiny" if args.tiny else str(data_root)),
                       fc_dim=fc_dim, fc_dim_from=origin, size=args.size, epochs=args.epochs,
                       batch_clips=args.batch, clips=len(dataset), frames=info["frames"],
                       height=height, width=width,
                       params_official=count_parameters(theirs), params_project=count_parameters(ours),
                       psnr_official=psnr_official, psnr_project=psnr_project,
                       time_official_s=time_official, time_project_s=time_project,
                       dtype_official=args.official_dtype, dtype_project=args.project_dtype,
                       project_network=args.project_network, official_loss=official.loss_source,
                       project_mean=list(network["mean"]), project_std=list(network["std"]),
                       same_init=args.same_init, seed=args.seed,
                       official_path=official.path, official_commit=official_commit(official.path),
                       keyframe_bits=info["keyframe_bits"],
                       adaptations=official.notes, **run_facts())
            rows.append(row)
            print(f"fc_dim {fc_dim} ({origin}): official {psnr_official:.2f} dB in {time_official:.0f} s, "
                  f"project {psnr_project:.2f} dB in {time_project:.0f} s", flush=True)
            write_rows(args.out, [row])
    return rows


# ---- speed --------------------------------------------------------------------------------

def official_speed(official, size: str, dtype, clips: int, repeats: int, warmup: int, device,
                   shape=(256, 320), fc_dim=None) -> dict:
    """Frames/s of the official model trained as its train.py trains, and decoding."""
    height, width = shape
    net = official_network(official, height, width, fc_dim or FC_DIM[size], device)
    feed = OfficialInputs(official, device)
    inputs = feed(torch.rand(clips, 2, 3, height, width, device=device),
                  torch.rand(clips, CLIP_LEN, device=device).sort(dim=1).values,
                  torch.arange(CLIP_LEN, device=device).float().div(CLIP_LEN).expand(clips, -1))
    video = torch.rand(clips, 3, CLIP_LEN, height, width, device=device)
    mask = torch.ones(clips, CLIP_LEN, dtype=torch.bool, device=device)
    optimizer = torch.optim.AdamW(net.parameters(), betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    autocast = dict(device_type=torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)

    def train_step():  # train.py's loop body: forward, loss, zero_grad, backward, step
        with torch.autocast(**autocast):
            output = net(**inputs)
            loss = official_loss(official, output, video.transpose(1, 2), mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def decode():
        with torch.no_grad(), torch.autocast(**autocast):
            net(**inputs)

    frames = clips * CLIP_LEN
    train_s = timed(train_step, repeats, warmup)
    decode_s = timed(decode, repeats, warmup)
    return dict(parameters=count_parameters(net), train_fps=frames / train_s,
                decode_fps=frames / decode_s, peak_memory_gib=peak_memory_gib())


def parse_settings(text: str) -> dict:
    """``bf16,compile,x8,channels_last`` -> bench() keyword arguments."""
    settings = dict(dtype="bfloat16", compiled=False, width_multiple=1, network_args={})
    for item in filter(None, text.split(",")):
        if item in ("bf16", "bfloat16", "fp32", "float32"):
            settings["dtype"] = "float32" if item in ("fp32", "float32") else "bfloat16"
        elif item == "compile":
            settings["compiled"] = True
        elif item.startswith("x") and item[1:].isdigit():
            settings["width_multiple"] = int(item[1:])
        elif item == "channels_last":
            settings["network_args"] = dict(settings["network_args"], channels_last=True)
        else:
            raise ValueError(f"unknown setting {item!r} in {text!r}; use bf16|fp32, compile, xN, "
                             f"channels_last")
    return settings


def speed(args, official) -> list[dict]:
    device = args.device
    shape = (64, 80) if args.tiny else (256, 320)
    clips = 2 if args.tiny else args.clips
    rows = []
    for size in args.sizes:
        fc_dim = 8 if args.tiny else None
        for dtype in args.official_dtypes:
            measured = official_speed(official, size, getattr(torch, dtype), clips, args.repeats,
                                      args.warmup, device, shape, fc_dim)
            rows.append(dict(impl="official", official_commit=official_commit(args.official),
                             size=size, dtype=dtype,
                             settings=f"{dtype}, eager, train.py step ({official.loss_source})",
                             clips_per_batch=clips, height=shape[0], width=shape[1], **measured))
            report(rows[-1])
            write_rows(args.out, rows[-1:])
        for text in args.project_settings:
            s = parse_settings(text)
            row = bench(size, getattr(torch, s["dtype"]), s["compiled"], False, clips, args.repeats,
                        args.warmup, "default", s["width_multiple"], device=device, shape=shape,
                        fc_dim=fc_dim, network_args=s["network_args"])
            rows.append(dict(impl="project", settings=text, height=shape[0], width=shape[1],
                             **{k: v for k, v in row.items() if k != "width_multiple"},
                             width_multiple=s["width_multiple"]))
            report(rows[-1])
            write_rows(args.out, rows[-1:])
    return rows


def report(row: dict) -> None:
    print(f"{row['impl']:>8} {row['size']} {row['dtype']:>8} [{row['settings']}] "
          f"train {row['train_fps']:8.0f} fps  decode {row['decode_fps']:8.0f} fps", flush=True)


def write_rows(path: Path | None, rows: list[dict]) -> None:
    """Append JSON lines, each row with the run's facts (device, commit, date, command)."""
    if path is None:
        return
    facts = run_facts()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for row in rows:
            f.write(json.dumps({**row, **{k: row.get(k, v) for k, v in facts.items()}}) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["forward", "init", "parity", "speed"])
    parser.add_argument("--official", type=Path, required=True, help="checkout of boheumd/D-NeRV")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes and steps (CPU dry run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="append JSON lines here")
    parser.add_argument("--seed", type=int, default=0)
    parity_args = parser.add_argument_group("parity")
    parity_args.add_argument("--data-root", type=Path, help="data root holding the prepared source")
    parity_args.add_argument("--source", default="raw", help="source name under --data-root")
    parity_args.add_argument("--dataset-name", help="name for the records (default: the data root)")
    parity_args.add_argument("--size", default="M", choices=["S", "M", "L"],
                             help="operating point: keyframe budget and the width it leaves")
    parity_args.add_argument("--fc-dims", nargs="+", default=["budget"],
                             help="widths to compare at: 'budget' (what --size's budget picks) "
                                  "and/or numbers (281: the paper's M)")
    parity_args.add_argument("--epochs", type=int, default=100)
    parity_args.add_argument("--batch", type=int, default=32, help="clips per batch")
    parity_args.add_argument("--workers", type=int, default=4)
    parity_args.add_argument("--work-dir", type=Path, help="keep the coded keyframes here (reused)")
    parity_args.add_argument("--official-dtype", default="float32", choices=["float32", "bfloat16"],
                             help="official training precision (its train.py: float32)")
    parity_args.add_argument("--project-dtype", default="bfloat16", choices=["float32", "bfloat16"],
                             help="our training precision (configs/compress/dnerv.py: bfloat16)")
    parity_args.add_argument("--same-init", action="store_true",
                             help="start ours from the official's initial weights (and its "
                                  "UCF101 mean/std): what is left of a gap is then the training, "
                                  "not the draw of the initial weights")
    parity_args.add_argument("--project-network", type=json.loads, default={},
                             help='extra DNeRV arguments as JSON, e.g. \'{"channels_last": true}\'')
    forward_args = parser.add_argument_group("forward")
    forward_args.add_argument("--forward-fc-dims", type=int, nargs="+", default=[4, 32],
                              help="widths at which to compare the outputs (init: the laws)")
    forward_args.add_argument("--init-seeds", type=int, default=20,
                              help="init: independent draws pooled per side")
    speed_args = parser.add_argument_group("speed")
    speed_args.add_argument("--sizes", nargs="+", default=["S", "M", "L"], choices=list(FC_DIM))
    speed_args.add_argument("--official-dtypes", nargs="+", default=["float32", "bfloat16"])
    speed_args.add_argument("--project-settings", nargs="+",
                            default=["bf16", "bf16,channels_last", "bf16,compile,x8",
                                     "bf16,compile,x8,channels_last"],
                            help="our configurations: comma lists of bf16|fp32, compile, xN, channels_last")
    speed_args.add_argument("--clips", type=int, default=32, help="clips of 8 frames per batch")
    speed_args.add_argument("--repeats", type=int, default=5)
    speed_args.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.batch, args.workers = min(args.epochs, 2), min(args.batch, 2), 0
        args.repeats, args.warmup = 1, 1
        args.project_settings = [s.replace(",compile", "") for s in args.project_settings]
        args.size = "L"  # the tiny source's budget then still fits a network of width >= 4
    if args.mode == "parity" and not args.tiny and args.data_root is None:
        print("error: parity needs --data-root (a data root with a prepared source) or --tiny",
              file=sys.stderr)
        return 2
    if args.mode == "parity" and not args.tiny and not (args.data_root / args.source / "manifest.json").is_file():
        print(f"error: {args.data_root / args.source} is not a prepared source (no manifest.json); "
              f"make one with tools/prepare_dataset.py", file=sys.stderr)
        return 2
    try:
        official = load_official(args.official)
    except OfficialCodeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # as the official train.py sets it
    if args.mode == "forward":
        return forward(args, official)
    if args.mode == "init":
        return init(args, official)
    (parity if args.mode == "parity" else speed)(args, official)
    return 0


if __name__ == "__main__":
    sys.exit(main())
