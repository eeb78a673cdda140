"""mmengine models that fit an INR network to a source.

One base class holds what every codec shares (building the network, the loss,
``forward`` in mmengine's three modes); a subclass per codec says how a batch
turns into predicted and target frames (:meth:`INRFitModel.render`).
"""

from __future__ import annotations

import math

import torch
from mmengine.model import BaseModel

from toolkit.codecs.inr.networks import build_network
from toolkit.quality import psnr, reconstruction_loss
from toolkit.registry import MODELS


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float in [0, 1]."""
    return frames.float() / 255.0


def _loss_of(result) -> torch.Tensor:
    """A training loss's value (FFNeRV's also returns its independent frames)."""
    return result[0] if isinstance(result, tuple) else result


def _signature(inputs: dict) -> tuple:
    """The shapes and dtypes of a batch: a new one may mean a new compiled graph."""
    return tuple((k, tuple(v.shape), v.dtype) for k, v in sorted(inputs.items())
                 if isinstance(v, torch.Tensor))


class CompiledLossChecked:
    """A compiled training loss checked against the eager one: on each batch of a new shape
    (the first one included) the gradients of both, on the same inputs, are compared, and the
    fit stops with a one-line ConfigError before any optimizer step if they disagree, rather
    than fitting on wrong gradients. Compiled under torch 2.11, FFNeRV's quantised weights all
    got zero gradients, and its loss stayed flat for a whole fit (docs/results/anchors.md).

    Disagree: a parameter with a non-zero eager gradient gets none, zeros or non-finite values;
    the gradients as one vector point elsewhere (cosine below ``min_cosine``); or a parameter
    holding at least 1 % of the eager gradient's squared norm points elsewhere (its cosine below
    ``min_part_cosine``). bf16 autocast rounds eager and compiled code differently: the bisect
    (benchmarks/notes/ffnerv_compiled_learns.py) saw per-group cosines above 0.97.

    ``probe(inputs)``: the inputs the check uses (same shapes), e.g. with neighbours that give
    every parameter a gradient. ``replays``: compiled calls per check, the last compared (3
    under CUDA graphs: warm-up, recording, replay). ``across_processes``: under DDP every
    process stops if any process's batch disagrees (none is left waiting in an all-reduce).
    """

    def __init__(self, compiled, eager, named_parameters, probe=None, replays: int = 1,
                 across_processes: bool = False, min_cosine: float = 0.9,
                 min_part_cosine: float = 0.5):
        self.compiled, self.eager, self.named_parameters = compiled, eager, named_parameters
        self.probe = probe or (lambda inputs: inputs)
        self.replays, self.across_processes = replays, across_processes
        self.min_cosine, self.min_part_cosine = min_cosine, min_part_cosine
        self.checked = set()

    def __call__(self, inputs: dict):
        signature = _signature(inputs)
        if signature not in self.checked:
            problem = self.disagreement(self.probe(inputs))
            if self.across_processes:
                problem = self._any_process(problem)
            if problem:
                from toolkit.engine.config import ConfigError

                raise ConfigError(f"fit.compile: {problem} (checked against the eager step on the "
                                  f"same batch), so the compiled step would not fit like the eager "
                                  f"one; set fit.compile.enabled=False")
            self.checked.add(signature)
        return self.compiled(inputs)

    def _any_process(self, problem: str | None) -> str | None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return problem
        device = next(p.device for _, p in self.named_parameters())
        flag = torch.tensor([1.0 if problem else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return problem or ("another process's batch disagreed" if float(flag) else None)

    def disagreement(self, inputs: dict) -> str | None:
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        tensors = [p for _, p in named]
        eager = torch.autograd.grad(_loss_of(self.eager(inputs)), tensors, allow_unused=True)
        for _ in range(self.replays):
            loss = _loss_of(self.compiled(inputs))
            if not loss.requires_grad:
                return "the compiled loss has no gradient"
            compiled = torch.autograd.grad(loss, tensors, allow_unused=True)
        lost, parts, dot, eager_sq, compiled_sq = [], [], 0.0, 0.0, 0.0
        for (name, _), e, c in zip(named, eager, compiled):
            c_sq = 0.0 if c is None else float(c.double().square().sum())  # NaN/inf if c is
            compiled_sq += c_sq
            if e is None or not bool(e.any()):
                continue
            if c is None or not bool(c.any()) or not math.isfinite(c_sq):
                lost.append(name)
                continue
            e = e.double()
            part = (float((e * c.double()).sum()), float(e.square().sum()), c_sq)
            parts.append((name, *part))
            dot += part[0]
            eager_sq += part[1]
        if lost:
            return (f"{len(lost)} of {len(named)} parameters get no, zero or non-finite gradients "
                    f"where eager's are not (first: {lost[0]})")
        cosine = dot / (eager_sq * compiled_sq) ** 0.5 if eager_sq and compiled_sq else 1.0
        if not math.isfinite(cosine) or cosine < self.min_cosine:
            return f"the gradients point elsewhere than eager's (cosine {cosine:.2f})"
        for name, part_dot, part_eager, part_compiled in parts:
            if part_eager >= 0.01 * eager_sq and part_dot < self.min_part_cosine * (part_eager * part_compiled) ** 0.5:
                return (f"the gradient of {name} points elsewhere than eager's (cosine "
                        f"{part_dot / (part_eager * part_compiled) ** 0.5:.2f})")
        return None


class INRFitModel(BaseModel):
    """Fits ``network`` (a config dict: ``type`` plus constructor arguments).

    ``loss`` weights: ``mse``, ``l1``, ``ssim`` (of 1 - SSIM). ``mask`` (optional,
    inpainting): inputs may carry a ``mask`` of pixels that must not contribute.
    ``compile``: torch.compile options; the training loss (network and loss together) is
    then compiled. Compiling here rather than through mmengine's ``compile``, which
    compiles the whole ``train_step`` and fails inside its AMP context under torch 2.11.
    """

    def __init__(self, network: dict, loss: dict | None = None, compile: dict | None = None,
                 compile_check_across_processes: bool = False, data_preprocessor=None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.network_cfg = dict(network)
        self.network = build_network(self.network_cfg)
        weights = dict(loss or dict(l1=0.7, ssim=0.3))
        self.loss_weights = dict(mse=weights.pop("mse", 0.0), l1=weights.pop("l1", 0.0),
                                 ssim_weight=weights.pop("ssim", 0.0))
        if weights:
            raise KeyError(f"unknown loss terms {sorted(weights)}; use mse, l1, ssim")
        self.training_loss = self._training_loss
        if compile is not None:
            from mmengine.logging import print_log

            cuda_graphs = compile.get("mode") in ("reduce-overhead", "max-autotune")
            self.training_loss = CompiledLossChecked(
                torch.compile(self._training_loss, **compile), self._training_loss,
                self.named_parameters, probe=self.compile_check_inputs,
                replays=3 if cuda_graphs else 1, across_processes=compile_check_across_processes)
            print_log(f"training loss compiled: torch.compile({compile})", logger="current")

    def render(self, inputs: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict]:
        """Return (prediction, target, valid mask or None, extra outputs) for a batch."""
        raise NotImplementedError

    def compute_loss(self, pred, target, valid, extra, mask=None) -> torch.Tensor:
        if mask is not None:
            # Inpainting: hidden pixels are zeroed in both prediction and target, so neither
            # their predicted nor their true values reach the loss, not even through the
            # SSIM window of a visible neighbour.
            pred, target = pred * mask, target * mask
        return reconstruction_loss(pred, target, valid, **self.loss_weights)

    def compile_check_inputs(self, inputs: dict) -> dict:
        """The inputs on which a compiled loss is checked against eager (same shapes)."""
        return inputs

    def _loss_and_extra(self, inputs: dict) -> tuple[torch.Tensor, dict]:
        pred, target, valid, extra = self.render(inputs)
        mask = inputs["mask"].float() if "mask" in inputs else None
        return self.compute_loss(pred, target, valid, extra, mask), extra

    def _training_loss(self, inputs: dict) -> torch.Tensor:
        return self._loss_and_extra(inputs)[0]

    def forward(self, inputs: dict, data_samples=None, mode: str = "tensor"):
        if mode == "loss":
            return {"loss": self.training_loss(inputs)}
        pred, target, valid, extra = self.render(inputs)
        if mode == "predict":
            flat_pred = pred.detach().float().reshape(-1, *pred.shape[-3:])
            flat_target = target.reshape(-1, *target.shape[-3:])
            values = psnr(flat_pred, flat_target)
            if valid is not None:
                values = values[valid.reshape(-1).bool()]
            return [{"psnr": v} for v in values.cpu()]
        return pred


@MODELS.register_module()
class NeRVFitModel(INRFitModel):
    """NeRV: one shared network, input the global normalised frame index."""

    def render(self, inputs):
        t = self.network.times(inputs["index"], inputs["total"])
        return self.network(t), to_unit(inputs["frame"]), None, {}


@MODELS.register_module()
class DNeRVFitModel(INRFitModel):
    """D-NeRV: clips conditioned on their decoded keyframes; padded frames masked out."""

    def __init__(self, network: dict, loss: dict | None = None, **kwargs):
        super().__init__(network, loss or dict(mse=1.0, ssim=0.03), **kwargs)

    def render(self, inputs):
        pred = self.network(to_unit(inputs["keyframes"]), inputs["t"], inputs["end_weight"])
        return pred, to_unit(inputs["frames"]), inputs["valid"], {}


@MODELS.register_module()
class FFNeRVFitModel(INRFitModel):
    """FFNeRV: one video; neighbours come from a buffer of detached independent frames.

    Each training step reads its neighbours from the buffer and writes its independent
    frames back outside the (possibly compiled) training loss; other modes only read it.
    Before its first training step the model fills the whole buffer with the network's
    independent frames, as the official code does before its first epoch: a fresh fit and a
    fit resumed from a checkpoint (the buffer is not in it) then read frames, not zeros.

    With ``qat_bits`` the network trains under per-channel fake quantisation (the
    quantiser the bitstream uses), attached through ``torch.nn.utils.parametrize``.
    """

    def __init__(self, network: dict, loss: dict | None = None, qat_bits: int | None = 8,
                 **kwargs):
        super().__init__(network, loss or dict(l1=0.7, ssim=0.3), **kwargs)
        from toolkit.codecs.inr.ffnerv import IndependentFrameBuffer
        from toolkit.codecs.quantize import attach_fake_quantization

        self.qat_bits = qat_bits
        if qat_bits:
            attach_fake_quantization(self.network, qat_bits)
        net = self.network
        self.buffer = IndependentFrameBuffer(net.num_frames, net.height, net.width)
        self.buffer_filled = False

    @torch.no_grad()
    def fill_buffer(self, device: torch.device, chunk: int = 4) -> None:
        """Every frame's independent frame from the network as it is, into the buffer."""
        self.buffer.frames = self.buffer.frames.to(device)
        every = torch.arange(self.network.num_frames, device=device)
        for index in every.split(chunk):
            self.buffer.update(index, self.network.independent(index)["frame"])
        self.buffer_filled = True

    def _with_neighbours(self, inputs: dict) -> dict:
        """``inputs`` plus the batch's neighbours read from the buffer (outside any compiled
        step, so the step is a pure function of its inputs and CUDA graphs can replay it)."""
        index = inputs["frame_index"]
        if self.buffer.frames.device != index.device:
            self.buffer.frames = self.buffer.frames.to(index.device)
        neighbours, valid = self.buffer.neighbours(index)
        return dict(inputs, neighbours=neighbours, neighbour_valid=valid)

    def compile_check_inputs(self, inputs: dict) -> dict:
        """The batch's own frames as its valid neighbours: never zero, whatever the buffer
        holds, so the flow head always has a gradient to check."""
        frames = to_unit(inputs["frame"]).to(inputs["neighbours"].dtype)
        valid = inputs["neighbour_valid"]
        neighbours = frames[:, None].expand_as(inputs["neighbours"]) * valid[:, :, None, None, None]
        return dict(inputs, neighbours=neighbours)

    def render(self, inputs):
        if "neighbours" not in inputs:
            inputs = self._with_neighbours(inputs)
        outputs = self.network.independent(inputs["frame_index"])
        result = self.network.aggregate(outputs, inputs["neighbours"], inputs["neighbour_valid"])
        return result["final"], to_unit(inputs["frame"]), None, {"all": result}

    def _training_loss(self, inputs):
        """(loss, the batch's independent frames detached): ``forward`` stores the latter."""
        loss, extra = self._loss_and_extra(inputs)
        return loss, extra["all"]["independent"].detach()

    def forward(self, inputs: dict, data_samples=None, mode: str = "tensor"):
        if mode == "loss":
            if not self.buffer_filled:
                self.fill_buffer(inputs["frame_index"].device)
            inputs = self._with_neighbours(inputs)
            loss, independent = self.training_loss(inputs)
            self.buffer.update(inputs["frame_index"], independent)
            return {"loss": loss}
        return super().forward(inputs, data_samples, mode)

    def compute_loss(self, pred, target, valid, extra, mask=None):
        if mask is not None:  # inpainting: the masked loss on the final frame
            return super().compute_loss(pred, target, valid, extra, mask)
        from toolkit.codecs.inr.ffnerv import ffnerv_loss

        return ffnerv_loss(extra["all"], target)
