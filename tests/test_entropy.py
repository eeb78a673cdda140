"""Entropy coding of quantised tensors: round trips, model choice, efficiency, malformed data."""

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.codecs.entropy import (_choose_models, _deflate, _encode_table, _varint, decode_tensors,
                                    encode_tensors, pack_state_dict, unpack_state_dict)
from toolkit.codecs.quantize import quantize_tensor


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _mixed_tensors():
    return {
        "conv.weight": quantize_tensor(_randn(8, 4, 3, 3), bits=8, axis=0),
        "conv.bias": quantize_tensor(_randn(8, seed=1), bits=8, axis=None),
        "grid": quantize_tensor(_randn(2, 30, 5, seed=2), bits=6, axis=1),
        "embedding": quantize_tensor(_randn(40, 12, seed=3), bits=12, axis=0),
        "scalar": quantize_tensor(torch.tensor(0.5), bits=8, axis=None),
        "empty": quantize_tensor(torch.zeros(3, 0), bits=8, axis=0),
    }


def _assert_same(decoded, original):
    assert list(decoded) == list(original)
    for name, q in original.items():
        d = decoded[name]
        assert d.bits == q.bits and d.axis == q.axis, name
        assert d.symbols.dtype == q.symbols.dtype and np.array_equal(d.symbols, q.symbols), name
        assert np.array_equal(d.scale.view(np.uint32), q.scale.view(np.uint32)), name
        assert np.array_equal(d.offset.view(np.uint32), q.offset.view(np.uint32)), name


def test_round_trip_is_exact_for_mixed_bits_axes_and_shapes():
    tensors = _mixed_tensors()
    _assert_same(decode_tensors(encode_tensors(tensors)), tensors)


def test_empty_dict_round_trips():
    assert decode_tensors(encode_tensors({})) == {}


def _entropy_bytes(symbols: np.ndarray) -> float:
    counts = np.bincount(symbols.ravel())
    p = counts[counts > 0] / symbols.size
    return float(-(p * np.log2(p)).sum()) * symbols.size / 8


def test_coded_size_is_within_one_percent_of_empirical_entropy():
    q = quantize_tensor(_randn(512, 512), bits=8, axis=None)
    payload = encode_tensors({"w": q})
    entropy = _entropy_bytes(q.symbols)
    table = len(_encode_table(np.bincount(q.symbols.ravel(), minlength=256)))
    overhead = len(payload) - entropy - table
    print(f"coded {len(payload)} B, entropy {entropy:.0f} B, table {table} B, "
          f"efficiency {entropy / (len(payload) - table):.4f}")
    assert len(payload) <= 1.01 * entropy + table
    assert overhead < 0.002 * entropy + 64  # in fact ANS comes within a fraction of a percent
    assert 5.5 < entropy * 8 / q.symbols.size < 7.5  # Gaussian over 255 levels: about 6.7 bits


def test_small_tensors_share_one_histogram():
    tensors = {f"layer{i}.bias": quantize_tensor(_randn(16, seed=i), axis=None) for i in range(20)}
    models, assignment = _choose_models(tensors)
    assert len(models) == 1 and set(assignment.values()) == {0}


def test_large_tensors_with_different_distributions_get_own_histograms():
    gaussian = quantize_tensor(_randn(300, 300), axis=None)
    uniform = quantize_tensor(torch.rand(300, 300, generator=torch.Generator().manual_seed(1)), axis=None)
    biases = {f"b{i}": quantize_tensor(_randn(8, seed=i), axis=None) for i in range(5)}
    tensors = {"gaussian": gaussian, "uniform": uniform, **biases}
    models, assignment = _choose_models(tensors)
    assert assignment["gaussian"] != assignment["uniform"]
    assert len({assignment[name] for name in biases}) == 1
    separate = len(encode_tensors({"g": gaussian})) + len(encode_tensors({"u": uniform}))
    shared_size = len(encode_tensors(tensors))
    # the joint payload costs no more than coding the two big tensors on their own
    assert shared_size <= separate + sum(4 * 2 + 16 for _ in biases) + 64
    _assert_same(decode_tensors(encode_tensors(tensors)), tensors)


def test_mixed_bit_widths_never_share_a_model():
    tensors = _mixed_tensors()
    models, assignment = _choose_models(tensors)
    for name, q in tensors.items():
        assert models[assignment[name]][0] == q.bits


class _TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 3, 1)

    def forward(self, x):
        return self.head(torch.relu(self.body(torch.relu(self.stem(x)))))


