"""The shape feature: shapes from the ops' shape rules, never by computing the value."""

import numpy as np

import symdl
import symdl.tensor as T
from symdl.graph import FunctionGraph
from symdl.rewrite.shapes import dim_key, same_shape


def test_shape_of_a_computed_value_does_not_compute_it(rw):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    z = T.dot(T.exp(x), y.T)
    before, after = rw.compile([x, y], [z.shape[0], z.shape[1]])
    assert "dot" in rw.ops(before) and "exp" in rw.ops(before)
    assert "dot" not in rw.ops(after) and "exp" not in rw.ops(after)
    rw.same(before, after, np.ones((2, 3)), np.ones((5, 3)))


def test_shape_of_a_broadcast_is_the_maximum_of_input_sizes(rw):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    before, after = rw.compile([x, y], (T.exp(x) * y).shape[1])
    assert "exp" not in rw.ops(after) and "mul" not in rw.ops(after)
    rw.same(before, after, np.ones((2, 1)), np.ones((2, 4)))


def test_fully_known_shapes_become_constants(rw):
    from symdl.tensor.shape import _shape_op

    x = T.dmatrix("x", shape=(2, 3))
    before, after = rw.compile([x], _shape_op(T.exp(x)))
    assert rw.ops(before) == ["exp", "shape"]
    assert after.graph.toposort() == []
    rw.same(before, after, np.ones((2, 3)))


def test_dim_keys_see_through_shape_ops():
    x, y = T.dmatrix("x"), T.dvector("y")
    z = T.sum(T.exp(x).T * y, axis=0, keepdims=True)
    fg = FunctionGraph([x, y], [z])
    assert dim_key(fg, z, 0) == ("c", 1)
    assert dim_key(fg, z, 1) == ("max", frozenset({("d", x, 0), ("d", y, 0)}))
    assert same_shape(fg, T.exp(x), T.tanh(x) + 1.0)
    assert not same_shape(fg, T.exp(x), x * y)


def test_softmax_shapes_come_from_its_shape_rule():
    x = T.dmatrix("x")
    s = T.nnet.softmax(T.exp(x))
    fg = FunctionGraph([x], [s])
    assert dim_key(fg, s, 0) == ("d", x, 0)


def test_reshape_to_own_shape_vanishes(rw):
    x = T.dmatrix("x")
    y = T.exp(x)
    before, after = rw.compile([x], T.reshape(y, y.shape, ndim=2) * 2.0)
    assert "reshape{2}" not in rw.ops(after)
    rw.same(before, after, np.ones((2, 3)))


def test_shape_feature_keeps_function_working_with_updates():
    w = symdl.shared(np.ones(3), name="w")
    x = T.dvector("x")
    f = symdl.function([x], T.exp(w * x).shape[0], updates=[(w, w * 2.0)], mode="py")
    assert int(f(np.ones(3))) == 3
    np.testing.assert_allclose(w.get_value(), [2.0, 2.0, 2.0])


def test_dim_keys_see_through_whole_axes_of_basic_indexing_and_concatenate():
    x, y = T.dtensor3("x"), T.dtensor3("y")
    fg = FunctionGraph([x, y], [])
    reversed_rows = x[::-1, :, 1:3]
    assert dim_key(fg, reversed_rows, 0) == ("d", x, 0)
    assert dim_key(fg, reversed_rows, 1) == ("d", x, 1)
    assert dim_key(fg, reversed_rows, 2) != ("d", x, 2)  # a part of the axis
    assert dim_key(fg, x[0, None], 0) == ("c", 1)
    assert dim_key(fg, x[0, None], 1) == ("d", x, 1)
    joined = T.concatenate([x, y], axis=0)
    assert dim_key(fg, joined, 1) in (("d", x, 1), ("d", y, 1))
    assert dim_key(fg, T.inc_subtensor(x[:, 0], 1.0), 2) == ("d", x, 2)


def test_concatenate_prefers_a_known_size_for_the_other_axes():
    x, y = T.dmatrix("x"), T.dmatrix("y", shape=(None, 4))
    fg = FunctionGraph([x, y], [])
    assert dim_key(fg, T.concatenate([x, y]), 1) == ("c", 4)


def test_slices_with_known_bounds_of_known_axes_have_known_lengths():
    # a gradient loop's rows: the initial state joined to 30 steps, then rows [0, 0 + 30) reversed
    x, h0 = T.dtensor3("x", shape=(30, None, 4)), T.dtensor3("h0", shape=(1, None, 4))
    n = T.iscalar("n")
    fg = FunctionGraph([x, h0, n], [])
    full = T.concatenate([h0, x], axis=0)
    assert dim_key(fg, full, 0) == ("c", 31)
    start = T.constant(0, dtype="int64")
    rows = full[start : start + 30][::-1]
    assert dim_key(fg, rows, 0) == ("c", 30)
    assert dim_key(fg, full[-5:], 0) == ("c", 5)
    assert dim_key(fg, full[2:40:3], 0) == ("c", len(range(31)[2:40:3]))
    assert dim_key(fg, full[:n], 0)[0] != "c"  # a bound not known
    assert dim_key(fg, T.concatenate([x, x[:n]], axis=0), 0)[0] != "c"
