"""DenseLayer: shapes, parameter counts (n_in * n_units + n_units), values against NumPy."""

import numpy as np
import pytest

import symdl
from symdl import init, layers, nonlinearities


def test_output_shape_and_parameter_count_follow_lasagne():
    net = layers.DenseLayer(layers.InputLayer((None, 1, 8, 8)), 100)
    assert net.output_shape == (None, 100)
    assert layers.count_params(net) == 64 * 100 + 100
    assert net.W.get_value().shape == (64, 100) and net.b.get_value().shape == (100,)
    assert net.W.dtype == "float32"
    assert net.params[net.W] == {"trainable", "regularizable"} and net.params[net.b] == {"trainable"}


def test_output_is_nonlinearity_of_dot_plus_bias(rng):
    l_in = layers.InputLayer((None, 2, 3))
    W = rng.normal(size=(6, 4)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    net = layers.DenseLayer(l_in, 4, W=W, b=b, nonlinearity=nonlinearities.tanh)
    x = rng.normal(size=(5, 2, 3)).astype(np.float32)
    out = symdl.function([l_in.input_var], layers.get_output(net), mode="py")(x)
    np.testing.assert_allclose(out, np.tanh(x.reshape(5, 6) @ W + b), rtol=1e-5, atol=1e-6)


def test_no_bias_and_linear_output():
    net = layers.DenseLayer(layers.InputLayer((None, 3)), 2, W=init.Constant(1.0), b=None, nonlinearity=None)
    assert net.b is None and layers.count_params(net) == 6
    out = symdl.function([net.input_layer.input_var], layers.get_output(net), mode="py")(-np.ones((1, 3), np.float32))
    np.testing.assert_allclose(out, [[-3.0, -3.0]])


def test_num_leading_axes_keeps_axes():
    net = layers.DenseLayer(layers.InputLayer((None, 7, 5)), 3, num_leading_axes=2)
    assert net.output_shape == (None, 7, 3) and net.W.get_value().shape == (5, 3)
    x = np.ones((2, 7, 5), np.float32)
    out = symdl.function([net.input_layer.input_var], layers.get_output(net), mode="py")(x)
    assert out.shape == (2, 7, 3)
    with pytest.raises(ValueError, match="num_leading_axes"):
        layers.DenseLayer(layers.InputLayer((None, 5)), 3, num_leading_axes=2)


def test_name_prefixes_parameter_names_and_shared_weights_are_reused():
    a = layers.DenseLayer(layers.InputLayer((None, 3)), 4, name="fc1")
    assert (a.W.name, a.b.name) == ("fc1.W", "fc1.b")
    b = layers.DenseLayer(layers.InputLayer((None, 3)), 4, W=a.W)
    assert b.W is a.W
    with pytest.raises(ValueError, match=r"shape \(3, 4\), expected \(3, 5\)"):
        layers.DenseLayer(layers.InputLayer((None, 3)), 5, W=a.W)
