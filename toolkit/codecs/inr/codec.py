"""INR codecs: size networks to a bit budget, pack them into a bitstream, decode it.

An INR codec does not train anything itself: the fitting service
(:mod:`toolkit.engine.fit`) fits the networks it plans (:meth:`INRCodec.fit_jobs`) with
an mmengine Runner, then :meth:`INRCodec.encode` packs the fitted networks
(:meth:`INRCodec.compress`). :meth:`INRCodec.decompress` needs only the bitstream: the
header names the network architecture(s) and the videos, the chunks hold the
entropy-coded weights (and D-NeRV's coded keyframes). Rendering networks to frames has
one home, :meth:`INRCodec.render_batches`.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from toolkit.codecs.base import Codec, Encoded, FitJob, Preparation
from toolkit.codecs.bitstream import (MAX_FRAME_SIDE, MAX_VIDEO_PIXELS, Bitstream, HeaderFields,
                                      bitstream_error)
from toolkit.codecs.entropy import pack_state_dict, unpack_state_dict
from toolkit.codecs.inr import ffnerv
from toolkit.codecs.inr import keyframes as kf
from toolkit.codecs.inr.blocks import PE_ROUNDINGS
from toolkit.codecs.inr.nerv import FRAME_TIMES
from toolkit.codecs.inr.networks import build_network, network_class
from toolkit.codecs.inr.sizing import BudgetBelowSmallestNetwork, count_parameters, solve_width
from toolkit.codecs.layout import CATALOG_KEY, BitstreamLayout
from toolkit.codecs.quantize import remove_fake_quantization
from toolkit.registry import CODECS

# Used only to size networks before fitting; the real rate is measured from the file.
BITS_PER_PARAMETER_ESTIMATE = 8.0

# What a bitstream header may say about a network: every constructor argument but
# ``type``, as (kind, low, high). Sizes beyond these are refused before anything is
# built; the parameter count is bounded further by the weight chunk (see networks_from).
_SIDE = ("int", 8, MAX_FRAME_SIDE)
_WIDTH = ("int", 1, 2**16)
_FLAG = ("bool", None, None)
_KERNEL = ("int", 1, 15)
_LEVELS = ("int", 1, 384)  # 1.25**397 * pi overflows float32: frequencies stay finite
_PE_ROUNDING = ("choice", PE_ROUNDINGS, None)
NETWORK_FIELDS = {
    "NeRV": dict(height=_SIDE, width=_SIDE, channels=_WIDTH, pe_levels=_LEVELS,
                 mlp_hidden=("optional int", 1, 2**16), min_channels=_WIDTH,
                 expansion=("optional number", 1e-3, 64), reduction=("number", 1e-3, 64),
                 kernel_size=_KERNEL, head_kernel=_KERNEL, act=("choice", ("gelu", "swish"), None),
                 strides=("lengths", 1, 16), pe_rounding=_PE_ROUNDING,
                 frame_times=("choice", FRAME_TIMES, None)),
    "DNeRV": dict(height=_SIDE, width=_SIDE, fc_dim=_WIDTH, clip_len=("int", 1, 1024),
                  pe_levels=_LEVELS, use_saf=_FLAG, use_gtmlp=_FLAG, use_flow=_FLAG,
                  mean=("triple", -1e6, 1e6), std=("triple", 1e-6, 1e6), encoder_dim=_WIDTH,
                  mlp_hidden=_WIDTH, min_width=_WIDTH, width_multiple=("int", 1, 1024),
                  channels_last=_FLAG, pe_rounding=_PE_ROUNDING),
    "FFNeRV": dict(height=_SIDE, width=_SIDE, num_frames=("int", 1, MAX_VIDEO_PIXELS), channels=_WIDTH,
                   grid_lengths=("lengths", 1, MAX_VIDEO_PIXELS), num_grids=("int", 1, 64),
                   min_channels=_WIDTH, groups=_WIDTH, first_width=("optional int", 1, 2**16)),
}


def frames_to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8, the same on every run."""
    return (frames.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def storable_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that go into the bitstream: the floating state, fake quantisation folded in."""
    remove_fake_quantization(network, leave_parametrized=True)
    return {k: v.detach().float().cpu() for k, v in network.state_dict().items()
            if v.is_floating_point()}


class INRCodec(Codec):
    """Shared part of the INR codecs. Subclasses set the class attributes and ``render_video``."""

    name: str
    network_type: str
    width_key: str
    fit_model: str
    dataset_type: str
    measures_decode_throughput = True
    #: Constructor arguments every new network config states, so that its header names them;
    #: a header without them was written before they existed and decodes with the legacy ones.
    stated_network_args: dict = {}
    legacy_network_args: dict = {}

    def __init__(self, network: dict | None = None, bits: int = 8, render_batch: int = 16,
                 min_width: int = 4):
        self.network_overrides = dict(network or {})
        known = inspect.signature(network_class(self.network_type)).parameters
        unknown = sorted(set(self.network_overrides) - set(known))
        if unknown:  # refused now, not when the first network is built after a long prepare
            raise TypeError(f"network: unknown key(s) {', '.join(map(repr, unknown))} for "
                            f"{self.network_type}; known: {', '.join(known)}")
        for key, value in self.network_overrides.items():
            kind, choices, _ = NETWORK_FIELDS[self.network_type].get(key, (None, None, None))
            if kind == "choice" and value not in choices:
                raise ValueError(f"network.{key} is {value!r}; use one of "
                                 f"{', '.join(map(repr, choices))}")
        self.bits = bits
        self.render_batch = render_batch
        self.min_width = min_width

    # ---- planning ----------------------------------------------------------------------
    def extra_network_args(self, num_frames: int) -> dict:
        return {}

    def network_config(self, height: int, width: int, num_frames: int, params_budget: float) -> dict:
        """The network's constructor arguments; the width is solved from the budget unless set."""
        cfg = dict(type=self.network_type, height=height, width=width, **self.stated_network_args,
                   **self.extra_network_args(num_frames))
        cfg.update(self.network_overrides)
        if cfg.get(self.width_key) is None:
            def build(w):
                return build_network({**cfg, self.width_key: w})
            try:
                width = solve_width(build, int(params_budget), lo=self.min_width)
            except BudgetBelowSmallestNetwork:  # any other error is a bad network config: raised
                warnings.warn(f"{self.name}: a budget of {int(params_budget)} parameters is below "
                              f"the smallest network; using width {self.min_width} (the measured "
                              f"bpp will be above the target)")
                width = self.min_width
            cfg[self.width_key] = width
        return cfg

    def fit_jobs(self, source, videos: Sequence[int], weight_bits: float,
                 per_video: bool | None = None) -> list[FitJob]:
        """One network shared by ``videos``, or with ``per_video`` (default: the codec's) one
        per video, each with its frames' share of ``weight_bits``."""
        counts = {i: source.videos[i].num_frames for i in videos}
        total = sum(counts.values())

        def job(name, chosen, bits):
            frames = sum(counts[i] for i in chosen)
            return FitJob(name, list(chosen), self.network_config(
                source.height, source.width, frames, bits / BITS_PER_PARAMETER_ESTIMATE))

        if self.per_video if per_video is None else per_video:
            return [job(f"video_{i:05d}", [i], weight_bits * counts[i] / total) for i in videos]
        return [job("shared", videos, weight_bits)]

    # ---- bitstream ---------------------------------------------------------------------
    def compress(self, networks: Sequence[nn.Module], jobs: Sequence[FitJob],
                 layout: BitstreamLayout,
                 extra_header: dict | None = None, extra_chunks: dict | None = None
                 ) -> tuple[Bitstream, list[nn.Module]]:
        """Quantise and entropy-code the fitted networks.

        ``layout``: the videos in decoding order. Returns the bitstream and the networks
        carrying exactly the weights a decoder reconstructs (their output is the decoded video).
        """
        header = {**self.layout_header(jobs, layout), **(extra_header or {})}
        chunks, decoded = {}, []
        for i, network in enumerate(networks):
            payload, weights = pack_state_dict(storable_state(network), self.bits)
            chunks[f"weights/{i:05d}"] = payload
            decoded.append(self._load(jobs[i].network, weights))
        chunks.update(extra_chunks or {})
        return Bitstream(header=header, chunks=chunks), decoded

    def layout_header(self, jobs: Sequence[FitJob], layout: BitstreamLayout) -> dict:
        """The header entries that say which network renders which video."""
        entries = layout.with_jobs([job.videos for job in jobs]).to_header()
        return dict(codec=self.name, bits=self.bits, networks=[job.network for job in jobs],
                    jobs=entries.pop("jobs"), **entries)

    def render_fitted(self, networks: Sequence[nn.Module], jobs: Sequence[FitJob],
                      layout: BitstreamLayout, context: dict, device="cpu") -> Iterator[np.ndarray]:
        """Every video as the fitted networks render it before quantisation, (T, H, W, 3) uint8;
        ``context`` as :meth:`fit_context` gives it (D-NeRV: the keyframes the fit saw)."""
        networks = [n.to(device).eval() for n in networks]
        try:
            with deterministic_decoding():
                yield from self.render(networks, self.layout_header(jobs, layout), context, device)
        finally:
            for network in networks:
                network.cpu()

    def encode(self, source, videos, target_bpp, preparation, jobs, networks, workers=1) -> Encoded:
        """Pack the fitted ``networks`` with what :meth:`prepare` added (see :meth:`compress`)."""
        bitstream, decoded = self.compress(networks, jobs, BitstreamLayout.of_source(source, videos),
                                           preparation.header, preparation.chunks)
        return Encoded(bitstream, dict(parameters=self.parameters_of(decoded),
                                       networks=[job.network for job in jobs]))

    @staticmethod
    def _load(network_cfg: dict, weights: dict) -> nn.Module:
        network = build_network(network_cfg)
        missing, unexpected = network.load_state_dict(weights, strict=False)
        state = network.state_dict()
        floating_missing = [k for k in missing if state[k].is_floating_point()]
        if floating_missing or unexpected:
            raise ValueError(f"bitstream weights do not fit the network: missing {floating_missing}, "
                             f"unexpected {unexpected}")
        return network.eval()

    # ---- decoding ----------------------------------------------------------------------
    header_keys = ("codec", "bits", "networks", "jobs", "height", "width", "fps", "videos")

    def check_header(self, bitstream: Bitstream) -> dict:
        """Validate the header and the chunk list before anything is built or rendered.

        Types, ranges and finite numbers of every field; the jobs cover every video once, in
        order; each network is this codec's and renders the header's frame size; the pixels
        to render are bounded by the coded bytes. Returns the header; BitstreamError otherwise.
        """
        fields = HeaderFields(bitstream)
        fields.codec(self.name)
        header = fields.mapping(bitstream.header, "(the header)", required=self.header_keys,
                                optional=(CATALOG_KEY,))
        fields.integer(header["bits"], "bits", 1, 16)
        height = fields.integer(header["height"], "height", 8, MAX_FRAME_SIDE)
        width = fields.integer(header["width"], "width", 8, MAX_FRAME_SIDE)
        fields.number(header["fps"], "fps", 1e-3, 1e6)
        videos = fields.array(header["videos"], "videos", 1, 2**31)
        for index, video in enumerate(videos):
            where = f"videos[{index}]"
            fields.mapping(video, where, required=("index", "num_frames"))
            fields.integer(video["index"], f"{where}.index", 0, 2**31)
            fields.integer(video["num_frames"], f"{where}.num_frames", 1, MAX_VIDEO_PIXELS)
        sizes = [video["num_frames"] * height * width for video in videos]
        fields.decoded_pixels(sum(sizes), max(sizes))
        networks = fields.array(header["networks"], "networks", 1, len(videos))
        jobs = fields.array(header["jobs"], "jobs", len(networks), len(networks))
        order = []
        for index, job in enumerate(jobs):
            for position, video in enumerate(fields.array(job, f"jobs[{index}]", 1, len(videos))):
                order.append(fields.integer(video, f"jobs[{index}][{position}]", 0, len(videos) - 1))
        if order != list(range(len(videos))):
            raise fields.error("header field jobs does not list every video once, in order")
        for index, cfg in enumerate(networks):
            self._check_network(fields, cfg, f"networks[{index}]", height, width,
                                [videos[v]["num_frames"] for v in jobs[index]])
        fields.chunks([f"weights/{i:05d}" for i in range(len(networks))] + self.extra_chunks(header))
        return header

    def _check_network(self, fields: HeaderFields, cfg, where: str, height: int, width: int,
                       frame_counts: list[int]) -> None:
        spec = NETWORK_FIELDS[self.network_type]
        required = ("type", "height", "width", self.width_key) + (
            ("num_frames",) if "num_frames" in spec else ())
        cfg = fields.mapping(cfg, where, required=required, optional=spec)
        fields.choice(cfg["type"], f"{where}.type", (self.network_type,))
        for key, (kind, low, high) in spec.items():
            if key not in cfg or (cfg[key] is None and (kind == "lengths" or kind.startswith("optional"))):
                continue
            if kind in ("int", "optional int"):
                fields.integer(cfg[key], f"{where}.{key}", low, high)
            elif kind in ("number", "optional number"):
                fields.number(cfg[key], f"{where}.{key}", low, high)
            elif kind == "choice":
                fields.choice(cfg[key], f"{where}.{key}", low)
            elif kind == "bool":
                fields.flag(cfg[key], f"{where}.{key}")
            elif kind == "triple":
                for i, value in enumerate(fields.array(cfg[key], f"{where}.{key}", 3, 3)):
                    fields.number(value, f"{where}.{key}[{i}]", low, high)
            else:  # lengths
                for i, value in enumerate(fields.array(cfg[key], f"{where}.{key}", 1, 64)):
                    fields.integer(value, f"{where}.{key}[{i}]", low, high)
        if (cfg["height"], cfg["width"]) != (height, width):
            raise fields.error(f"header field {where} renders {cfg['height']}x{cfg['width']} frames, "
                               f"the videos are {height}x{width}")
        if "num_frames" in spec and [cfg["num_frames"]] != frame_counts:
            raise fields.error(f"header field {where}.num_frames is {cfg['num_frames']}, its video has "
                               f"{frame_counts[0] if len(frame_counts) == 1 else frame_counts} frames")

    def extra_chunks(self, header: dict) -> list[str]:
        """Names of the chunks besides the weights (D-NeRV: the coded keyframes)."""
        return []

    def _weight_shapes(self, bitstream: Bitstream, index: int, cfg: dict) -> dict[str, tuple]:
        """Shapes of the tensors the weight chunk must hold, from a network built on the meta device."""
        try:
            with torch.device("meta"):
                state = build_network(self.header_network(cfg)).state_dict()
        except ValueError as error:
            raise bitstream_error(bitstream, f"header field networks[{index}] describes no valid "
                                             f"network ({error})") from None
        return {k: tuple(v.shape) for k, v in state.items() if v.is_floating_point()}

    def networks_from(self, bitstream: Bitstream) -> list[nn.Module]:
        """The decoder's networks, after the header and each weight chunk's tensor list have been
        checked (so a network is only allocated once its weights are known to be in the file)."""
        header = self.check_header(bitstream)
        networks = []
        for index, cfg in enumerate(header["networks"]):
            name = f"weights/{index:05d}"
            shapes = self._weight_shapes(bitstream, index, cfg)
            try:
                weights = unpack_state_dict(bitstream.chunks[name], shapes)
            except ValueError as error:
                raise bitstream_error(bitstream, f"chunk {name!r}: {error}") from None
            networks.append(self._load(self.header_network(cfg), weights))
        return networks

    def header_network(self, cfg: dict) -> dict:
        """A header's network config as the network is built from it (legacy defaults filled in)."""
        return {**self.legacy_network_args, **cfg}

    def decode_context(self, bitstream: Bitstream) -> dict:
        """What besides the networks the decoder needs (D-NeRV: the decoded keyframes)."""
        return {}

    def decompress(self, bitstream: Bitstream, device="cpu") -> Iterator[np.ndarray]:
        """Every video of the bitstream, in order, as (T, H, W, 3) uint8 (fp32, deterministic)."""
        networks = [n.to(device) for n in self.networks_from(bitstream)]
        context = self.decode_context(bitstream)
        with deterministic_decoding():
            yield from self.render(networks, bitstream.header, context, device)

    # ---- rendering ---------------------------------------------------------------------
    def render_batches(self, networks, header: dict, context: dict, device, dtype=torch.float32
                       ) -> Iterator[tuple[int, Iterator[torch.Tensor]]]:
        """(video position, its frames as batches (N, 3, H, W) on ``device``) of every video of
        ``header`` in order, rendered by the job's network of ``networks``."""
        for job, network in zip(header["jobs"], networks):
            for video in job:
                yield video, self.render_video(network, header, context, video, device, dtype)

    def render(self, networks, header: dict, context: dict, device, dtype=torch.float32
               ) -> Iterator[np.ndarray]:
        """Every video of ``header`` as (T, H, W, 3) uint8, in order."""
        for _, batches in self.render_batches(networks, header, context, device, dtype):
            # batch by batch to host memory: a whole video never sits on the device
            yield np.concatenate([frames_to_uint8(batch) for batch in batches])

    def render_video(self, network, header, context, video: int, device, dtype
                     ) -> Iterator[torch.Tensor]:
        """Yield batches (N, 3, H, W) of the video's frames in order."""
        raise NotImplementedError

    def parameters_of(self, networks) -> int:
        return sum(count_parameters(n) for n in networks)


class deterministic_decoding:
    """Deterministic cuDNN kernels while decoding (bit-exact repeat decodes on a GPU)."""

    def __enter__(self):
        self.saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

    def __exit__(self, *exc):
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = self.saved


def _autocast(device, dtype):
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32)


