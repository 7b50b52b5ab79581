"""DenseLayer and NINLayer: shapes, parameter counts (n_in * n_units + n_units), values against
NumPy, Lasagne's errors and its negative num_leading_axes."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
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


def test_num_leading_axes_errors_and_negative_values_follow_lasagne():
    l_in = layers.InputLayer((2, 3, 4))
    with pytest.raises(ValueError, match="leaving no trailing axes"):
        layers.DenseLayer(l_in, 5, num_leading_axes=3)
    with pytest.raises(ValueError, match="requesting more trailing axes"):
        layers.DenseLayer(l_in, 5, num_leading_axes=-4)
    with pytest.raises(ValueError, match="requires a fixed input shape"):
        layers.DenseLayer(layers.InputLayer((10, None, 10)), 20)
    net = layers.DenseLayer(l_in, 5, num_leading_axes=-1)
    assert net.num_leading_axes == -1 and net.output_shape == (2, 3, 5) and net.W.get_value().shape == (4, 5)
    # Negative counts from the end of whatever input comes: more leading axes are kept too.
    x = np.ones((6, 2, 3, 4), np.float32)
    assert net.get_output_for(symdl.shared(x)).eval().shape == (6, 2, 3, 5)


@pytest.mark.parametrize("extra", [{}, {"untie_biases": True}, {"b": None}], ids=["tied", "untied", "no_bias"])
def test_nin_layer_is_a_dense_layer_at_every_position(rng, extra):
    l_in = layers.InputLayer((None, 3, 4, 5))
    net = layers.NINLayer(l_in, 6, nonlinearity=nonlinearities.tanh, **extra)
    assert net.output_shape == (None, 6, 4, 5) and net.W.get_value().shape == (3, 6)
    if net.b is not None:
        assert net.b.get_value().shape == ((6, 4, 5) if net.untie_biases else (6,))
        net.b.set_value(rng.normal(size=net.b.get_value().shape).astype(np.float32))
        assert net.params[net.b] == {"trainable"}
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    expected = np.einsum("bchw,cu->buhw", x, net.W.get_value())
    if net.b is not None:
        expected += net.b.get_value()[:, None, None] if not net.untie_biases else net.b.get_value()
    out = symdl.function([l_in.input_var], layers.get_output(net), mode="py")(x)
    np.testing.assert_allclose(out, np.tanh(expected), rtol=1e-5, atol=1e-6)


def test_nin_layer_on_other_ranks_and_its_errors(rng):
    flat = layers.NINLayer(layers.InputLayer((None, 3)), 2, nonlinearity=None)
    assert flat.output_shape == (None, 2)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(flat.get_output_for(T.constant(x)).eval(), x @ flat.W.get_value(), rtol=1e-6)
    seq = layers.NINLayer(layers.InputLayer((None, 3, 7)), 2)
    assert seq.output_shape == (None, 2, 7)
    with pytest.raises(ValueError, match="known channel count"):
        layers.NINLayer(layers.InputLayer((None, None, 4, 4)), 2)
    with pytest.raises(ValueError, match="untie_biases=True needs known spatial sizes"):
        layers.NINLayer(layers.InputLayer((None, 3, None, 4)), 2, untie_biases=True)
