"""NonlinearityLayer, ExpressionLayer, BiasLayer, ScaleLayer, standardize, InverseLayer, the
parametric and randomized rectifiers, EmbeddingLayer, InputLayer."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers, nonlinearities


def run(net, x):
    return symdl.function([layers.get_all_layers(net)[0].input_var], layers.get_output(net), mode="py")(x)


def test_nonlinearity_layer_applies_its_function():
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(run(layers.NonlinearityLayer(layers.InputLayer((None, 2))), x), [[0.0, 2.0]])
    np.testing.assert_array_equal(run(layers.NonlinearityLayer(layers.InputLayer((None, 2)), None), x), x)


def test_expression_layer_shapes_none_tuple_callable_and_auto():
    l_in = layers.InputLayer((None, 6))
    assert layers.ExpressionLayer(l_in, lambda x: x * 2).output_shape == (None, 6)
    assert layers.ExpressionLayer(l_in, lambda x: x.sum(axis=1), (None,)).output_shape == (None,)
    assert layers.ExpressionLayer(l_in, lambda x: x[:, :2], lambda s: (s[0], 2)).output_shape == (None, 2)
    auto = layers.ExpressionLayer(l_in, lambda x: T.concatenate([x, x], axis=1), "auto")
    assert auto.output_shape == (None, 12)
    np.testing.assert_array_equal(run(auto, np.ones((2, 6), np.float32)), np.ones((2, 12)))


def test_bias_layer_adds_one_bias_per_channel():
    l_in = layers.InputLayer((None, 3, 2, 2))
    net = layers.BiasLayer(l_in, b=np.array([1.0, 2.0, 3.0], np.float32))
    assert layers.count_params(net) == 3 and net.params[net.b] == {"trainable"}
    out = run(net, np.zeros((1, 3, 2, 2), np.float32))
    np.testing.assert_array_equal(out[0, :, 0, 0], [1.0, 2.0, 3.0])


def test_embedding_layer_looks_up_rows():
    words = T.imatrix("words")
    W = np.arange(20, dtype=np.float32).reshape(10, 2)
    net = layers.EmbeddingLayer(layers.InputLayer((None, 3), input_var=words), 10, 2, W=W)
    assert net.output_shape == (None, 3, 2) and layers.count_params(net) == 20
    idx = np.array([[1, 0, 9]], np.int32)
    np.testing.assert_array_equal(symdl.function([words], layers.get_output(net), mode="py")(idx), W[idx])


def test_input_layer_makes_a_typed_variable_and_checks_given_ones():
    l_in = layers.InputLayer((None, 1, 28, 28), name="img")
    assert str(l_in.input_var.type) == "float32(?, 1, 28, 28)" and l_in.input_var.name == "img.input"
    with pytest.raises(ValueError, match="3 dimensions"):
        layers.InputLayer((None, 4), input_var=T.tensor3("x"))
    with pytest.raises(ValueError, match="positive"):
        layers.InputLayer((None, 0))


def test_a_custom_layer_needs_only_get_output_for():
    class Scale(layers.Layer):
        def __init__(self, incoming, **kwargs):
            super().__init__(incoming, **kwargs)
            self.scale = self.add_param(np.float32([3.0]), (1,), name="scale", regularizable=False)

        def get_output_for(self, input, **kwargs):
            return input * self.scale

    net = Scale(layers.InputLayer((None, 2)), name="s")
    assert net.scale.name == "s.scale" and layers.get_all_params(net, trainable=True) == [net.scale]
    np.testing.assert_array_equal(run(net, np.ones((1, 2), np.float32)), [[3.0, 3.0]])
    assert repr(net) == "<Scale 's' output_shape=(None, 2)>"
    with pytest.raises(NotImplementedError):
        layers.get_output(layers.Layer(layers.InputLayer((None, 2))))


def test_bias_and_scale_layers_share_their_parameters_over_the_given_axes(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    unique = lambda shape: np.arange(np.prod(shape), dtype=np.float32).reshape(shape)  # noqa: E731
    for shared_axes, shape, view in [("auto", (3,), (1, 3, 1)), (0, (3, 4), (1, 3, 4)), ((1, 2), (2,), (2, 1, 1))]:
        bias = layers.BiasLayer((2, 3, 4), b=unique, shared_axes=shared_axes)
        scale = layers.ScaleLayer((2, 3, 4), scales=unique, shared_axes=shared_axes)
        assert bias.b.get_value().shape == shape and scale.scales.get_value().shape == shape
        np.testing.assert_allclose(bias.get_output_for(x).eval(), x + unique(shape).reshape(view))
        np.testing.assert_allclose(scale.get_output_for(x).eval(), x * unique(shape).reshape(view))
    assert scale.params[scale.scales] == {"trainable"}
    unbiased = layers.BiasLayer((2, 3, 4), b=None)
    assert unbiased.get_output_for(x) is x
    for cls in (layers.BiasLayer, layers.ScaleLayer):
        cls((64, None, 3), shared_axes=(1, 2))
        with pytest.raises(ValueError, match="needs specified input sizes"):
            cls((64, None, 3), shared_axes=(0, 2))


def test_standardize_applies_fixed_statistics(rng):
    data = rng.normal(2.0, 3.0, size=(50, 3, 10, 4)).astype(np.float32)
    l_in = layers.InputLayer((None, 3, None, 4))
    net = layers.standardize(l_in, data.mean(axis=(0, 2)), data.std(axis=(0, 2)), shared_axes=(0, 2))
    out = run(net, data)
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2)), 1, rtol=1e-4)
    assert len(layers.get_all_params(net)) == 2 and layers.get_all_params(net, trainable=True) == []


def test_inverse_layer_applies_the_transposed_layer(rng):
    l_in = layers.InputLayer((10, 12))
    dense = layers.DenseLayer(l_in, 3, b=None, nonlinearity=None)
    inverse = layers.InverseLayer(dense, dense)
    assert inverse.output_shape == (10, 12)
    x = rng.normal(size=(10, 12)).astype(np.float32)
    W = dense.W.get_value()
    np.testing.assert_allclose(run(inverse, x), x @ W @ W.T, rtol=1e-5, atol=1e-5)


def test_parametric_rectifier_learns_one_slope_per_channel_by_default(rng):
    unique = lambda shape: (np.arange(np.prod(shape)).reshape(shape) / np.prod(shape)).astype(np.float32)  # noqa: E731
    x = rng.normal(size=(3, 3, 5, 5)).astype(np.float32)
    for shared_axes, axes, view in [
        ("auto", (0, 2, 3), (1, 3, 1, 1)),
        ("all", (0, 1, 2, 3), ()),
        (0, (0,), (1, 3, 5, 5)),
        ((0, 3), (0, 3), (1, 3, 5, 1)),
    ]:
        net = layers.ParametricRectifierLayer((None, 3, 5, 5), alpha=unique, shared_axes=shared_axes)
        assert net.shared_axes == axes and net.params[net.alpha] == {"trainable"}
        alpha = net.alpha.get_value().reshape(view)
        np.testing.assert_allclose(net.get_output_for(x).eval(), np.maximum(x, 0) + np.minimum(x, 0) * alpha, rtol=1e-6)
    with pytest.raises(ValueError, match="needs specified input sizes"):
        layers.ParametricRectifierLayer((None, 3, 28, 28), shared_axes=(1, 2, 3))
    dense = layers.DenseLayer(layers.InputLayer((None, 4)), 6)
    net = layers.prelu(dense)
    assert dense.nonlinearity is nonlinearities.identity and net.alpha.get_value().shape == (6,)
    g = symdl.grad(layers.get_output(net).sum(), net.alpha)
    assert g.eval({dense.input_layer.input_var: -np.ones((2, 4), np.float32)}).shape == (6,)


def test_randomized_rectifier_draws_slopes_in_training_only(rng):
    x = -np.ones((3, 4, 5, 6), np.float32)
    slopes = layers.RandomizedRectifierLayer(x.shape).get_output_for(x).eval() / x
    assert ((slopes >= 0.3) & (slopes < 0.8)).all() and slopes.var() > 0
    # One slope per channel by default: constant over every other axis.
    assert [bool(np.allclose(slopes.var(axis=a), 0)) for a in range(4)] == [True, False, True, True]
    for shared_axes, constant_along in [("all", [True] * 4), (0, [True, False, False, False])]:
        out = layers.RandomizedRectifierLayer(x.shape, shared_axes=shared_axes).get_output_for(x).eval()
        assert [bool(np.allclose(out.var(axis=a), 0)) for a in range(4)] == constant_along
    fixed = layers.RandomizedRectifierLayer((None, 4, 5, 6), lower=0.4, upper=0.6)
    np.testing.assert_allclose(fixed.get_output_for(x, deterministic=True).eval(), -0.5)
    np.testing.assert_allclose(layers.RandomizedRectifierLayer(x.shape, 0.5, 0.5).get_output_for(x).eval(), -0.5)
    np.testing.assert_array_equal(fixed.get_output_for(-x).eval(), -x)
    with pytest.raises(ValueError, match="must not be below"):
        layers.RandomizedRectifierLayer((None, 3), lower=0.9, upper=0.1)
    dense = layers.DenseLayer(layers.InputLayer((None, 4)), 6)
    assert isinstance(layers.rrelu(dense), layers.RandomizedRectifierLayer)
    assert dense.nonlinearity is nonlinearities.identity
