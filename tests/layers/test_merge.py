"""ConcatLayer, ElemwiseSumLayer, ElemwiseMergeLayer: shapes, checks and values; autocrop and the
layers' cropping."""

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


def test_autocrop_crops_to_the_smallest_size_by_mode():
    x0 = np.arange(2 * 3 * 5 * 7, dtype=np.float64).reshape(2, 3, 5, 7)
    x1 = np.ones((1, 2, 3, 4))
    static = [T.constant(x0), T.constant(x1)]
    unknown = [symdl.shared(x0), symdl.shared(x1)]  # shapes known only at run time
    for inputs in (static, unknown):
        out = [o.eval() for o in layers.autocrop(inputs, [None, "lower", "center", "upper"])]
        np.testing.assert_array_equal(out[0], x0[:, :2, 1:4, 3:])
        np.testing.assert_array_equal(out[1], x1)
    assert layers.autocrop(static, None) == static
    assert layers.autocrop(static, ["lower"])[1] is static[1]  # nothing to crop: no node
    with pytest.raises(ValueError, match="unknown crop mode 'bad'"):
        layers.autocrop(static, ["lower", "bad"])
    with pytest.raises(ValueError, match="different numbers of axes"):
        layers.autocrop([static[0], T.constant(np.ones(3))], ["lower"])


def test_autocrop_array_shapes_follows_autocrop():
    shapes = [(None, 2, 3, 4), (5, 6, 7, 8), (5, 4, 3, 2)]
    assert layers.autocrop_array_shapes(shapes, None) == shapes
    assert layers.autocrop_array_shapes(shapes, ["lower", "upper"]) == [
        (None, 2, 3, 4),
        (None, 2, 7, 8),
        (None, 2, 3, 2),
    ]
    with pytest.raises(ValueError, match="unknown crop mode"):
        layers.autocrop_array_shapes(shapes, ["lower", "sideways"])


def test_merge_layers_crop_their_inputs_but_never_the_concatenation_axis():
    a, b = layers.InputLayer((None, 5, 3)), layers.InputLayer((None, 4, 2))
    cat = layers.ConcatLayer([a, b], axis=1, cropping=[None, "lower", "center"])
    assert cat.output_shape == (None, 9, 2)
    x0 = np.arange(30, dtype=np.float32).reshape(2, 5, 3)
    x1 = np.ones((2, 4, 2), np.float32)
    np.testing.assert_array_equal(run2(cat, x0, x1), np.concatenate([x0[:, :, :2], x1], axis=1))
    total = layers.ElemwiseSumLayer([a, b], coeffs=[2, -1], cropping=[None, "upper", "lower"])
    assert total.output_shape == (None, 4, 2)
    np.testing.assert_array_equal(run2(total, x0, x1), 2 * x0[:, 1:, :2] - x1)
