"""ReshapeLayer, FlattenLayer, DimshuffleLayer, PadLayer, SliceLayer: shapes and values."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers


def run(net, x):
    return symdl.function([layers.get_all_layers(net)[0].input_var], layers.get_output(net), mode="py")(x)


X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


def test_reshape_with_axis_references_and_inferred_size():
    l_in = layers.InputLayer((None, 3, 4))
    net = layers.ReshapeLayer(l_in, ([0], 2, -1))
    assert net.output_shape == (None, 2, 6)
    np.testing.assert_array_equal(run(net, X), X.reshape(2, 2, 6))
    assert layers.reshape(l_in, (-1, 12)).output_shape == (None, 12)
    assert layers.ReshapeLayer(layers.InputLayer((2, 3, 4)), (4, -1)).output_shape == (4, 6)


def test_reshape_refuses_bad_specifications():
    l_in = layers.InputLayer((None, 3, 4))
    with pytest.raises(ValueError, match="more than one -1"):
        layers.ReshapeLayer(l_in, (-1, -1))
    with pytest.raises(ValueError, match="do not fit"):
        layers.ReshapeLayer(l_in, ([0], 5))
    with pytest.raises(ValueError, match="positive ints"):
        layers.ReshapeLayer(l_in, ([0], 0))


def test_flatten_keeps_outdim_minus_one_axes():
    l_in = layers.InputLayer((None, 3, 4))
    assert layers.FlattenLayer(l_in).output_shape == (None, 12)
    assert layers.flatten(l_in, outdim=1).output_shape == (None,)
    np.testing.assert_array_equal(run(layers.FlattenLayer(l_in), X), X.reshape(2, 12))


def test_dimshuffle_reorders_and_adds_axes():
    net = layers.DimshuffleLayer(layers.InputLayer((None, 3, 4)), (2, "x", 0, 1))
    assert net.output_shape == (4, 1, None, 3)
    np.testing.assert_array_equal(run(net, X), X.transpose(2, 0, 1)[:, None])
    with pytest.raises(ValueError, match="drops axis 1 of size 3"):
        layers.DimshuffleLayer(layers.InputLayer((None, 3, 4)), (0, 2))


def test_slice_with_an_index_or_a_slice():
    l_in = layers.InputLayer((None, 3, 4))
    by_index = layers.SliceLayer(l_in, 1, axis=1)
    assert by_index.output_shape == (None, 4)
    np.testing.assert_array_equal(run(by_index, X), X[:, 1])
    by_slice = layers.SliceLayer(l_in, slice(None, None, 2))
    assert by_slice.output_shape == (None, 3, 2)
    np.testing.assert_array_equal(run(by_slice, X), X[..., ::2])


def test_reshape_with_symbolic_sizes_and_unknown_sizes_copied_twice():
    x = T.tensor3("x")
    l_in = layers.InputLayer((None, None, None), input_var=x)
    net = layers.ReshapeLayer(l_in, (x.shape[0] * x.shape[1], [2]))
    assert net.output_shape == (None, None)
    assert net.get_output_shape_for((x.shape[0], x.shape[1], x.shape[2])) == (None, None)
    out = layers.get_output(net)
    assert out.eval({x: np.ones((3, 5, 6), np.float32)}).shape == (15, 6)
    twice = layers.ReshapeLayer(layers.InputLayer((16, 3, None, None, 10)), (-1, [1], [2], [3], 2, [2]))
    assert twice.output_shape == (None, 3, None, None, 2, None)
    with pytest.raises(ValueError, match="the total sizes do not match"):
        layers.ReshapeLayer(layers.InputLayer((16, 3, None, None, 10)), (17, 3, [2], [3], -1))
    with pytest.raises(ValueError, match="refers to \\[5\\]"):
        layers.ReshapeLayer(layers.InputLayer((16, 3, None, None, 10)), (16, 3, 5, 7, [5]))
    with pytest.raises(ValueError, match="integer scalar"):
        layers.ReshapeLayer(l_in, (T.vector(), 3))


@pytest.mark.parametrize(
    "width,input_shape,output_shape",
    [
        (3, (2, 3, 4, 5), (2, 3, 10, 11)),
        ((2, 3), (2, 3, 4, 5), (2, 3, 8, 11)),
        (((1, 2), (3, 4)), (2, 3, 4, 5), (2, 3, 7, 12)),
        ((1,), (2, 3, None, 5), (2, 3, None, 5)),
        (((1, 2), (3, 4)), (None, 3, None, None), (None, 3, None, None)),
    ],
)
def test_pad_layer_shapes(width, input_shape, output_shape):
    assert layers.PadLayer(input_shape, width=width).output_shape == output_shape


@pytest.mark.parametrize("batch_ndim", [1, 2])
def test_pad_layer_values_and_gradient(batch_ndim):
    l_in = layers.InputLayer((None, 3, 4))
    net = layers.pad(l_in, width=[(1, 2)], val=-1.0, batch_ndim=batch_ndim)
    out = run(net, X)
    widths = [(0, 0)] * batch_ndim + [(1, 2)] + [(0, 0)] * (2 - batch_ndim)
    np.testing.assert_array_equal(out, np.pad(X, widths, constant_values=-1.0))
    assert net.output_shape == {1: (None, 6, 4), 2: (None, 3, 7)}[batch_ndim]
    g = symdl.grad(layers.get_output(net).sum(), l_in.input_var)
    np.testing.assert_array_equal(g.eval({l_in.input_var: X}), np.ones_like(X))
    assert layers.PadLayer(l_in, width=0).get_output_for(l_in.input_var) is l_in.input_var


def test_pad_layer_refuses_bad_widths():
    l_in = layers.InputLayer((None, 3, 4))
    with pytest.raises(ValueError, match="3 widths for the 2 axes"):
        layers.get_output_shape(layers.PadLayer(l_in, width=[1, 2, 3], batch_ndim=1))
    with pytest.raises(ValueError, match="widths must be non-negative"):
        layers.get_output(layers.PadLayer(l_in, width=(1, -2), batch_ndim=1))


def test_pad_layer_and_pad_agree():
    """PadLayer is theano_extensions.padding.pad: same values, same static shape."""
    from symdl.theano_extensions import padding

    l_in = layers.InputLayer((2, 3, 4))
    net = layers.PadLayer(l_in, width=[(0, 2), 1], val=3.0, batch_ndim=1)
    direct = padding.pad(l_in.input_var, [(0, 2), 1], 3.0, batch_ndim=1)
    assert layers.get_output(net).type.shape == direct.type.shape == net.output_shape == (2, 5, 6)
    np.testing.assert_array_equal(run(net, X), direct.eval({l_in.input_var: X}))