def test_unpacked_state_dict_reproduces_encoder_outputs_bit_exactly():
    torch.manual_seed(0)
    trained = _TinyConvNet()
    payload, encoder_weights = pack_state_dict(trained.state_dict(), bits=8)
    decoder_weights = unpack_state_dict(payload)
    assert list(decoder_weights) == list(encoder_weights)
    for name in encoder_weights:
        assert torch.equal(decoder_weights[name], encoder_weights[name]), name

    encoder_model, decoder_model = _TinyConvNet(), _TinyConvNet()
    encoder_model.load_state_dict(encoder_weights)
    decoder_model.load_state_dict(decoder_weights)
    frames = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(encoder_model(frames), decoder_model(frames))
        assert not torch.equal(encoder_model(frames), trained(frames))  # it really was quantised


def test_pack_rejects_non_floating_entries():
    with pytest.raises(ValueError, match="'steps'"):
        pack_state_dict({"w": torch.ones(2, 2), "steps": torch.tensor(3)})


def test_encode_rejects_wrong_input():
    with pytest.raises(ValueError, match="QuantizedTensor"):
        encode_tensors({"w": torch.ones(3)})


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"), (b"XX\x01", "not a tensor payload"), (b"QT\x07", "version 7"),
    (b"QT\x01\x05abc", "truncated"), (b"QT\x01\x03abc", "description is corrupted"),
    (b"QT\x01" + b"\xff" * 12, "over-long varint"),
])
def test_malformed_payloads_raise_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        decode_tensors(data)


def test_truncation_anywhere_raises_value_error():
    payload = encode_tensors(_mixed_tensors())
    for cut in list(range(64)) + list(range(64, len(payload), 7)) + [len(payload) - 1]:
        with pytest.raises(ValueError):
            decode_tensors(payload[:cut])


def test_corrupted_bytes_raise_only_value_error():
    """The container's CRCs detect corruption; the payload decoder must still fail cleanly."""
    payload = encode_tensors(_mixed_tensors())
    detected = 0
    for position in range(0, len(payload), 5):
        corrupted = bytearray(payload)
        corrupted[position] ^= 0x5A
        try:
            decode_tensors(bytes(corrupted))
        except ValueError:
            detected += 1
    assert detected > 0


def test_corrupted_histogram_count_raises_value_error():
    meta = b'{"tensors":[{"name":"w","shape":[2],"axis":null,"bits":1,"model":0}],"models":[{"bits":1}]}'
    description = _deflate(meta)
    scales = np.array([1.0, 0.0], dtype="<f4").tobytes()
    prefix = b"QT\x01" + _varint(len(description)) + description + scales
    with pytest.raises(ValueError, match="implausible count"):
        decode_tensors(prefix + _varint(2**60) + _varint(1))
    with pytest.raises(ValueError, match="counts 3 symbols"):
        decode_tensors(prefix + _varint(2) + _varint(1))


def test_sixteen_bit_tables_stay_small_for_sparse_histograms():
    tensors = {"w": quantize_tensor(_randn(200), bits=16, axis=None)}
    payload = encode_tensors(tensors)
    assert len(payload) < 200 * 2 + 600  # not a 65,536-entry table
    _assert_same(decode_tensors(payload), tensors)


def test_payload_size_bounds_what_the_decoder_allocates():
    """Symbols, histogram tables and tensor names are checked before anything is decoded."""
    tensors = {"w": quantize_tensor(_randn(8, 4), bits=8, axis=0)}
    payload = encode_tensors(tensors)
    _assert_same(decode_tensors(payload, expected={"w": (8, 4)}), tensors)
    with pytest.raises(ValueError, match="has shape"):
        decode_tensors(payload, expected={"w": (8, 5)})
    with pytest.raises(ValueError, match="'v' is missing"):
        decode_tensors(payload, expected={"w": (8, 4), "v": (1,)})
    with pytest.raises(ValueError, match="'w' is not in the network"):
        decode_tensors(payload, expected={})

    def crafted(meta: bytes) -> bytes:
        description = _deflate(meta)
        return b"QT\x01" + _varint(len(description)) + description + b"\x00" * 64

    with pytest.raises(ValueError, match="used by no tensor"):
        decode_tensors(crafted(b'{"tensors":[],"models":[{"bits":8}]}'))
    many_models = b'{"tensors":[' + b",".join(
        b'{"name":"t%d","shape":[1],"axis":null,"bits":16,"model":%d}' % (i, i) for i in range(4)) \
        + b'],"models":[' + b",".join([b'{"bits":16}'] * 4) + b"]}"
    with pytest.raises(ValueError, match="histograms of 262144 entries"):
        decode_tensors(crafted(many_models))
    with pytest.raises(ValueError, match="description is corrupted .inflates to more than"):
        decode_tensors(crafted(b" " * (17 * 2**20)))
