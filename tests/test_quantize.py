"""Per-channel uniform quantisation, fake quantisation and its parametrisation."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from toolkit.codecs.quantize import (FakeQuantize, QuantizedTensor, attach_fake_quantization,
                                     dequantize_state_dict, dequantize_tensor, fake_quantize,
                                     quantize_state_dict, quantize_tensor, remove_fake_quantization)


def _weights(*shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


@pytest.mark.parametrize("bits, dtype", [(2, np.uint8), (8, np.uint8), (10, np.uint16), (16, np.uint16)])
def test_symbols_dtype_range_and_levels(bits, dtype):
    q = quantize_tensor(_weights(6, 5, 3, 3), bits=bits, axis=0)
    assert q.symbols.dtype == dtype and q.symbols.shape == (6, 5, 3, 3)
    assert q.scale.dtype == np.float32 and q.scale.shape == (6,) and q.offset.shape == (6,)
    per_channel = q.symbols.reshape(6, -1)
    assert (per_channel.min(axis=1) == 0).all()  # the channel minimum is level 0 ...
    assert (per_channel.max(axis=1) == 2**bits - 1).all()  # ... and its maximum the top level


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_error_is_at_most_half_a_step_per_channel(axis):
    x = _weights(4, 7, 5) * torch.tensor([0.01, 1.0, 30.0, 2.0])[:, None, None]
    q = quantize_tensor(x, bits=6, axis=axis)
    error = (dequantize_tensor(q) - x).abs()
    if axis is None:
        assert float(error.max()) <= q.scale[0] / 2 * (1 + 1e-5)
    else:
        channel_error = error.movedim(axis, 0).reshape(x.shape[axis], -1).amax(dim=1).numpy()
        assert (channel_error <= q.scale / 2 * (1 + 1e-5)).all()
    expected_low = x.amin() if axis is None else x.movedim(axis, 0).reshape(x.shape[axis], -1).amin(1)
    assert np.array_equal(q.offset, np.atleast_1d(expected_low.numpy()))


def test_constant_channel_is_exact():
    x = _weights(3, 8)
    x[1] = 0.37
    q = quantize_tensor(x, bits=8, axis=0)
    assert q.scale[1] == 1.0 and (q.symbols[1] == 0).all()
    assert torch.equal(dequantize_tensor(q)[1], x[1])
    constant = quantize_tensor(torch.full((5,), -2.5), bits=4, axis=None)
    assert torch.equal(dequantize_tensor(constant), torch.full((5,), -2.5))


def test_scalar_and_empty_tensors():
    scalar = quantize_tensor(torch.tensor(1.25), axis=None)
    assert scalar.symbols.shape == () and torch.equal(dequantize_tensor(scalar), torch.tensor(1.25))
    empty = quantize_tensor(torch.zeros(4, 0), axis=0)
    assert empty.symbols.shape == (4, 0) and dequantize_tensor(empty).shape == (4, 0)


def test_dequantisation_is_deterministic_and_float32_cpu():
    x = _weights(8, 16).double()
    q = quantize_tensor(x, bits=8)
    first, second = dequantize_tensor(q), dequantize_tensor(q)
    assert first.dtype == torch.float32 and first.device.type == "cpu"
    assert torch.equal(first, second)
    # exactly symbol * scale + offset in float32, in this order
    expected = q.symbols.astype(np.float32) * q.scale[:, None] + q.offset[:, None]
    assert np.array_equal(first.numpy(), expected)


@pytest.mark.parametrize("bad, message", [
    (dict(bits=0), "bits"), (dict(bits=17), "bits"), (dict(axis=2), "axis"),
])
def test_bad_arguments_raise_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        quantize_tensor(_weights(3, 4), **{"bits": 8, "axis": 0, **bad})


def test_non_finite_and_non_floating_inputs_are_rejected():
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_tensor(torch.tensor([1.0, float("nan")]), axis=None)
    with pytest.raises(ValueError, match="floating"):
        quantize_tensor(torch.arange(4), axis=None)


def test_quantized_tensor_validates_its_fields():
    with pytest.raises(ValueError, match="uint8"):
        QuantizedTensor(np.zeros(3, np.int64), np.ones(1, np.float32), np.zeros(1, np.float32), None, 8)
    with pytest.raises(ValueError, match="scale"):
        QuantizedTensor(np.zeros((3, 2), np.uint8), np.ones(2, np.float32), np.zeros(3, np.float32), 0, 8)
    with pytest.raises(ValueError, match="exceed"):
        QuantizedTensor(np.full(3, 16, np.uint8), np.ones(1, np.float32), np.zeros(1, np.float32), None, 4)


@pytest.mark.parametrize("axis, bits", [(0, 8), (None, 8), (1, 4), (0, 12)])
def test_fake_quantize_equals_dequantize_quantize_bit_exactly(axis, bits):
    x = _weights(5, 9, 3) * 3 + 1
    assert torch.equal(fake_quantize(x, bits, axis), dequantize_tensor(quantize_tensor(x, bits, axis)))


def test_fake_quantize_has_straight_through_gradient():
    x = _weights(4, 6, 3, 3).requires_grad_()
    out = fake_quantize(x)
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    # not a custom autograd.Function: compiled under torch 2.11 the old one (its forward ended
    # in a no-op .to(x.dtype)) lost its backward and every QAT gradient was zero
    assert not isinstance(out.grad_fn, torch.autograd.function.BackwardCFunction)


def test_fake_quantize_values_are_exact_while_the_gradient_passes_through():
    # the straight-through path adds x - x.detach(), exactly zero; x + (q - x).detach() would
    # round q for weights of mixed magnitudes (here 237 of 16,384 values)
    x = (_weights(64, 256) * torch.logspace(-6, 2, 256)).requires_grad_()
    assert torch.equal(fake_quantize(x), dequantize_tensor(quantize_tensor(x.detach())))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_fake_quantized_network_gets_the_eager_gradients(backend):
    # compiled under torch 2.11, the old quantiser (a custom autograd.Function ending in a no-op
    # .to(x.dtype)) gave all QAT gradients zero; every parameter's gradient must equal eager's
    net = attach_fake_quantization(_tiny_net())
    inputs = torch.randn(2, 3, 5, 5)
    grads = []
    for run in (net, torch.compile(net, backend=backend)):
        net.zero_grad(set_to_none=True)
        run(inputs).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in net.named_parameters()})
    for name, eager in grads[0].items():
        assert eager.abs().sum() > 0, name
        torch.testing.assert_close(grads[1][name], eager, rtol=1e-4, atol=1e-6, msg=name)


def test_fake_quantize_keeps_dtype():
    x = _weights(4, 6).half()
    assert fake_quantize(x).dtype == torch.float16


def _tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU(), nn.Conv2d(4, 2, 1), nn.Flatten(),
                         nn.Linear(2 * 5 * 5, 3))


def test_attach_fake_quantization_quantises_every_parameter():
    net = _tiny_net()
    reference = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    inputs = torch.randn(2, 3, 5, 5)
    float_outputs = net(inputs)
    attach_fake_quantization(net, bits=4)
    attach_fake_quantization(net, bits=4)  # idempotent: still one FakeQuantize per tensor
    conv = net[0]
    assert parametrize.is_parametrized(conv, "weight") and parametrize.is_parametrized(conv, "bias")
    assert len(conv.parametrizations["weight"]) == 1
    assert conv.parametrizations["weight"][0].axis == 0 and conv.parametrizations["bias"][0].axis is None

    quantised = {name: dequantize_tensor(q) for name, q in quantize_state_dict(reference, bits=4).items()}
    for name, value in quantised.items():
        module_index, tensor_name = name.split(".")
        assert torch.equal(getattr(net[int(module_index)], tensor_name), value), name

    expected = _tiny_net()
    expected.load_state_dict(quantised)
    outputs = net(inputs)
    assert torch.equal(outputs, expected(inputs))
    assert not torch.equal(outputs, float_outputs)

    outputs.sum().backward()  # gradients reach the float originals (straight through)
    assert conv.parametrizations["weight"].original.grad is not None

    remove_fake_quantization(net)
    assert not parametrize.is_parametrized(net[0])
    assert set(net.state_dict()) == set(reference)
    assert torch.equal(net(inputs), outputs)  # the quantised values were kept


def test_remove_without_keeping_restores_float_weights():
    net = _tiny_net()
    weight = net[0].weight.detach().clone()
    remove_fake_quantization(attach_fake_quantization(net), leave_parametrized=False)
    assert torch.equal(net[0].weight, weight)


def test_fake_quantize_module_is_a_parametrisation():
    layer = nn.Linear(6, 4)
    parametrize.register_parametrization(layer, "weight", FakeQuantize(bits=3, axis=0))
    assert len(torch.unique(layer.weight[0])) <= 2**3


def test_state_dict_round_trip_and_non_floating_entries():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    state = net.state_dict()
    with pytest.raises(ValueError, match="num_batches_tracked"):
        quantize_state_dict(state)
    state = {name: value for name, value in state.items() if value.is_floating_point()}
    quantised = quantize_state_dict(state, bits=8)
    assert list(quantised) == list(state)
    assert quantised["0.weight"].axis == 0 and quantised["0.bias"].axis is None
    restored = dequantize_state_dict(quantised)
    for name, value in state.items():
        assert restored[name].shape == value.shape
        half_step = float(quantised[name].scale.max()) / 2
        assert float((restored[name] - value).abs().max()) <= half_step * (1 + 1e-5)