@CODECS.register_module("nerv")
class NeRVCodec(INRCodec):
    """NeRV (the paper's UCF101 baseline): one network over all videos, global time."""

    name = "nerv"
    network_type = "NeRV"
    stated_network_args = dict(pe_rounding="official")
    # pe_rounding: written before commit 98bc125; frame_times: a header without it was fitted
    # at i / (N - 1) (the field is written only when set, so earlier fits keep their fingerprints)
    legacy_network_args = dict(pe_rounding="fused", frame_times="closed")
    width_key = "channels"
    fit_model = "NeRVFitModel"
    dataset_type = "SourceFrames"

    def render_video(self, network, header, context, video, device, dtype):
        job = next(j for j in header["jobs"] if video in j)
        counts = [header["videos"][v]["num_frames"] for v in job]
        start = sum(counts[:job.index(video)])
        total = sum(counts)
        indices = torch.arange(start, start + counts[job.index(video)], device=device)
        with torch.no_grad(), _autocast(device, dtype):
            for batch in indices.split(self.render_batch):
                yield network(network.times(batch, total)).float()


@CODECS.register_module("dnerv")
class DNeRVCodec(INRCodec):
    """D-NeRV: one network over all videos, clips conditioned on coded keyframes.

    ``keyframe_share`` of the bit budget goes to the keyframes (the paper's are 52-76 %
    of its bits), coded with HEVC intra (x265, all-intra, CRF searched to hit that share).
    """

    name = "dnerv"
    network_type = "DNeRV"
    stated_network_args = dict(pe_rounding="official")
    legacy_network_args = dict(pe_rounding="fused")  # written before commit 98bc125
    width_key = "fc_dim"
    fit_model = "DNeRVFitModel"
    dataset_type = "SourceClips"
    cached_files = ("keyframes.bits", "keyframes.npz")
    reads_frame_file = True

    def __init__(self, clip_len: int = 8, keyframe_share: float = 0.6,
                 keyframe_settings: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.clip_len = clip_len
        self.keyframe_share = keyframe_share
        self.keyframe_settings = dict(keyframe_settings or dict(codec="hevc", preset="medium"))
        try:  # a wrong keyframe setting is refused now, not when the keyframes are coded
            self.keyframe_codec()
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"keyframe_settings: {exc}") from None

    def extra_network_args(self, num_frames):
        return dict(clip_len=self.clip_len)

    def keyframe_codec(self):
        """The classical codec of the keyframes, all-intra (see toolkit.codecs.inr.keyframes)."""
        return kf.keyframe_coder(self.keyframe_settings)

    def prepare(self, source, videos, budget_bits, directory, workers=1):
        """Code the keyframes with ``keyframe_share`` of the budget into ``directory``: the
        decoded ones (``keyframes.npz``) feed the fit, the coded ones (``keyframes.bits``) the
        bitstream. Returns the keyframe encoder's facts."""
        from toolkit.codecs.bitstream import write_bitstream

        coded, decoded, info = kf.code_keyframes(source, videos, self.clip_len,
                                                 self.keyframe_share * budget_bits,
                                                 self.keyframe_codec(), workers)
        write_bitstream(Path(directory) / "keyframes.bits", coded)
        kf.save_keyframes(Path(directory) / "keyframes.npz", decoded)
        return info

    def preparation(self, directory, budget_bits, made):
        """The coded keyframes' bits come off the budget; the rest goes to the weights."""
        from toolkit.codecs.bitstream import read_bitstream

        decoded_path = Path(directory) / "keyframes.npz"
        coded = read_bitstream(Path(directory) / "keyframes.bits")
        keyframe_bits = 8 * sum(len(c) for c in coded.chunks.values())
        header, chunks = kf.embed(coded)
        return Preparation(
            weight_bits=max(budget_bits - keyframe_bits, 0.05 * budget_bits),
            header=header, chunks=chunks,
            dataset_args=dict(keyframes=str(decoded_path), clip_len=self.clip_len),
            info=dict(keyframe_bits=keyframe_bits, keyframe_coding=made))

    def fit_context(self, preparation):
        """The decoded keyframes the fit trained with (written by :meth:`prepare`)."""
        return {"keyframes": kf.load_keyframes(preparation.dataset_args["keyframes"])}

    header_keys = INRCodec.header_keys + ("keyframes",)

    def extra_chunks(self, header):
        return kf.chunk_names(len(header["videos"]))

    def check_header(self, bitstream):
        """The INR checks, and one coded keyframe video per video holding its clips' keyframes."""
        header = super().check_header(bitstream)
        keyframes = self.keyframe_codec().check_header(kf.coded_keyframes(bitstream))
        for job, cfg in zip(header["jobs"], header["networks"]):
            for video in job:
                clip_len = cfg.get("clip_len", 8)
                expected = (kf.keyframe_count(header["videos"][video]["num_frames"], clip_len),
                            header["height"], header["width"])
                if keyframes[video] != expected:
                    raise bitstream_error(bitstream, f"header field keyframes.videos[{video}] is "
                                          f"{keyframes[video]} (frames, height, width), video {video} "
                                          f"needs {expected}")
        return header

    def decode_context(self, bitstream):
        return {"keyframes": list(self.keyframe_codec().decompress(kf.coded_keyframes(bitstream)))}

    def render_video(self, network, header, context, video, device, dtype):
        num_frames, clip_len = header["videos"][video]["num_frames"], network.clip_len
        keys = dict(zip(kf.keyframe_indices(num_frames, clip_len), context["keyframes"][video]))
        plans = kf.plan_clips(num_frames, clip_len)
        batch = max(1, self.render_batch // clip_len)
        with torch.no_grad(), _autocast(device, dtype):
            for first in range(0, len(plans), batch):
                group = plans[first:first + batch]
                keyframes = torch.from_numpy(np.stack([np.stack([keys[k] for k in p.keyframes])
                                                       for p in group])).to(device)
                keyframes = keyframes.permute(0, 1, 4, 2, 3).float() / 255
                t = torch.tensor([p.times for p in group], device=device)
                end = torch.tensor([p.end_weights for p in group], device=device)
                out = network(keyframes, t, end).float()
                valid = torch.tensor([p.valid for p in group], device=device)
                yield out[valid]


@CODECS.register_module("ffnerv")
class FFNeRVCodec(INRCodec):
    """FFNeRV: one network per video (as published), fitted with 8-bit QAT."""

    name = "ffnerv"
    network_type = "FFNeRV"
    width_key = "channels"
    fit_model = "FFNeRVFitModel"
    dataset_type = "SourceFrames"
    per_video = True

    # Shares of the budget a solved network may leave unused before the codec warns.
    BUDGET_TOLERANCE = ffnerv.BUDGET_TOLERANCE

    def extra_network_args(self, num_frames):
        return dict(num_frames=num_frames)

    def network_config(self, height, width, num_frames, params_budget):
        """Grid channels, first decoder width and grid lengths solved from the budget
        (``ffnerv.solve_size``) unless ``channels`` is set."""
        from toolkit.codecs.inr.ffnerv import solve_size

        cfg = dict(type=self.network_type, height=height, width=width, num_frames=num_frames)
        cfg.update(self.network_overrides)
        if cfg.get("channels") is not None:
            return cfg
        solved_keys = [k for k in ("first_width", "grid_lengths") if cfg.get(k) is not None]
        if solved_keys:
            raise ValueError(f"{self.name}: network.{solved_keys[0]} is set but network.channels is "
                             f"not; set channels too, or leave both to the budget solver")
        shape = {k: cfg[k] for k in ("num_grids", "min_channels", "groups") if k in cfg}
        budget = int(params_budget)
        try:
            cfg.update(solve_size(height, width, num_frames, budget, **shape))
        except BudgetBelowSmallestNetwork as error:
            warnings.warn(f"{self.name}: {error}; using that network (the measured bpp will be "
                          f"above the target)")
            cfg.update(error.smallest)
            return cfg
        with torch.device("meta"):
            solved = count_parameters(build_network(cfg))
        if solved < (1 - self.BUDGET_TOLERANCE) * budget:
            warnings.warn(f"{self.name}: the largest network within {budget} parameters has {solved} "
                          f"({1 - solved / budget:.0%} below; the widths' steps are coarse this "
                          f"close to the smallest network)")
        return cfg

    def render_video(self, network, header, context, video, device, dtype):
        with torch.no_grad(), _autocast(device, dtype):
            for frame in network.decode(batch_size=self.render_batch):
                yield frame[None].float()
