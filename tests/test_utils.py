"""Lasagne's utilities in symdl.utils: parameters from specs, norms, one-hot, unrolled loops."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import init, utils


def test_floatX_shared_empty_and_unique():
    assert utils.floatX([1, 2]).dtype == symdl.config.floatX
    empty = utils.shared_empty(3)
    assert empty.get_value().shape == (1, 1, 1) and empty.dtype == symdl.config.floatX
    assert utils.shared_empty(1, "int32").dtype == "int32"
    assert utils.unique([3, 1, 3, 2, 1]) == [3, 1, 2]


def test_as_theano_expression_passes_variables_and_wraps_data():
    x = T.vector()
    assert utils.as_theano_expression(x) is x
    c = utils.as_theano_expression(np.arange(3))
    assert isinstance(c, T.TensorConstant) and c.dtype == "int64"
    with pytest.raises(TypeError, match="dict"):
        utils.as_theano_expression({})


def test_collect_shared_vars_walks_left_to_right_depth_first():
    x, y, z = (symdl.shared(0, name=n) for n in "xyz")
    assert utils.collect_shared_vars([x, y, x, z]) == [x, y, z]
    assert utils.collect_shared_vars((x + y) + z) == [x, y, z]
    assert utils.collect_shared_vars(z + (y + x)) == [z, y, x]
    assert utils.collect_shared_vars([x**2, y * z * np.ones(3), x + T.matrix()]) == [x, y, z]
    assert utils.collect_shared_vars([T.matrix() + T.matrix()]) == []


def test_one_hot_of_data_and_of_a_symbolic_vector():
    labels = np.array([0, 3, 1, 3])
    np.testing.assert_array_equal(utils.one_hot(labels).eval(), np.eye(4, dtype=symdl.config.floatX)[labels])
    y = T.ivector("y")
    out = utils.one_hot(y, 5).eval({y: np.array([4, 0], "int32")})
    np.testing.assert_array_equal(out, np.eye(5)[[4, 0]])


def test_inspect_kwargs_lists_arguments_with_defaults():
    assert utils.inspect_kwargs(utils.inspect_kwargs) == []
    assert utils.inspect_kwargs(lambda a, b, c=42, bar="asdf": 0) == ["c", "bar"]
    assert utils.inspect_kwargs(lambda x, *args, key=1, **kwargs: 0) == ["key"]


@pytest.mark.parametrize(
    "shape, norm_axes, numpy_axes",
    [((6,), None, ()), ((4, 5), None, (0,)), ((3, 2, 4), None, (1, 2)), ((2, 3, 2, 2), (0, 2), (0, 2))],
)
def test_compute_norms_of_arrays_and_tensors(shape, norm_axes, numpy_axes):
    a = np.random.default_rng(0).standard_normal(shape).astype("float32")
    want = np.sqrt((a.astype("float64") ** 2).sum(axis=numpy_axes))
    got = utils.compute_norms(a, norm_axes)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)
    symbolic = utils.compute_norms(symdl.shared(a), norm_axes)
    np.testing.assert_allclose(symbolic.eval(), want, rtol=1e-6)


def test_compute_norms_refuses_other_types_and_6d():
    with pytest.raises(RuntimeError, match="Unsupported type list"):
        utils.compute_norms([[1.0]])
    with pytest.raises(ValueError, match="Unsupported tensor dimensionality 6"):
        utils.compute_norms(np.zeros((1,) * 6))


# ------------------------------------------------------------------ create_param
def test_create_param_from_arrays_numbers_and_initializers():
    value = np.arange(6, dtype="int16").reshape(2, 3)
    p = utils.create_param(value, (2, 3), "p")
    assert p.name == "p" and p.dtype == "int16" and p.type.shape == (2, 3)
    np.testing.assert_array_equal(p.get_value(), value)
    value[0, 0] = 99
    assert p.get_value()[0, 0] == 0  # a copy
    assert utils.create_param(np.zeros((2, 3)), [2, 3]).dtype == "float64"  # NumPy's dtype is kept
    assert utils.create_param(1, ()).get_value() == 1
    assert utils.create_param(np.int32(2), ()).dtype == "int32"
    assert utils.create_param(init.Constant(0.5), (x for x in (1, 4))).type == T.TensorType("float32", (1, 4))


def test_create_param_fixes_the_static_shape_so_size_one_axes_broadcast():
    for shape in ((10, 1, 20), (1, 2), (3, 1)):
        assert utils.create_param(np.zeros, shape).broadcastable == tuple(s == 1 for s in shape)


def test_create_param_uses_shared_variables_and_expressions_as_they_are():
    W = symdl.shared(np.ones((2, 3)), name="W")
    assert utils.create_param(W, (2, 3), "ignored") is W and W.name == "W"
    assert utils.create_param(lambda shape: W, (2, 3)) is W
    expr = W * 2
    assert utils.create_param(expr, (2, 3), "double") is expr and expr.name == "double"
    assert utils.create_param(T.matrix(), (5, 5)).ndim == 2


@pytest.mark.parametrize(
    "spec, shape, error, match",
    [
        (np.zeros((2, 3)), (3, 2), ValueError, r"has shape \(2, 3\), expected \(3, 2\)"),
        (lambda shape: np.array(1), (1, 2, 3), ValueError, "returned by the callable has shape"),
        (symdl.shared(np.zeros((2, 3))), (2, 3, 4), ValueError, "2 dimensions, expected 3"),
        (symdl.shared(np.zeros((2, 3))), (2, 4), ValueError, r"has shape \(2, 3\), expected \(2, 4\)"),
        (T.matrix(shape=(None, 3)), (5, 4), ValueError, r"shape \(None, 3\), expected \(5, 4\)"),
        (lambda shape: {}, (1, 2), TypeError, "returned by the callable is a dict"),
        (lambda shape: "string", (1, 2), TypeError, "not a NumPy array"),
        ({}, (1, 2), TypeError, "from a dict"),
        (np.empty, (0, 2), ValueError, "non-positive shape"),
        (np.empty, (-1, -1), ValueError, "non-positive shape"),
    ],
)
def test_create_param_errors(spec, shape, error, match):
    with pytest.raises(error, match=match):
        utils.create_param(spec, shape, "W")


def test_layers_create_param_is_utils_create_param():
    from symdl import layers

    assert layers.create_param is utils.create_param


# ------------------------------------------------------------------ unroll_scan
def test_unroll_scan_powers_and_two_outputs():
    a, b = T.dscalar("a"), T.dscalar("b")
    (powers,) = utils.unroll_scan(lambda i, prev, a: prev * a, T.arange(3), [1.0], [a], 3)
    np.testing.assert_allclose(symdl.function([a], powers, mode="py")(10.0), [10, 100, 1000])

    def mul_div(i, prev_mul, prev_div, mul, div):
        return prev_mul * mul, prev_div / div

    out = utils.unroll_scan(mul_div, T.arange(2), [1.0, 1.0], [a, b], 2)
    np.testing.assert_allclose(symdl.function([a, b], out, mode="py")(10.0, 10.0), [[10, 100], [0.1, 0.01]])


def test_unroll_scan_backwards_reads_the_sequence_from_its_end():
    x = T.dvector("x")
    (sums,) = utils.unroll_scan(lambda v, acc: acc + v, [x], [0.0], [], 3, go_backwards=True)
    np.testing.assert_allclose(sums.eval({x: np.array([1.0, 2.0, 4.0])}), [4, 6, 7])
