"""ReshapeLayer, FlattenLayer, DimshuffleLayer, SliceLayer: shapes and values."""

import numpy as np
import pytest

import symdl
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
