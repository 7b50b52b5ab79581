"""Conv2DLayer: output shapes for every pad mode, parameter counts, values against a NumPy loop."""

import numpy as np
import pytest

import symdl
from symdl import layers
from symdl.layers.conv import conv_output_length


def numpy_conv(x, w, pad, stride, flip):
    if flip:
        w = w[:, :, ::-1, ::-1]
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride[0] + 1, (wd - kw) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


@pytest.mark.parametrize(
    ("pad", "stride", "expected"),
    [("valid", 1, (24, 24)), ("full", 1, (32, 32)), ("same", 1, (28, 28)), (1, 1, (26, 26)), ("same", 2, (14, 14))],
)
def test_output_shape_for_each_pad_mode(pad, stride, expected):
    net = layers.Conv2DLayer(layers.InputLayer((None, 3, 28, 28)), 16, 5, pad=pad, stride=stride)
    assert net.output_shape == (None, 16, *expected)


def test_parameter_counts_follow_lasagne():
    l_in = layers.InputLayer((None, 3, 10, 10))
    assert layers.count_params(layers.Conv2DLayer(l_in, 8, (3, 5))) == 8 * 3 * 3 * 5 + 8
    untied = layers.Conv2DLayer(l_in, 8, 3, untie_biases=True)
    assert untied.b.get_value().shape == (8, 8, 8)
    assert layers.count_params(untied) == 8 * 3 * 9 + 8 * 8 * 8
    assert layers.count_params(layers.Conv2DLayer(l_in, 6, 3, b=None, num_groups=3)) == 6 * 1 * 9


@pytest.mark.parametrize(("pad", "stride", "flip"), [("valid", 1, True), ("same", 1, False), (2, 2, True)])
def test_values_match_a_numpy_convolution(rng, pad, stride, flip):
    l_in = layers.InputLayer((None, 2, 7, 7))
    W = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    net = layers.Conv2DLayer(l_in, 3, 3, pad=pad, stride=stride, W=W, b=b, nonlinearity=None, flip_filters=flip)
    x = rng.normal(size=(2, 2, 7, 7)).astype(np.float32)
    out = symdl.function([l_in.input_var], layers.get_output(net), mode="py")(x)
    pads = {"valid": (0, 0), "same": (1, 1)}.get(pad, (pad, pad))
    want = numpy_conv(x, W, pads, (stride, stride), flip) + b[None, :, None, None]
    assert out.shape == (2, *net.output_shape[1:])
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_untied_biases_add_one_bias_per_position(rng):
    l_in = layers.InputLayer((None, 1, 4, 4))
    net = layers.Conv2DLayer(l_in, 2, 3, untie_biases=True, W=np.zeros((2, 1, 3, 3), np.float32), nonlinearity=None)
    b = rng.normal(size=(2, 2, 2)).astype(np.float32)
    net.b.set_value(b)
    out = symdl.function([l_in.input_var], layers.get_output(net), mode="py")(np.ones((3, 1, 4, 4), np.float32))
    np.testing.assert_allclose(out, np.broadcast_to(b, (3, 2, 2, 2)))


def test_clear_errors_for_bad_configurations():
    with pytest.raises(ValueError, match="4-d input"):
        layers.Conv2DLayer(layers.InputLayer((None, 28, 28)), 4, 3)
    with pytest.raises(NotImplementedError, match="odd filter"):
        layers.Conv2DLayer(layers.InputLayer((None, 1, 8, 8)), 4, 2, pad="same")
    with pytest.raises(ValueError, match="do not fit"):
        layers.Conv2DLayer(layers.InputLayer((None, 1, 4, 4)), 4, 5)


def test_conv_output_length_formula():
    cases = [(1, "valid"), (1, "full"), (3, "same"), (2, 1)]
    assert [conv_output_length(10, 3, s, p) for s, p in cases] == [8, 12, 4, 5]
    assert conv_output_length(None, 3, 1, "valid") is None
