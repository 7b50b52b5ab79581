"""Indexing against NumPy: basic slicing with steps and negative indices, new axes and ellipsis,
integer and boolean array indexing (gather), and set_subtensor / inc_subtensor, where repeated
indices accumulate as ``np.add.at``. Every check runs on every backend."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.testing import compare_with_numpy_both_ways


def check(backend, build, reference, *values, **options):
    """Compare with NumPy on ``backend``, input shapes unknown then known (static output shapes included)."""
    compare_with_numpy_both_ways(build, reference, values, backends=[backend], **options)


def data(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


X = data((5, 4, 3))
XT = data((3, 4, 5)).T  # non-contiguous

BASIC = [
    ("x[1:]", lambda x: x[1:]),
    ("x[::2]", lambda x: x[::2]),
    ("x[::-1]", lambda x: x[::-1]),
    ("x[-3:-1]", lambda x: x[-3:-1]),
    ("x[1:5:2, ::-2]", lambda x: x[1:5:2, ::-2]),
    ("x[4:0:-2]", lambda x: x[4:0:-2]),
    ("x[2:100]", lambda x: x[2:100]),
    ("x[-100:2]", lambda x: x[-100:2]),
    ("x[3:1]", lambda x: x[3:1]),
    ("x[:0]", lambda x: x[:0]),
    ("x[1]", lambda x: x[1]),
    ("x[-1]", lambda x: x[-1]),
    ("x[:, 1]", lambda x: x[:, 1]),
    ("x[1, -2, 0]", lambda x: x[1, -2, 0]),
    ("x[..., 0]", lambda x: x[..., 0]),
    ("x[1, ..., ::-1]", lambda x: x[1, ..., ::-1]),
    ("x[None]", lambda x: x[None]),
    ("x[:, None, 1:]", lambda x: x[:, None, 1:]),
    ("x[1, None, :, None]", lambda x: x[1, None, :, None]),
    ("x[...]", lambda x: x[...]),
    ("x[:]", lambda x: x[:]),
]


@pytest.mark.parametrize("text, index", BASIC, ids=[b[0] for b in BASIC])
@pytest.mark.parametrize("x", [X, XT, X.astype("float64"), X.astype("int32")], ids=["f32", "f32-strided", "f64", "i32"])
def test_basic_indexing_matches_numpy(backend, text, index, x):
    check(backend, index, index, x)


def test_indexing_size_one_and_size_zero_dimensions(backend):
    check(backend, lambda x: x[0, 1:], lambda x: x[0, 1:], data((1, 3)))
    check(backend, lambda x: x[:, ::-1], lambda x: x[:, ::-1], data((0, 3)))
    check(backend, lambda x: x[1:, 0], lambda x: x[1:, 0], data((0, 3)))


def test_symbolic_slice_bounds_and_indices(backend):
    x, a, b, s, i = T.fmatrix("x"), T.lscalar("a"), T.iscalar("b"), T.lscalar("s"), T.lscalar("i")
    f = symdl.function([x, a, b, s, i], [x[a:b:s], x[i, a:], x[:, -i]], mode=backend)
    v = data((6, 4))
    for args in [(1, 5, 2), (-1, 0, -1), (0, 100, 3), (5, 1, -2)]:
        got = f(v, *args, 1)
        a_, b_, s_ = args
        np.testing.assert_array_equal(got[0], v[a_:b_:s_])
        np.testing.assert_array_equal(got[1], v[1, a_:])
        np.testing.assert_array_equal(got[2], v[:, -1])


def test_out_of_range_integer_index_raises():
    with pytest.raises(IndexError, match="out of bounds"):
        T.matrix(shape=(3, 4))[3]
    with pytest.raises(IndexError, match="too many"):
        T.matrix()[0, 0, 0]
    with pytest.raises(IndexError):
        T.matrix()[..., 0, ...]
    x = T.fmatrix("x")
    f = symdl.function([x], x[5])
    with pytest.raises(IndexError):
        f(data((3, 4)))


def test_float_and_zero_step_indices_are_refused():
    with pytest.raises(TypeMismatch):
        T.vector()[T.scalar()]
    with pytest.raises(TypeMismatch):
        T.vector()[T.fvector()]
    with pytest.raises(TypeMismatch):
        T.vector()[: T.scalar()]
    with pytest.raises(ValueError, match="zero"):
        T.vector(shape=(4,))[::0]


# ------------------------------------------------------------------ array indexing
ADVANCED = [
    ("x[[0, 2, 0]]", lambda x, i, j: x[[0, 2, 0]]),
    ("x[i]", lambda x, i, j: x[i]),
    ("x[:, j]", lambda x, i, j: x[:, j]),
    ("x[i, j]", lambda x, i, j: x[i, j]),
    ("x[i, 1:]", lambda x, i, j: x[i, 1:]),
    ("x[1:, j, ::-1]", lambda x, i, j: x[1:, j, ::-1]),
    ("x[i, :, j]", lambda x, i, j: x[i, :, j]),
    ("x[i, 1]", lambda x, i, j: x[i, 1]),
    ("x[1, :, j]", lambda x, i, j: x[1, :, j]),
    ("x[i[:, None], j]", lambda x, i, j: x[i[:, None], j]),
    ("x[..., j]", lambda x, i, j: x[..., j]),
    ("x[None, i]", lambda x, i, j: x[None, i]),
    ("x[-1, [-1, 0]]", lambda x, i, j: x[-1, [-1, 0]]),
]
IDX = np.array([0, 4, -1, 2], "int64")
JDX = np.array([3, 0, 1, 1], "int32")


@pytest.mark.parametrize("text, index", ADVANCED, ids=[a[0] for a in ADVANCED])
@pytest.mark.parametrize("x", [X, XT], ids=["contiguous", "strided"])
def test_integer_array_indexing_matches_numpy(backend, text, index, x):
    check(backend, index, index, x, IDX, JDX % 3)


def test_indexing_with_a_2d_index_array_and_empty_index(backend):
    idx = np.array([[0, 1], [4, 4], [2, 0]])
    check(backend, lambda x, i: x[i], lambda x, i: x[i], X, idx)
    check(backend, lambda x, i: x[:, i], lambda x, i: x[:, i], X, np.zeros(0, "int64"))


BOOLEAN = [
    ("x[m]", lambda x, m: x[m]),
    ("x[m[:, 0]]", lambda x, m: x[m[:, 0]]),
    ("x[:, m[0]]", lambda x, m: x[:, m[0]]),
    ("x[x > 0]", lambda x, m: x[x > 0]),
    ("x[m[:, 0], 1]", lambda x, m: x[m[:, 0], 1]),
]


@pytest.mark.parametrize("text, index", BOOLEAN, ids=[b[0] for b in BOOLEAN])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_boolean_indexing_matches_numpy(backend, text, index, dtype):
    x = data((5, 4), dtype)
    m = data((5, 4), "float64", seed=3) > 0
    check(backend, index, index, x, m)
    check(backend, index, index, x.T.copy().T, m)
    check(backend, index, index, x, np.zeros((5, 4), bool))


def test_boolean_index_of_the_wrong_shape_raises():
    with pytest.raises(IndexError, match="boolean index"):
        T.matrix(shape=(5, 4))[T.tensor("bool", shape=(3,))]
    x, m = T.fmatrix("x"), T.tensor("bool", shape=(None,), name="m")
    f = symdl.function([x, m], x[m])
    with pytest.raises(IndexError):
        f(data((5, 4)), np.ones(3, bool))


def test_take_matches_numpy(backend):
    i = np.array([2, 0, 2])
    check(backend, lambda x, i: T.take(x, i, axis=1), lambda x, i: np.take(x, i, axis=1), X, i)
    check(backend, lambda x, i: T.take(x, i, axis=-1), lambda x, i: np.take(x, i, axis=-1), X, i)
    check(backend, lambda x, i: T.take(x, i), lambda x, i: np.take(x, i), X, i)


# ------------------------------------------------------------------ writing
def np_set(x, index, y):
    out = x.copy()
    out[index] = y
    return out


def np_inc(x, index, y):
    out = x.copy()
    np.add.at(out, index, y)
    return out


WRITES = [
    ("[1:3]", lambda i: np.s_[1:3], (2, 4)),
    ("[::-2, 1]", lambda i: np.s_[::-2, 1], (3,)),
    ("[-1]", lambda i: np.s_[-1], (4,)),
    ("[:, 1:] broadcast row", lambda i: np.s_[:, 1:], (3,)),
    ("[2, 3]", lambda i: np.s_[2, 3], ()),
    ("[i] repeated", lambda i: (i,), (4, 4)),
    ("[i] broadcast", lambda i: (i,), (4,)),
    ("[:, i[:2]]", lambda i: np.s_[:, i[:2]], (5, 2)),
    ("[i, i % 4]", lambda i: (i, i % 4), (4,)),
    ("[1:, i % 4]", lambda i: (slice(1, None), i % 4), ()),
]


@pytest.mark.parametrize("text, index, yshape", WRITES, ids=[w[0] for w in WRITES])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_set_and_inc_subtensor_match_numpy(backend, text, index, yshape, dtype):
    x = data((5, 4), dtype)
    y = data(yshape, dtype, seed=7)
    i = np.array([1, 3, 1, -1])  # repeated: inc accumulates, set keeps the last write
    check(backend, lambda x, y, i: T.set_subtensor(x[index(i)], y), lambda x, y, i: np_set(x, index(i), y), x, y, i)
    check(backend, lambda x, y, i: T.inc_subtensor(x[index(i)], y), lambda x, y, i: np_inc(x, index(i), y), x, y, i)
    check(
        backend,
        lambda x, y, i: T.inc_subtensor(x[index(i)], y),
        lambda x, y, i: np_inc(x, index(i), y),
        x.T.copy().T,
        y,
        i,
    )


def test_inc_subtensor_with_repeated_indices_accumulates_like_np_add_at(backend):
    x, i = T.dvector("x"), T.lvector("i")
    f = symdl.function([x, i], T.inc_subtensor(x[i], 1.0), mode=backend)
    np.testing.assert_array_equal(f(np.zeros(4), np.array([0, 0, 0, 3, -1])), [3.0, 0.0, 0.0, 2.0])
    m = T.dmatrix("m")
    f = symdl.function([m, i], T.inc_subtensor(m[i, i], 10.0), mode=backend)
    np.testing.assert_array_equal(f(np.zeros((2, 2)), np.array([1, 1])), [[0, 0], [0, 20]])


def test_writing_through_a_full_slice_matches_numpy(backend):
    # found by symdl.fuzz (seed 1, graph 16): x[:] was x itself, so set_subtensor(x[:], y) raised TypeError
    x, y = T.dvector("x"), T.dvector("y")
    f = symdl.function([x, y], [T.set_subtensor(x[:], y), T.inc_subtensor(x[...], y)], mode=backend)
    got = f(np.array([1.0, 2.0]), np.array([10.0, -1.0]))
    np.testing.assert_array_equal(got[0], [10.0, -1.0])
    np.testing.assert_array_equal(got[1], [11.0, 1.0])


@pytest.mark.parametrize("write", [T.set_subtensor, T.inc_subtensor])
def test_writing_through_a_boolean_mask_matches_numpy(backend, write):
    ref = np_set if write is T.set_subtensor else np_inc
    x = data((5, 4))
    check(backend, lambda x: write(x[x > 0], 0.5), lambda x: ref(x, x > 0, np.float32(0.5)), x)
    m = np.array([True, False, True, False, False])
    check(backend, lambda x, m: write(x[m], x[m] * 2), lambda x, m: ref(x, m, x[m] * 2), x, m)


def test_write_values_are_cast_to_the_tensor_dtype(backend):
    x = data((3, 4))
    check(backend, lambda x: T.set_subtensor(x[0], np.arange(4.0)), lambda x: np_set(x, 0, np.arange(4.0)), x)
    check(backend, lambda x: T.inc_subtensor(x[1:], 1), lambda x: np_inc(x, np.s_[1:], 1), x)
    with pytest.raises(TypeMismatch):
        T.set_subtensor(T.ivector()[0], T.fscalar())


def test_write_of_a_value_that_does_not_fit_raises():
    x = T.matrix("x", shape=(5, 4))
    with pytest.raises(ShapeError):
        T.set_subtensor(x[1:3], T.matrix(shape=(3, 4)))
    with pytest.raises(ShapeError):
        T.inc_subtensor(x[0], T.matrix(shape=(2, 4)))
    with pytest.raises(TypeError, match="indexed tensor"):
        T.set_subtensor(x, 0.0)
    f = symdl.function([x, y := T.fvector("y")], T.set_subtensor(x[1:3], y))
    with pytest.raises(ValueError):
        f(data((5, 4)), data((3,)))


def test_writes_never_change_the_input(backend):
    x = T.dvector("x")
    f = symdl.function([x], [T.set_subtensor(x[1:], 0.0), T.inc_subtensor(x[:2], 1.0)], mode=backend)
    v = np.ones(3)
    f(v)
    np.testing.assert_array_equal(v, np.ones(3))
