"""Per-channel uniform (min/max) quantisation of network weights.

A tensor is split into channels along ``axis`` (``None``: the whole tensor is one
channel). Each channel gets ``2**bits`` levels between its minimum and maximum::

    scale  = (max - min) / (2**bits - 1)        (1.0 where max == min)
    symbol = clamp(round((x - min) / scale), 0, 2**bits - 1)
    value  = symbol * scale + min

All arithmetic is float32. Dequantisation is one multiply then one add, done by the
same function at encode time (:func:`fake_quantize`, :func:`dequantize_tensor`) and at
decode time, so the weights an encoder renders with are bit-identical to the weights
the decoder rebuilds from the stored symbols, scales and offsets.

The axis rule of :func:`default_axis` (output channel for weights, one channel for
biases and scalars) is shared by quantisation-aware training
(:func:`attach_fake_quantization`) and the final :func:`quantize_state_dict`, so a
model is trained on the same grid it is stored on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

MAX_BITS = 16


@dataclass(eq=False)
class QuantizedTensor:
    """Integer symbols plus the per-channel scale and offset that turn them back into values."""

    symbols: np.ndarray  # uint8 for bits <= 8, uint16 above; shape of the original tensor
    scale: np.ndarray  # float32, shape (channels,) along axis, (1,) when axis is None
    offset: np.ndarray  # float32, same shape as scale: the channel minimum
    axis: int | None
    bits: int

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError unless the fields are consistent (dtypes, shapes, symbol range)."""
        check_bits(self.bits)
        if not isinstance(self.symbols, np.ndarray) or self.symbols.dtype != symbol_dtype(self.bits):
            raise ValueError(
                f"QuantizedTensor symbols must be a numpy array of {np.dtype(symbol_dtype(self.bits))} "
                f"for bits={self.bits}, got {type(self.symbols).__name__} "
                f"{getattr(self.symbols, 'dtype', '')}; build it with quantize_tensor")
        if self.symbols.size and int(self.symbols.max()) >= 2**self.bits:
            raise ValueError(f"QuantizedTensor symbols exceed {2**self.bits - 1} = 2**bits - 1 "
                             f"(bits={self.bits}); build it with quantize_tensor")
        self.axis = check_axis(self.axis, self.symbols.ndim)
        channels = self.num_channels
        for field_name in ("scale", "offset"):
            param = getattr(self, field_name)
            if (not isinstance(param, np.ndarray) or param.dtype != np.float32
                    or param.shape != (channels,)):
                raise ValueError(
                    f"QuantizedTensor {field_name} must be a float32 array of shape ({channels},) "
                    f"for symbols of shape {self.symbols.shape} and axis={self.axis}, got "
                    f"{getattr(param, 'dtype', type(param).__name__)} "
                    f"{getattr(param, 'shape', '')}")

    @property
    def num_channels(self) -> int:
        """Number of (scale, offset) pairs: the size of ``axis``, or 1 when axis is None."""
        return 1 if self.axis is None else self.symbols.shape[self.axis]


def check_bits(bits: int) -> int:
    """Return ``bits`` if it is an int in 1..16, else raise ValueError."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an integer from 1 to {MAX_BITS}, got {bits!r}")
    return int(bits)


def check_axis(axis: int | None, ndim: int) -> int | None:
    """Normalise ``axis`` (None or an int in [-ndim, ndim)) to None or a non-negative int."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"axis must be None or an integer in [{-ndim}, {ndim}) for a {ndim}-D "
                         f"tensor, got {axis!r}; use axis=None to quantise per tensor")
    return int(axis) % ndim


def symbol_dtype(bits: int) -> type:
    """numpy dtype of the symbols: uint8 up to 8 bits, uint16 above."""
    return np.uint8 if bits <= 8 else np.uint16


def default_axis(tensor: torch.Tensor) -> int | None:
    """Axis rule for parameters: output channel (0) for weights, per tensor for 1-D and 0-D."""
    return 0 if tensor.dim() >= 2 else None


