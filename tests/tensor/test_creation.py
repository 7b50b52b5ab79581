"""Creation ops against NumPy: zeros ones alloc full full_like zeros_like ones_like arange eye
identity_like one_hot, with static and symbolic shapes and size-0 dimensions. As in Theano, an
unspecified float dtype is ``symdl.config.floatX`` where NumPy would say float64."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.testing import compare_with_numpy_both_ways


def check(backend, build, reference, *values, **options):
    """Compare with NumPy on ``backend``, input shapes unknown then known (static output shapes included)."""
    compare_with_numpy_both_ways(build, reference, values, backends=[backend], **options)


def evaluate(out, backend):
    out = T.as_tensor_variable(out)
    return symdl.function([], out, mode=backend)()


SHAPES = [(), (3,), (2, 3), (0, 4), (1, 1, 2), 5]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8", "bool"])
def test_zeros_ones_full_match_numpy(backend, shape, dtype):
    cases = [
        (T.zeros(shape, dtype), np.zeros(shape, dtype)),
        (T.ones(shape, dtype=dtype), np.ones(shape, dtype)),
        (T.full(shape, 3, dtype), np.full(shape, 3, dtype)),
    ]
    for out, expected in cases:
        got = evaluate(out, backend)
        assert got.dtype == expected.dtype and out.dtype == expected.dtype
        assert out.type.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_unspecified_float_dtype_is_floatx():
    assert T.zeros((2,)).dtype == symdl.config.floatX
    assert T.ones(3).dtype == symdl.config.floatX
    assert T.eye(3).dtype == symdl.config.floatX
    assert T.full((2,), 0.5).dtype == symdl.config.floatX
    assert T.one_hot(T.ivector(), 3).dtype == symdl.config.floatX
    with symdl.config.change(floatX="float64"):
        assert T.zeros((2,)).dtype == "float64"
        assert T.full((2,), 0.5).dtype == "float64"


def test_full_keeps_the_dtype_of_its_value(backend):
    for value in [3, np.int8(3), np.float32(0.5), True, np.float64(2.5)]:
        expected = np.full((2, 2), value)
        out = T.full((2, 2), value)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(evaluate(out, backend), expected)


def test_shapes_given_symbolically(backend):
    x, n = T.fmatrix("x"), T.lscalar("n")
    outs = [T.zeros(x.shape), T.ones((n, x.shape[1])), T.full((x.shape[0], 2), 7.0, "float64"), T.zeros(n, "int32")]
    f = symdl.function([x, n], outs, mode=backend)
    got = f(np.ones((3, 4), "float32"), 2)
    expected = [np.zeros((3, 4), "float32"), np.ones((2, 4), "float32"), np.full((3, 2), 7.0), np.zeros(2, "int32")]
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize(
    "vshape, shape",
    [((), (2, 3)), ((3,), (2, 3)), ((1, 3), (4, 3)), ((2, 1), (2, 5)), ((3,), (0, 3)), ((1,), (1,)), ((2, 3), (2, 3))],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_alloc_broadcasts_its_value_like_np_broadcast_to(backend, vshape, shape, dtype):
    value = np.arange(int(np.prod(vshape))).reshape(vshape).astype(dtype)
    check(backend, lambda v: T.alloc(v, *shape), lambda v: np.broadcast_to(v, shape).copy(), value)
    check(
        backend,
        lambda v: T.alloc(v, *[T.constant(d) for d in shape]),
        lambda v: np.broadcast_to(v, shape).copy(),
        value,
    )


def test_alloc_of_a_value_that_does_not_fit_raises():
    with pytest.raises(ShapeError):
        T.alloc(T.vector(shape=(3,)), 2, 4)
    with pytest.raises(ShapeError):
        T.alloc(T.matrix(), 3)
    v, n = T.fvector("v"), T.lscalar("n")
    f = symdl.function([v, n], T.alloc(v, 2, n))
    with pytest.raises(ShapeError):
        f(np.ones(3, "float32"), 4)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (0, 2)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_zeros_like_ones_like_full_like_match_numpy(backend, shape, dtype):
    x = np.ones(shape, dtype)
    check(backend, T.zeros_like, np.zeros_like, x)
    check(backend, T.ones_like, np.ones_like, x.T)
    check(backend, lambda v: T.full_like(v, 2), lambda v: np.full_like(v, 2), x)
    check(backend, lambda v: T.zeros_like(v, dtype="int8"), lambda v: np.zeros_like(v, dtype="int8"), x)
    check(backend, lambda v: T.ones_like(v, "float64"), lambda v: np.ones_like(v, "float64"), x)


@pytest.mark.parametrize(
    "args",
    [(5,), (0,), (2, 10, 3), (5, 0, -1), (5, 0, -2), (3, 3), (0.0, 1.0, 0.25), (1.0, 0.0), (-2, 2.5), (0, 1, 0.1)],
    ids=str,
)
def test_arange_matches_numpy(backend, args):
    expected = np.arange(*args)
    out = T.arange(*args)
    assert out.dtype == expected.dtype
    assert out.type.shape == expected.shape
    np.testing.assert_allclose(evaluate(out, backend), expected)


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64", "int8"])
def test_arange_with_dtype_matches_numpy(backend, dtype):
    for args in [(5,), (1, 7, 2)]:
        expected = np.arange(*args, dtype=dtype)
        out = T.arange(*args, dtype=dtype)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(evaluate(out, backend), expected)


@pytest.mark.parametrize(
    "make, values",
    [
        (lambda: T.lscalar("n"), [(5,), (0,), (-2,)]),
        (lambda: T.iscalar("n"), [(5,), (1,)]),
        (lambda: T.dscalar("n"), [(2.5,), (4.0,)]),
        (lambda: T.fscalar("n"), [(2.5,)]),
    ],
)
def test_arange_of_symbolic_bounds_matches_numpy(backend, make, values):
    n = make()
    f = symdl.function([n], [T.arange(n), T.arange(1, n), T.arange(n, 0, -1)], mode=backend)
    for (v,) in values:
        v = np.asarray(v, n.dtype)
        for got, expected in zip(f(v), [np.arange(v), np.arange(1, v), np.arange(v, 0, -1)]):
            assert got.dtype == expected.dtype, (n.dtype, got.dtype, expected.dtype)
            np.testing.assert_allclose(got, expected)


def test_arange_with_zero_step_raises(backend):
    s = T.lscalar("s")
    f = symdl.function([s], T.arange(0, 5, s), mode=backend)
    with pytest.raises(ValueError):
        f(0)


@pytest.mark.parametrize("n, m, k", [(3, None, 0), (3, 4, 0), (4, 3, 1), (3, 3, -1), (0, 2, 0), (2, 5, 7)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_eye_matches_numpy(backend, n, m, k, dtype):
    expected = np.eye(n, m, k, dtype=dtype)
    out = T.eye(n, m, k, dtype=dtype)
    assert out.dtype == expected.dtype and out.type.shape == expected.shape
    np.testing.assert_array_equal(evaluate(out, backend), expected)
    a, b = T.lscalar("a"), T.lscalar("b")
    f = symdl.function([a, b], T.eye(a, b, k, dtype=dtype), mode=backend)
    np.testing.assert_array_equal(f(n, n if m is None else m), expected)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (0, 2)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_identity_like_matches_numpy(backend, shape, dtype):
    check(backend, T.identity_like, lambda v: np.eye(*v.shape, dtype=v.dtype), np.ones(shape, dtype))


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8"])
def test_one_hot_matches_numpy(backend, dtype):
    y = np.array([2, 0, 1, 2], dtype)
    check(backend, lambda v: T.one_hot(v, 3), lambda v: np.eye(3, dtype=symdl.config.floatX)[v], y)
    check(backend, lambda v: T.one_hot(v, 4, "int64"), lambda v: np.eye(4, dtype="int64")[v], y)
    check(backend, lambda v: T.to_one_hot(v, 3), lambda v: np.eye(3, dtype=symdl.config.floatX)[v], y[:0])
    check(backend, lambda v: T.one_hot(v, 3, "float64"), lambda v: np.eye(3)[v], y[::2])
