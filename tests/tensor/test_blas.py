"""Linear algebra against NumPy: dot (np.dot for 1-d and 2-d, batched above), matmul and @,
tensordot, outer and batched_dot, with NumPy's dtypes, size-0 and size-1 dimensions and
non-contiguous inputs; shapes that cannot multiply raise at build time naming the user's line."""

import sys

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.testing import compare_with_numpy_both_ways


def check(backend, build, reference, *values, **options):
    """Compare with NumPy on ``backend``, input shapes unknown then known (static output shapes included)."""
    compare_with_numpy_both_ways(build, reference, values, backends=[backend], **options)


def data(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def strided(x):
    """The same values in a non-contiguous array."""
    big = np.zeros(x.shape + (2,), x.dtype)
    big[..., 0] = x
    return big[..., 0]


DOT_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((1, 3), (3, 1)),
    ((0, 3), (3, 4)),
    ((3, 0), (0, 4)),
    ((0,), (0,)),
    ((), (2, 3)),
    ((2, 3), ()),
]


def np_dot(a, b):
    """Theano's dot: np.dot up to 2-d, np.matmul above."""
    return np.matmul(a, b) if a.ndim > 2 or b.ndim > 2 else np.dot(a, b)


@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=str)
@pytest.mark.parametrize(
    "dtypes",
    [
        ("float32", "float32"),
        ("float64", "float64"),
        ("float32", "float64"),
        ("int32", "int32"),
        ("int8", "float32"),
        ("bool", "bool"),
    ],
    ids=str,
)
def test_dot_matches_numpy(backend, shapes, dtypes):
    a, b = data(shapes[0], dtypes[0], 1), data(shapes[1], dtypes[1], 2)
    check(backend, T.dot, np_dot, a, b, rtol=1e-4)
    check(backend, lambda x, y: x.dot(y), np_dot, strided(a), strided(b), rtol=1e-4)


