"""ConcatLayer, ElemwiseSumLayer, ElemwiseMergeLayer: shapes, checks and values."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers


def run2(net, a, b):
    inputs = [lay.input_var for lay in layers.get_all_layers(net) if isinstance(lay, layers.InputLayer)]
    return symdl.function(inputs, layers.get_output(net), mode="py")(a, b)


A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.ones((2, 3), np.float32)


def test_concat_adds_sizes_along_the_axis():
    a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 3))
    net = layers.ConcatLayer([a, b])
    assert net.output_shape == (None, 6)
    np.testing.assert_array_equal(run2(net, A, B), np.concatenate([A, B], axis=1))
    assert layers.concat([a, b], axis=0).output_shape == (None, 3)
    with pytest.raises(ValueError, match="disagree on axis 1"):
        layers.ConcatLayer([a, layers.InputLayer((None, 4))], axis=0)


def test_elemwise_sum_with_coefficients():
    a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 3))
    net = layers.ElemwiseSumLayer([a, b], coeffs=[2, -1])
    assert net.output_shape == (None, 3)
    np.testing.assert_array_equal(run2(net, A, B), 2 * A - B)
    with pytest.raises(ValueError, match="2 coefficients for 3 inputs"):
        layers.ElemwiseSumLayer([a, b, a], coeffs=[1, 2])
    with pytest.raises(ValueError, match="disagree"):
        layers.ElemwiseSumLayer([a, layers.InputLayer((None, 4))])


def test_elemwise_merge_with_any_binary_function():
    a, b = layers.InputLayer((None, 3)), layers.InputLayer((2, 3))
    net = layers.ElemwiseMergeLayer([a, b], T.maximum)
    assert net.output_shape == (2, 3)
    np.testing.assert_array_equal(run2(net, A, B), np.maximum(A, B))
