"""NonlinearityLayer, ExpressionLayer, BiasLayer, EmbeddingLayer, InputLayer."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers


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
