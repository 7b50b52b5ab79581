"""Pooling layers: shapes (Lasagne's formulas) and values against NumPy."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers
from symdl.layers.pool import pool_output_length


def run(net, x):
    return symdl.function([layers.get_all_layers(net)[0].input_var], layers.get_output(net), mode="py")(x)


def test_max_pool_shape_and_values(rng):
    net = layers.MaxPool2DLayer(layers.InputLayer((None, 3, 6, 6)), 2)
    assert net.output_shape == (None, 3, 3, 3) and layers.count_params(net) == 0
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(net, x), x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))


@pytest.mark.parametrize("mode", ["average_inc_pad", "average_exc_pad"])
def test_average_pool_values(rng, mode):
    net = layers.Pool2DLayer(layers.InputLayer((None, 1, 4, 4)), 2, mode=mode)
    x = rng.normal(size=(2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), x.reshape(2, 1, 2, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-6)


def test_stride_pad_and_ignore_border_shapes():
    l_in = layers.InputLayer((None, 2, 7, 7))
    assert layers.MaxPool2DLayer(l_in, 2).output_shape == (None, 2, 3, 3)
    assert layers.MaxPool2DLayer(l_in, 2, ignore_border=False).output_shape == (None, 2, 4, 4)
    assert layers.MaxPool2DLayer(l_in, 3, stride=1).output_shape == (None, 2, 5, 5)
    net = layers.MaxPool2DLayer(l_in, 3, stride=2, pad=1)
    assert net.output_shape == (None, 2, 4, 4)
    assert run(net, np.zeros((1, 2, 7, 7), np.float32)).shape == (1, 2, 4, 4)
    partial = layers.MaxPool2DLayer(l_in, 2, ignore_border=False)
    assert run(partial, np.zeros((1, 2, 7, 7), np.float32)).shape == (1, 2, 4, 4)


def test_global_pool_mean_and_max(rng):
    l_in = layers.InputLayer((None, 4, 3, 3))
    x = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    mean_pool = layers.GlobalPoolLayer(l_in)
    assert mean_pool.output_shape == (None, 4)
    np.testing.assert_allclose(run(mean_pool, x), x.mean(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(run(layers.GlobalPoolLayer(l_in, T.max), x), x.max(axis=(2, 3)))


def test_pool_output_length_formula_and_errors():
    assert pool_output_length(5, 2, 1, 0, False) == 4
    with pytest.raises(ValueError, match="does not fit"):
        layers.MaxPool2DLayer(layers.InputLayer((None, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="unknown mode"):
        layers.Pool2DLayer(layers.InputLayer((None, 1, 4, 4)), 2, mode="median")