def _broadcast_shape(ndim: int, axis: int | None, channels: int) -> list[int]:
    shape = [1] * ndim
    if axis is not None:
        shape[axis] = channels
    return shape


def _channel_min_max(x: torch.Tensor, axis: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel minimum and maximum as 1-D tensors (length 1 when axis is None)."""
    channels = 1 if axis is None else x.shape[axis]
    if x.numel() == 0:
        zeros = x.new_zeros(channels)
        return zeros, zeros
    if axis is None:
        return x.amin().reshape(1), x.amax().reshape(1)
    flat = x.movedim(axis, 0).reshape(channels, -1)
    return flat.amin(dim=1), flat.amax(dim=1)


def _quantize(x: torch.Tensor, bits: int, axis: int | None):
    """float32 ``x`` -> (symbols as float32 integers, scale, offset); scale/offset are 1-D."""
    top = float(2**bits - 1)
    low, high = _channel_min_max(x, axis)
    scale = torch.where(high > low, (high - low) / top, torch.ones_like(high))
    view = _broadcast_shape(x.dim(), axis, low.numel())
    symbols = torch.round((x - low.reshape(view)) / scale.reshape(view)).clamp_(0.0, top)
    return symbols, scale, low


def _dequantize(symbols: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor,
                axis: int | None) -> torch.Tensor:
    """The one dequantisation formula: float32 symbols * scale + offset, in this order."""
    view = _broadcast_shape(symbols.dim(), axis, scale.numel())
    return symbols * scale.reshape(view) + offset.reshape(view)


def quantize_tensor(x: torch.Tensor, bits: int = 8, axis: int | None = 0) -> QuantizedTensor:
    """Quantise ``x`` (any device, any floating dtype; computed in float32 on the CPU)."""
    bits = check_bits(bits)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"quantize_tensor needs a floating torch.Tensor, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    axis = check_axis(axis, x.dim())
    x = x.detach().to(device="cpu", dtype=torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("quantize_tensor got NaN or infinite values; fix the training run "
                         "that produced them before compressing")
    symbols, scale, offset = _quantize(x, bits, axis)
    if not bool(torch.isfinite(scale).all()):
        raise ValueError("quantize_tensor: a channel's value range overflows float32; "
                         "the weights are too large to quantise")
    return QuantizedTensor(
        symbols=symbols.to(torch.int32).numpy().astype(symbol_dtype(bits)),
        scale=scale.numpy().copy(), offset=offset.numpy().copy(), axis=axis, bits=bits)


def dequantize_tensor(q: QuantizedTensor) -> torch.Tensor:
    """Reconstruct the float32 CPU tensor; deterministic and bit-identical to :func:`fake_quantize`."""
    symbols = torch.from_numpy(q.symbols.astype(np.float32))
    return _dequantize(symbols, torch.from_numpy(q.scale), torch.from_numpy(q.offset), q.axis)


def fake_quantize(x: torch.Tensor, bits: int = 8, axis: int | None = 0) -> torch.Tensor:
    """Quantise->dequantise on ``x``'s device with a straight-through gradient.

    On the CPU in float32 the values equal ``dequantize_tensor(quantize_tensor(x))``
    bit for bit. On other devices they may differ in the last bit of a few values.

    The gradient goes through ``x - x.detach()`` (exactly zero as a value, the identity as a
    derivative), not through a custom ``autograd.Function``: compiled under torch 2.11 (on an
    H200 and on the CPU alike; 2.13 is not affected), such a Function whose forward ended in a
    no-op ``.to(x.dtype)`` gave every quantised weight a gradient of zeros (not None), with or
    without inductor (``benchmarks/notes/ffnerv_compiled_learns.py``, 2026-11-28).
    """
    bits = check_bits(bits)
    if not x.is_floating_point():
        raise ValueError(f"fake_quantize needs a floating tensor, got {x.dtype}")
    axis = check_axis(axis, x.dim())
    source = x.detach()
    symbols, scale, offset = _quantize(source.float(), bits, axis)
    return _dequantize(symbols, scale, offset, axis).to(x.dtype) + (x - source)


class FakeQuantize(nn.Module):
    """Parametrisation ``x -> fake_quantize(x, bits, axis)`` for :mod:`torch.nn.utils.parametrize`."""

    def __init__(self, bits: int = 8, axis: int | None = 0):
        super().__init__()
        self.bits = check_bits(bits)
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fake_quantize(x, self.bits, self.axis)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, axis={self.axis}"


def _parametrizable_tensors(module: nn.Module):
    """(owner module, tensor name) for every floating parameter, parametrised or not."""
    for owner in module.modules():
        if isinstance(owner, parametrize.ParametrizationList):
            continue  # holds the `original` of a parametrised tensor, reached via its owner
        names = [name for name, p in owner.named_parameters(recurse=False) if p.is_floating_point()]
        if parametrize.is_parametrized(owner):
            names += [name for name, chain in owner.parametrizations.items()
                      if chain.original.is_floating_point()]
        for name in names:
            yield owner, name


def _has_fake_quantize(owner: nn.Module, name: str) -> bool:
    return (parametrize.is_parametrized(owner, name)
            and any(isinstance(p, FakeQuantize) for p in owner.parametrizations[name]))


def attach_fake_quantization(module: nn.Module, bits: int = 8) -> nn.Module:
    """Register :class:`FakeQuantize` on every floating parameter (idempotent); returns ``module``.

    Weights (2-D and more) are quantised per output channel (axis 0), 1-D and 0-D
    tensors per tensor, the rule :func:`quantize_state_dict` uses. While attached,
    ``state_dict()`` holds ``parametrizations.<name>.original`` keys: call
    :func:`remove_fake_quantization` before saving or packing the weights.
    """
    bits = check_bits(bits)
    for owner, name in list(_parametrizable_tensors(module)):
        if not _has_fake_quantize(owner, name):
            axis = default_axis(getattr(owner, name))
            parametrize.register_parametrization(owner, name, FakeQuantize(bits, axis))
    return module


def remove_fake_quantization(module: nn.Module, leave_parametrized: bool = True) -> nn.Module:
    """Remove every :class:`FakeQuantize`; with ``leave_parametrized`` the quantised values stay."""
    for owner, name in list(_parametrizable_tensors(module)):
        if not _has_fake_quantize(owner, name):
            continue
        if not all(isinstance(p, FakeQuantize) for p in owner.parametrizations[name]):
            raise ValueError(
                f"{type(owner).__name__}.{name} has other parametrisations besides FakeQuantize; "
                f"remove them with torch.nn.utils.parametrize.remove_parametrizations yourself")
        parametrize.remove_parametrizations(owner, name, leave_parametrized=leave_parametrized)
    return module


def quantize_state_dict(state_dict: dict[str, torch.Tensor], bits: int = 8) -> dict[str, QuantizedTensor]:
    """Quantise every tensor of a state dict with the :func:`default_axis` rule.

    Raises ValueError naming the entry when a value is not a floating tensor (e.g.
    BatchNorm's ``num_batches_tracked``): drop or store such entries separately.
    """
    quantized = {}
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise ValueError(
                f"state dict entry {name!r} is {getattr(tensor, 'dtype', type(tensor).__name__)}, "
                f"not a floating tensor; remove it before quantising (only weights are quantised)")
        try:
            quantized[name] = quantize_tensor(tensor, bits, default_axis(tensor))
        except ValueError as error:
            raise ValueError(f"state dict entry {name!r}: {error}") from None
    return quantized


def dequantize_state_dict(q: dict[str, QuantizedTensor]) -> dict[str, torch.Tensor]:
    """Dequantise every entry (float32 CPU tensors, same order)."""
    return {name: dequantize_tensor(tensor) for name, tensor in q.items()}
