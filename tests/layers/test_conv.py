"""Conv2DLayer: output shapes for every pad mode, parameter counts, values against a NumPy loop."""

import numpy as np
import pytest

import symdl
from symdl import layers
from symdl.layers.conv import conv_input_length, conv_output_length


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
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        layers.Conv2DLayer(layers.InputLayer((None, 28, 28)), 4, 3)
    with pytest.raises(NotImplementedError, match="odd filter"):
        layers.Conv2DLayer(layers.InputLayer((None, 1, 8, 8)), 4, 2, pad="same")
    with pytest.raises(ValueError, match="do not fit"):
        layers.Conv2DLayer(layers.InputLayer((None, 1, 4, 4)), 4, 5)


def test_conv_output_length_formula():
    cases = [(1, "valid"), (1, "full"), (3, "same"), (2, 1)]
    assert [conv_output_length(10, 3, s, p) for s, p in cases] == [8, 12, 4, 5]
    assert conv_output_length(None, 3, 1, "valid") is None


def run(net, *inputs, mode="py"):
    l_in = layers.get_all_layers(net)[0]
    return symdl.function([l_in.input_var], layers.get_output(net), mode=mode)(*inputs)


def numpy_conv3d(x, w, pad, stride):
    """Cross-correlation over three axes, one output position at a time."""
    x = np.pad(x, ((0, 0), (0, 0), *((p, p) for p in pad)))
    k = w.shape[2:]
    out_size = [(x.shape[2 + a] - k[a]) // stride[a] + 1 for a in range(3)]
    out = np.zeros((x.shape[0], w.shape[0], *out_size))
    for pos in np.ndindex(*out_size):
        window = x[(slice(None), slice(None), *(slice(p * s, p * s + kk) for p, s, kk in zip(pos, stride, k)))]
        out[(slice(None), slice(None), *pos)] = np.tensordot(window, w, axes=([1, 2, 3, 4], [1, 2, 3, 4]))
    return out


def test_conv_input_length_inverts_the_output_length():
    assert [conv_input_length(2, 3, 1, "valid"), conv_input_length(6, 4, 1, 2)] == [4, 5]
    assert [conv_input_length(3, 3, 2, "same"), conv_input_length(3, 3, 2, "full")] == [5, 3]
    for size, k, s, p in [(13, 5, 3, 2), (28, 3, 2, "same"), (9, 4, 1, "full"), (10, 3, 2, "valid")]:
        assert conv_output_length(conv_input_length(conv_output_length(size, k, s, p), k, s, p), k, s, p) == (
            conv_output_length(size, k, s, p)
        )
    assert conv_input_length(None, 3, 1) is None
    with pytest.raises(ValueError, match="Invalid pad"):
        conv_input_length(3, 5, 3, "wide")


def test_base_conv_layer_infers_dimensionality_and_checks_its_arguments():
    for n in (1, 2, 3):
        assert layers.BaseConvLayer((10, 20) + (30,) * n, 1, 3).n == n
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        layers.BaseConvLayer((10, 20, 30), 1, 3, n=2)
    with pytest.raises(ValueError, match="evenly divide"):
        layers.BaseConvLayer((2, 3, 4), 1, 3, num_groups=2)
    with pytest.raises(ValueError, match="must be positive"):
        layers.BaseConvLayer((2, 3, 4), 1, 3, num_groups=-3)
    with pytest.raises(TypeError, match="iterable of int"):
        layers.Conv2DLayer((1, 2, 3, 3), 4, 3, pad="wide")
    with pytest.raises(NotImplementedError, match="convolve"):
        layers.BaseConvLayer((10, 20, 30), 1, 3).convolve(symdl.tensor.tensor3())
    # NumPy integers and shapes are sizes too.
    assert layers.BaseConvLayer((2, 3, 5, 5), np.int64(1), np.empty((3, 3)).shape).W.get_value().shape == (1, 3, 3, 3)


def test_a_plain_conv_layer_builds_one_conv2d_node_on_the_filters_as_they_are():
    from symdl.graph.basic import toposort

    l_in = layers.InputLayer((None, 3, 12, 12))
    net = layers.Conv2DLayer(l_in, 8, 3, pad="same")
    nodes = toposort([layers.get_output(net)])
    convs = [node for node in nodes if type(node.op).__name__ == "Conv2d"]
    assert len(convs) == 1 and convs[0].inputs == [l_in.input_var, net.W]
    assert str(convs[0].op) == "Conv2d{border_mode=half}"


@pytest.mark.parametrize(("pad", "stride", "groups"), [(0, 1, 1), ("same", 1, 2), ("full", 2, 1), (2, 3, 1)])
def test_conv1d_layer_matches_numpy(rng, pad, stride, groups):
    l_in = layers.InputLayer((None, 4, 11))
    net = layers.Conv1DLayer(l_in, 6, 3, stride=stride, pad=pad, num_groups=groups, nonlinearity=None, b=None)
    W = net.W.get_value()
    assert W.shape == (6, 4 // groups, 3)
    x = rng.normal(size=(2, 4, 11)).astype(np.float32)
    pads = {"same": 1, "full": 2}.get(pad, pad)
    per_group = [
        numpy_conv(x[:, None, g * 4 // groups : (g + 1) * 4 // groups].transpose(0, 2, 1, 3),
                   W[g * 6 // groups : (g + 1) * 6 // groups, :, None], (0, pads), (1, stride), True)
        for g in range(groups)
    ]  # fmt: skip
    want = np.concatenate(per_group, axis=1)[:, :, 0]
    got = run(net, x)
    assert got.shape == (2, *net.output_shape[1:])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("layer", "shape", "default"),
    [("Conv1DLayer", (None, 4, 9), "conv1d_mc0"), ("Conv2DLayer", (None, 4, 9, 9), "conv2d"),
     ("Conv3DLayer", (None, 4, 5, 5, 5), "conv3d")],
)  # fmt: skip
def test_conv_layers_call_their_convolution_as_lasagne_does(layer, shape, default):
    calls = []

    def convolution(input, W, input_shape, W_shape, **kwargs):
        calls.append((input_shape, W_shape, kwargs))
        return getattr(layers, layer)(shape, 6, 3).convolution(input, W, input_shape, W_shape, **kwargs)

    net = getattr(layers, layer)(layers.InputLayer(shape), 6, 3, pad="same", num_groups=2, convolution=convolution)
    assert getattr(layers, layer)(shape, 6, 3).convolution.__name__ == default
    layers.get_output(net)
    stride = (1,) * (len(shape) - 2)
    assert calls == [(shape, (6, 2, *(3,) * (len(shape) - 2)), dict(subsample=stride, border_mode="half",
                                                                      filter_flip=True, num_groups=2))]  # fmt: skip


def test_every_conv_layer_needs_the_input_channels():
    for make in (layers.Conv2DLayer, layers.TransposedConv2DLayer, layers.DilatedConv2DLayer):
        with pytest.raises(ValueError, match=f"{make.__name__}: the number of input channels must be known"):
            make((None, None, 8, 8), 4, 3)


def test_conv3d_layer_matches_numpy_on_both_backends(rng, backend):
    l_in = layers.InputLayer((None, 2, 5, 6, 4))
    net = layers.Conv3DLayer(l_in, 3, (3, 2, 2), stride=(2, 1, 1), pad=1, untie_biases=True, nonlinearity=None)
    assert net.W.get_value().shape == (3, 2, 3, 2, 2) and net.b.get_value().shape == (3, 3, 7, 5)
    net.b.set_value(rng.normal(size=(3, 3, 7, 5)).astype(np.float32))
    x = rng.normal(size=(2, 2, 5, 6, 4)).astype(np.float32)
    W = net.W.get_value()
    want = numpy_conv3d(x, W[:, :, ::-1, ::-1, ::-1], (1, 1, 1), (2, 1, 1)) + net.b.get_value()
    got = run(net, x, mode=backend)
    assert got.shape == (2, *net.output_shape[1:])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("crop", "stride", "expected"), [(0, 1, (9, 10)), ("full", 1, (5, 6)), ("same", 2, (13, 15)),
                                                          (1, 2, (13, 15)), ("valid", 3, (21, 24))])  # fmt: skip
def test_transposed_conv_output_shapes(crop, stride, expected):
    net = layers.TransposedConv2DLayer(layers.InputLayer((None, 4, 7, 8)), 2, 3, stride=stride, crop=crop)
    assert net.output_shape == (None, 2, *expected) and net.W.get_value().shape == (4, 2, 3, 3)
    assert net.crop == {"valid": (0, 0)}.get(crop, crop if isinstance(crop, str) else (crop, crop))
    assert not hasattr(net, "pad")


@pytest.mark.parametrize("flip", [False, True])
def test_transposed_conv_is_the_adjoint_of_the_forward_convolution(rng, flip):
    # <conv(y, W), x> == <y, transposed_conv(x, W)> for every x, y: the layer is the forward
    # convolution's input gradient, filters and flip included.
    l_in = layers.InputLayer((None, 3, 4, 5))
    up = layers.TransposedConv2DLayer(l_in, 2, (3, 2), stride=2, crop=1, flip_filters=flip, b=None, nonlinearity=None)
    down = layers.Conv2DLayer(layers.InputLayer(up.output_shape), 3, (3, 2), stride=2, pad=1, W=up.W, b=None,
                              nonlinearity=None, flip_filters=not flip)  # fmt: skip
    assert down.output_shape == l_in.output_shape
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    y = rng.normal(size=(2, *up.output_shape[1:])).astype(np.float32)
    lhs = np.sum(run(down, y).astype(np.float64) * x)
    assert lhs == pytest.approx(np.sum(run(up, x).astype(np.float64) * y), rel=1e-4)


def test_transposed_conv_output_size_static_symbolic_and_unknown_inputs(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    W = rng.normal(size=(3, 2, 2, 3)).astype(np.float32)
    smallest = layers.TransposedConv2DLayer(layers.InputLayer((None, 3, 4, 5)), 2, (2, 3), stride=(2, 3), W=W)
    assert smallest.output_shape == (None, 2, 8, 15)
    bigger = layers.TransposedConv2DLayer(
        layers.InputLayer((None, 3, None, None)), 2, (2, 3), stride=(2, 3), W=W, output_size=(9, 16)
    )
    assert bigger.output_shape == (None, 2, 9, 16)
    size = symdl.shared(np.array([9, 16]))
    symbolic = layers.TransposedConv2DLayer(layers.InputLayer((None, 3, 4, 5)), 2, (2, 3), stride=(2, 3), W=W,
                                            output_size=size)  # fmt: skip
    assert symbolic.output_shape == (None, 2, None, None)
    unknown = layers.TransposedConv2DLayer(layers.InputLayer((None, 3, None, None)), 2, (2, 3), stride=(2, 3), W=W)
    assert unknown.output_shape == (None, 2, None, None)
    small, big, big2, small2 = (run(net, x) for net in (smallest, bigger, symbolic, unknown))
    assert small.shape == small2.shape == (2, 2, 8, 15) and big.shape == big2.shape == (2, 2, 9, 16)
    # The extra row and column only receive the bias (0 here) through the rectifier.
    np.testing.assert_allclose(big[:, :, :8, :15], small, rtol=1e-6)
    np.testing.assert_allclose(big2, big, rtol=1e-6)
    np.testing.assert_allclose(small2, small, rtol=1e-6)


def test_transposed_conv3d_is_the_adjoint_of_conv3d(rng):
    l_in = layers.InputLayer((None, 2, 3, 4, 3))
    up = layers.TransposedConv3DLayer(l_in, 3, 2, stride=(1, 2, 2), b=None, nonlinearity=None)
    assert up.output_shape == (None, 3, 4, 8, 6) and up.W.get_value().shape == (2, 3, 2, 2, 2)
    down = layers.Conv3DLayer(layers.InputLayer(up.output_shape), 2, 2, stride=(1, 2, 2), W=up.W, b=None,
                              nonlinearity=None)  # fmt: skip
    x = rng.normal(size=(2, 2, 3, 4, 3)).astype(np.float32)
    y = rng.normal(size=(2, 3, 4, 8, 6)).astype(np.float32)
    lhs = np.sum(run(down, y).astype(np.float64) * x)
    assert lhs == pytest.approx(np.sum(run(up, x).astype(np.float64) * y), rel=1e-4)
    assert layers.Deconv3DLayer is layers.TransposedConv3DLayer and layers.Deconv2DLayer is layers.TransposedConv2DLayer


def test_dilated_conv_spreads_the_filter_taps(rng):
    l_in = layers.InputLayer((None, 2, 9, 8))
    net = layers.DilatedConv2DLayer(l_in, 3, (2, 3), dilation=(3, 2), nonlinearity=None, b=None)
    assert net.output_shape == (None, 3, 6, 4) and net.W.get_value().shape == (2, 3, 2, 3)
    W = net.W.get_value()
    spread = np.zeros((3, 2, 4, 5), np.float32)
    spread[:, :, ::3, ::2] = W.transpose(1, 0, 2, 3)
    x = rng.normal(size=(2, 2, 9, 8)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), numpy_conv(x, spread, (0, 0), (1, 1), False), rtol=1e-4, atol=1e-4)
    # A Conv2d node with filter_dilation: the C backend's kernel.
    assert "dilation=(3, 2)" in str(layers.get_output(net).owner.op)
    with pytest.raises(NotImplementedError, match="requires pad=0"):
        layers.DilatedConv2DLayer(l_in, 3, 3, pad=1)
    with pytest.raises(NotImplementedError, match="requires flip_filters=False"):
        layers.DilatedConv2DLayer(l_in, 3, 3, flip_filters=True)