BATCHED_SHAPES = [
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((1, 3, 4), (6, 4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
    ((0, 3, 4), (4, 2)),
]


@pytest.mark.parametrize("shapes", BATCHED_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_and_batched_dot_of_higher_dims_match_numpy(backend, shapes, dtype):
    a, b = data(shapes[0], dtype, 1), data(shapes[1], dtype, 2)
    check(backend, T.matmul, np.matmul, a, b, rtol=1e-4)
    check(backend, lambda x, y: x @ y, lambda x, y: x @ y, strided(a), b, rtol=1e-4)
    check(backend, T.dot, np.matmul, a, strided(b), rtol=1e-4)


@pytest.mark.parametrize("shapes", [s for s in DOT_SHAPES if () not in s], ids=str)
def test_matmul_operator_on_1d_and_2d_matches_numpy(backend, shapes):
    a, b = data(shapes[0], "float64", 1), data(shapes[1], "float64", 2)
    check(backend, lambda x, y: x @ y, lambda x, y: x @ y, a, b)


def test_matmul_with_numpy_arrays_on_either_side(backend):
    w = data((3, 2), "float64")
    check(backend, lambda x: x @ w, lambda x: x @ w, data((4, 3)))
    check(backend, lambda x: w.T @ x, lambda x: w.T @ x, data((3, 5)))


def test_matmul_of_scalars_is_refused():
    with pytest.raises(ShapeError, match="scalar"):
        T.matmul(T.scalar(), T.matrix())


@pytest.mark.parametrize(
    "sa, sb, axes",
    [
        ((2, 3, 4), (3, 4, 5), 2),
        ((2, 3), (3, 4), 1),
        ((2, 3), (4, 5), 0),
        ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
        ((2, 3, 4), (5, 4), ([-1], [-1])),
        ((3, 4), (4, 3), [[0, 1], [1, 0]]),
        ((2, 3), (3, 2), ([0], [1])),
        ((0, 3), (3, 2), 1),
        ((3, 4), (3, 4), 2),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensordot_matches_numpy(backend, sa, sb, axes, dtype):
    a, b = data(sa, dtype, 1), data(sb, dtype, 2)
    check(backend, lambda x, y: T.tensordot(x, y, axes), lambda x, y: np.tensordot(x, y, axes), a, b, rtol=1e-4)
    check(
        backend, lambda x, y: T.tensordot(x, y, axes), lambda x, y: np.tensordot(x, y, axes), strided(a), b, rtol=1e-4
    )


def test_tensordot_with_mismatched_axes_raises():
    with pytest.raises(ShapeError):
        T.tensordot(T.tensor3(shape=(2, 3, 4)), T.matrix(shape=(5, 6)), 1)
    with pytest.raises(ShapeError):
        T.tensordot(T.tensor3(), T.matrix(), ([0, 1], [0]))


@pytest.mark.parametrize("sa, sb", [((3,), (4,)), ((1,), (5,)), ((0,), (2,)), ((2, 3), (4,)), ((), (2, 2))], ids=str)
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "float64"), ("int32", "float32")], ids=str)
def test_outer_matches_numpy(backend, sa, sb, dtypes):
    a, b = data(sa, dtypes[0], 1), data(sb, dtypes[1], 2)
    check(backend, T.outer, np.outer, a, b)
    check(backend, T.outer, np.outer, strided(a), strided(b))


@pytest.mark.parametrize(
    "sa, sb, spec",
    [
        ((4, 2, 3), (4, 3, 5), "bij,bjk->bik"),
        ((4, 3), (4, 3), "bi,bi->b"),
        ((4, 3), (4, 3, 5), "bi,bij->bj"),
        ((4, 2, 3), (4, 3), "bij,bj->bi"),
        ((0, 2, 3), (0, 3, 1), "bij,bjk->bik"),
        ((1, 3), (1, 3), "bi,bi->b"),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched_dot_matches_einsum(backend, sa, sb, spec, dtype):
    a, b = data(sa, dtype, 1), data(sb, dtype, 2)
    check(backend, T.batched_dot, lambda x, y: np.einsum(spec, x, y), a, b, rtol=1e-4)
    check(backend, T.batched_dot, lambda x, y: np.einsum(spec, x, y), strided(a), strided(b), rtol=1e-4)


def test_dot_of_mismatched_static_shapes_raises_at_build_time_naming_both_sizes_and_line():
    with pytest.raises(ShapeError) as info:
        T.dot(T.matrix(shape=(None, 3)), T.matrix(shape=(4, None)))
    line = sys._getframe().f_lineno - 1
    message = str(info.value)
    assert "dot" in message and "3" in message and "4" in message
    assert "(?, 3)" in message and "(4, ?)" in message
    assert f"test_blas.py:{line}" in message


def test_dot_error_names_where_each_operand_was_created():
    x = T.matrix("x", shape=(None, 3))
    line_x = sys._getframe().f_lineno - 1
    W = symdl.shared(np.zeros((4, 2), "float32"), name="W", shape=(4, 2))
    line_w = sys._getframe().f_lineno - 1
    with pytest.raises(ShapeError) as info:
        T.dot(x, W)
    message = str(info.value)
    assert f"x created at test_blas.py:{line_x}" in message
    assert f"W created at test_blas.py:{line_w}" in message


@pytest.mark.parametrize(
    "build",
    [
        lambda: T.dot(T.vector(shape=(3,)), T.vector(shape=(4,))),
        lambda: T.matmul(T.tensor3(shape=(2, 3, 4)), T.tensor3(shape=(2, 5, 6))),
        lambda: T.matmul(T.tensor3(shape=(2, 3, 4)), T.tensor3(shape=(3, 4, 6))),
        lambda: T.batched_dot(T.matrix(shape=(2, 3)), T.matrix(shape=(2, 4))),
    ],
)
def test_other_impossible_products_raise_shape_errors(build):
    with pytest.raises(ShapeError):
        build()


def test_runtime_mismatch_of_unknown_shapes_raises(backend):
    a, b = T.fmatrix("a"), T.fmatrix("b")
    f = symdl.function([a, b], T.dot(a, b), mode=backend)
    with pytest.raises(ValueError):
        f(data((2, 3)), data((4, 2)))
