"""Shape ops against NumPy: reshape (with -1 and symbolic shapes), flatten, dimshuffle, transpose
and .T, swapaxes, squeeze, expand_dims, concatenate, stack, split, repeat, tile, broadcast_to,
shape, size and ndim. Every check runs on every backend, with unknown and with static shapes."""

import sys

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
    if np.dtype(dtype).kind in "iub":
        return rng.integers(0, 5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def transposed(shape, dtype="float32"):
    """A non-contiguous array of ``shape``."""
    x = data(shape[::-1], dtype).T
    assert len(shape) < 2 or min(shape) < 2 or not x.flags.c_contiguous
    return x


# ------------------------------------------------------------------ reshape and flatten
@pytest.mark.parametrize(
    "shape, new",
    [
        ((4, 6), (2, -1, 3)),
        ((4, 6), (24,)),
        ((4, 6), (-1,)),
        ((4, 6), (6, 4)),
        ((4, 6), (1, 24, 1)),
        ((2, 3, 4), (-1, 4)),
        ((5,), (5, 1)),
        ((), (1, 1)),
        ((1, 1), ()),
        ((0, 3), (-1, 3)),
        ((0, 3), (3, 0)),
        ((0, 3), (-1,)),
        ((2, 0, 3), (0, 5)),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_reshape_matches_numpy(backend, shape, new, dtype):
    check(backend, lambda v: T.reshape(v, new), lambda v: np.reshape(v, new), data(shape, dtype))
    check(backend, lambda v: v.reshape(new), lambda v: v.reshape(new), transposed(shape, dtype))
    if new:
        check(backend, lambda v: v.reshape(*new), lambda v: v.reshape(*new), data(shape, dtype))


def test_reshape_to_symbolic_shapes_matches_numpy(backend):
    x = data((4, 6))
    check(backend, lambda v: T.reshape(v, (v.shape[0], -1, 2)), lambda v: v.reshape(v.shape[0], -1, 2), x)
    check(backend, lambda v: T.reshape(v, v.shape[::-1]), lambda v: v.reshape(v.shape[::-1]), x)
    check(backend, lambda v: v.reshape((v.shape[1], v.shape[0])), lambda v: v.reshape(v.shape[::-1]), x)
    check(backend, lambda v: v.reshape((2, v.shape[0] * 3)), lambda v: v.reshape(2, 12), x)
    m, a, b = T.fmatrix("m"), T.lscalar("a"), T.iscalar("b")
    f = symdl.function([m, a, b], T.reshape(m, (a, b)), mode=backend)
    np.testing.assert_array_equal(f(x, 3, 8), x.reshape(3, 8))
    np.testing.assert_array_equal(f(x, -1, 2), x.reshape(-1, 2))
    s = T.lvector("s")
    f = symdl.function([m, s], T.reshape(m, s, ndim=3), mode=backend)
    np.testing.assert_array_equal(f(x, [2, 2, 6]), x.reshape(2, 2, 6))


def test_reshape_to_the_same_unknown_shape_still_reshapes_at_run_time(backend):
    m, a, b = T.fmatrix("m"), T.lscalar("a"), T.lscalar("b")
    out = T.reshape(m, (a, b))
    assert out is not m
    f = symdl.function([m, a, b], out, mode=backend)
    assert f(data((4, 6)), 8, 3).shape == (8, 3)


def test_reshape_static_shapes():
    x = T.matrix(shape=(4, 6))
    assert T.reshape(x, (2, -1, 3)).type.shape == (2, 4, 3)
    assert T.reshape(T.matrix(shape=(None, 6)), (-1, 3)).type.shape == (None, 3)
    assert T.reshape(x, (T.lscalar(), 3)).type.shape == (None, 3)
    assert T.reshape(x, (T.constant(3), 8)).type.shape == (3, 8)


@pytest.mark.parametrize(
    "shape, new", [((4, 6), (5, 5)), ((4, 6), (-1, 5)), ((4, 6), (-1, -1)), ((0, 3), (0, -1))], ids=str
)
def test_bad_reshape_raises_at_build_time_naming_op_shapes_and_line(shape, new):
    x = T.matrix("x", shape=shape)
    with pytest.raises(ShapeError) as info:
        T.reshape(x, new)
    line = sys._getframe().f_lineno - 1
    message = str(info.value)
    assert "reshape" in message and f"test_shape.py:{line}" in message
    assert str(shape[0]) in message and str(new[1]) in message


def test_bad_reshape_of_unknown_shape_raises_at_run_time(backend):
    x = T.fmatrix("x")
    f = symdl.function([x], T.reshape(x, (5, 5)), mode=backend)
    with pytest.raises(ShapeError, match=r"\(4, 6\).*\(5, 5\)"):
        f(data((4, 6)))


def test_reshape_with_float_entries_is_a_type_error():
    with pytest.raises(TypeMismatch):
        T.reshape(T.matrix(), (T.scalar(), 2))


@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 3, 4), (2, 0, 4), (1, 1, 1), (5,), (2, 3, 4, 5)], ids=str)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten_keeps_leading_axes_like_theano(backend, shape, ndim):
    if ndim > len(shape):
        return

    def ref(v):
        return v.reshape(v.shape[: ndim - 1] + (int(np.prod(v.shape[ndim - 1 :])),))

    check(backend, lambda v: T.flatten(v, ndim), ref, data(shape))
    check(backend, lambda v: v.flatten(ndim), ref, transposed(shape))


def test_flatten_of_a_scalar_and_bad_ndim():
    assert T.flatten(T.scalar()).ndim == 1
    with pytest.raises(ValueError):
        T.flatten(T.matrix(), 3)


# ------------------------------------------------------------------ axes
@pytest.mark.parametrize(
    "shape, pattern",
    [
        ((2, 3), (1, 0)),
        ((2, 3), ("x", 0, 1)),
        ((2, 3), (0, "x", 1)),
        ((2, 3), (1, "x", 0, "x")),
        ((3,), (0, "x")),
        ((), ("x", "x")),
        ((2, 1, 3), (0, 2)),
        ((1, 1), ()),
        ((2, 3, 4), (2, 0, 1)),
        ((0, 3), (1, 0, "x")),
    ],
    ids=str,
)
def test_dimshuffle_matches_numpy(backend, shape, pattern):
    def ref(v):
        kept = [d for d in pattern if d != "x"]
        dropped = tuple(i for i in range(v.ndim) if i not in kept)
        y = np.squeeze(v, dropped) if dropped else v
        order = sorted(kept)
        y = np.transpose(y, [order.index(d) for d in kept])
        for k, d in enumerate(pattern):
            if d == "x":
                y = np.expand_dims(y, k)
        return y

    check(backend, lambda v: v.dimshuffle(*pattern), ref, data(shape))
    check(backend, lambda v: T.dimshuffle(v, pattern), ref, transposed(shape))


def test_dimshuffle_dropping_a_non_broadcastable_axis_raises():
    with pytest.raises(ShapeError, match="not 1"):
        T.matrix(shape=(2, 3)).dimshuffle(0)
    with pytest.raises(ValueError):
        T.matrix().dimshuffle(0, 0)
    with pytest.raises(ValueError):
        T.matrix().dimshuffle(2, 0)
    x = T.fmatrix("x")
    f = symdl.function([x], x.dimshuffle(0))
    with pytest.raises(ShapeError):
        f(data((2, 3)))
    np.testing.assert_array_equal(f(data((2, 1))), data((2, 1))[:, 0])


@pytest.mark.parametrize(
    "shape, axes",
    [
        ((2, 3), None),
        ((2, 3, 4), None),
        ((2, 3, 4), (1, 0, 2)),
        ((2, 3, 4), (-1, 0, -2)),
        ((5,), None),
        ((), None),
        ((0, 2), None),
    ],
    ids=str,
)
def test_transpose_matches_numpy(backend, shape, axes):
    check(backend, lambda v: T.transpose(v, axes), lambda v: np.transpose(v, axes), data(shape))
    check(backend, lambda v: v.T, lambda v: v.T, transposed(shape))
    if axes:
        check(backend, lambda v: v.transpose(*axes), lambda v: v.transpose(*axes), data(shape))
        check(backend, lambda v: v.transpose(axes), lambda v: v.transpose(axes), data(shape))


def test_transpose_with_a_bad_permutation_raises():
    with pytest.raises(ValueError):
        T.transpose(T.tensor3(), (0, 1))
    with pytest.raises(ShapeError):
        T.transpose(T.matrix(), (0, 2))


@pytest.mark.parametrize("a, b", [(0, 1), (0, -1), (-1, -2), (1, 1), (2, 0)])
def test_swapaxes_matches_numpy(backend, a, b):
    check(backend, lambda v: T.swapaxes(v, a, b), lambda v: np.swapaxes(v, a, b), data((2, 3, 4)))
    check(backend, lambda v: v.swapaxes(a, b), lambda v: v.swapaxes(a, b), transposed((2, 3, 4)))


@pytest.mark.parametrize(
    "shape, axis", [((1, 3, 1), 0), ((1, 3, 1), -1), ((1, 3, 1), (0, 2)), ((3, 1), 1), ((1,), 0), ((0, 1), 1)], ids=str
)
def test_squeeze_matches_numpy(backend, shape, axis):
    check(backend, lambda v: T.squeeze(v, axis), lambda v: np.squeeze(v, axis), data(shape))
    check(backend, lambda v: v.squeeze(axis), lambda v: v.squeeze(axis), transposed(shape))


def test_squeeze_without_axis_drops_the_axes_known_to_be_one(backend):
    check(backend, T.squeeze, np.squeeze, data((1, 3, 1, 2)), statics=(True,))
    assert T.squeeze(T.tensor3(shape=(1, None, 1))).type.shape == (None,)


def test_squeezing_an_axis_whose_size_is_not_one_raises():
    with pytest.raises(ShapeError):
        T.squeeze(T.matrix(shape=(2, 3)), 0)
    x = T.fmatrix("x")
    f = symdl.function([x], T.squeeze(x, 1))
    with pytest.raises(ShapeError):
        f(data((2, 3)))


@pytest.mark.parametrize(
    "shape, axis",
    [((2, 3), 0), ((2, 3), -1), ((2, 3), 1), ((2, 3), (0, 2)), ((2, 3), (-1, 0)), ((), 0), ((0,), (0, -1))],
    ids=str,
)
def test_expand_dims_matches_numpy(backend, shape, axis):
    check(backend, lambda v: T.expand_dims(v, axis), lambda v: np.expand_dims(v, axis), data(shape))


# ------------------------------------------------------------------ joining and splitting
@pytest.mark.parametrize(
    "shapes, axis",
    [
        (((2, 3), (4, 3)), 0),
        (((2, 3), (2, 1), (2, 0)), 1),
        (((2, 3), (2, 5)), -1),
        (((0, 3), (1, 3)), 0),
        (((3,), (1,), (0,)), 0),
        (((2, 1, 4), (2, 2, 4)), -2),
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "dtypes", [("float32", "float32"), ("float32", "float64"), ("int32", "float32"), ("int8", "uint8")], ids=str
)
def test_concatenate_matches_numpy(backend, shapes, axis, dtypes):
    values = [data(s, dtypes[k % 2], seed=k) for k, s in enumerate(shapes)]
    values[0] = transposed(values[0].shape, values[0].dtype)
    check(backend, lambda *v: T.concatenate(v, axis=axis), lambda *v: np.concatenate(v, axis=axis), *values)
    check(backend, lambda *v: T.concatenate(list(v), axis), lambda *v: np.concatenate(v, axis), *values)


def test_concatenate_with_a_mismatched_axis_raises_at_build_time():
    with pytest.raises(ShapeError, match="axis 1"):
        T.concatenate([T.matrix(shape=(2, 3)), T.matrix(shape=(2, 4))])
    with pytest.raises(ShapeError):
        T.concatenate([T.matrix(), T.vector()])
    with pytest.raises(ShapeError):
        T.concatenate([T.matrix(), T.matrix()], axis=2)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (0, 2)], ids=str)
@pytest.mark.parametrize("axis", [0, -1, 1])
def test_stack_matches_numpy(backend, shape, axis):
    if not -len(shape) - 1 <= axis <= len(shape):
        return
    a, b, c = data(shape, seed=1), data(shape, "float64", seed=2), transposed(shape)
    check(backend, lambda *v: T.stack(v, axis=axis), lambda *v: np.stack(v, axis=axis), a, b, c)


def test_stack_of_python_scalars_and_variables(backend):
    check(backend, lambda v: T.stack([v, 2.0, v * 3]), lambda v: np.stack([v, np.float32(2.0), v * 3]), np.float32(1.5))


@pytest.mark.parametrize(
    "shape, sizes, axis",
    [((5, 3), [2, 3], 0), ((5, 3), [1, 0, 2], 1), ((5, 3), [3], -1), ((2, 6), [2, 2, 2], -1), ((0, 3), [0, 0], 0)],
    ids=str,
)
def test_split_matches_numpy(backend, shape, sizes, axis):
    def ref(v):
        return np.split(v, np.cumsum(sizes)[:-1], axis=axis)

    check(backend, lambda v: T.split(v, sizes, len(sizes), axis=axis), ref, data(shape))
    check(backend, lambda v: T.split(v, sizes, axis=axis), ref, transposed(shape))


def test_split_with_symbolic_sizes(backend):
    x, s = T.fmatrix("x"), T.lvector("s")
    f = symdl.function([x, s], T.split(x, s, 2, axis=1), mode=backend)
    a, b = f(data((3, 5)), [4, 1])
    np.testing.assert_array_equal(a, data((3, 5))[:, :4])
    np.testing.assert_array_equal(b, data((3, 5))[:, 4:])
    with pytest.raises(ShapeError):
        f(data((3, 5)), [4, 2])
    n = T.lscalar("n")
    f = symdl.function([x, n], T.split(x, [n, 5 - n], axis=1), mode=backend)
    assert [p.shape for p in f(data((3, 5)), 2)] == [(3, 2), (3, 3)]


def test_split_runs_in_c_as_views_and_names_itself_in_errors():
    x, s = T.fmatrix("x"), T.lvector("s")
    f = symdl.function([x, s], [p * 1 for p in T.split(x, s, 3, axis=0)], mode="c")
    a, b, c = f(data((5, 2)), [2, 0, 3])
    assert "A->split(" in f.source() and all(backend == "c" for _, backend, _, _ in f.profile().rows)
    np.testing.assert_array_equal(a, data((5, 2))[:2])
    assert b.shape == (0, 2)
    np.testing.assert_array_equal(c, data((5, 2))[2:])
    with pytest.raises(ShapeError, match=r"^Split.*: split: sizes \[2, -1, 4\] do not split axis 0 of shape \(5, 2\)"):
        f(data((5, 2)), [2, -1, 4])


def test_split_sizes_that_do_not_add_up_raise_at_build_time():
    with pytest.raises(ShapeError, match="add up"):
        T.split(T.matrix(shape=(5, 3)), [2, 2], 2)


@pytest.mark.parametrize(
    "shape, repeats, axis",
    [
        ((2, 3), 2, 0),
        ((2, 3), 3, -1),
        ((2, 3), [1, 0, 2], 1),
        ((2, 3), 2, None),
        ((0, 3), 2, 0),
        ((3,), [2, 1, 1], 0),
        ((2, 1), 0, 1),
    ],
    ids=str,
)
def test_repeat_matches_numpy(backend, shape, repeats, axis):
    check(backend, lambda v: T.repeat(v, repeats, axis=axis), lambda v: np.repeat(v, repeats, axis=axis), data(shape))
    check(backend, lambda v: v.repeat(repeats, axis), lambda v: v.repeat(repeats, axis), transposed(shape))


def test_repeat_with_symbolic_repeats(backend):
    x, r = T.fmatrix("x"), T.lscalar("r")
    f = symdl.function([x, r], T.repeat(x, r, axis=1), mode=backend)
    np.testing.assert_array_equal(f(data((2, 3)), 2), np.repeat(data((2, 3)), 2, axis=1))


@pytest.mark.parametrize(
    "shape, reps",
    [
        ((2, 3), (2, 1)),
        ((2, 3), (1, 3)),
        ((2, 3), 2),
        ((2, 3), (2, 2, 2)),
        ((3,), (2, 2)),
        ((2, 1, 3), (1, 2)),
        ((0, 2), (2, 3)),
        ((), (3,)),
    ],
    ids=str,
)
def test_tile_matches_numpy(backend, shape, reps):
    check(backend, lambda v: T.tile(v, reps), lambda v: np.tile(v, reps), data(shape))
    check(backend, lambda v: T.tile(v, reps), lambda v: np.tile(v, reps), transposed(shape, "int32"))


@pytest.mark.parametrize(
    "shape, target", [((3,), (2, 3)), ((1, 3), (4, 3)), ((2, 1), (2, 5)), ((), (2, 2)), ((1,), (0,))], ids=str
)
def test_broadcast_to_matches_numpy(backend, shape, target):
    check(backend, lambda v: T.broadcast_to(v, target), lambda v: np.broadcast_to(v, target), data(shape))


# ------------------------------------------------------------------ shape, size, ndim
@pytest.mark.parametrize("shape", [(), (3,), (2, 0, 4), (1, 5)], ids=str)
def test_shape_size_and_ndim_match_numpy(backend, shape):
    x = data(shape)
    check(backend, lambda v: v.shape, lambda v: np.array(v.shape, dtype="int64"), x)
    check(backend, T.shape, lambda v: np.array(np.shape(v), dtype="int64"), transposed(shape))
    check(backend, lambda v: v.size, lambda v: np.int64(v.size), x)
    check(backend, T.size, lambda v: np.int64(np.size(v)), x)
    if shape:
        check(backend, lambda v: v.shape[-1], lambda v: np.int64(v.shape[-1]), x)
    assert T.tensor("float32", shape=shape).ndim == len(shape)


def test_shape_of_a_fully_known_tensor_is_a_constant():
    s = T.matrix(shape=(2, 3)).shape
    assert s.owner is None and list(s.data) == [2, 3]
    assert T.matrix(shape=(None, 3)).shape.type.shape == (2,)


def test_shape_arithmetic_feeds_creation_ops(backend):
    x = T.fmatrix("x")
    f = symdl.function([x], T.zeros((x.shape[0] * 2, x.shape[1] - 1)), mode=backend)
    out = f(data((3, 4)))
    assert out.shape == (6, 3) and out.dtype == np.float32


def test_symbolic_tensors_are_not_iterable_and_have_no_len():
    with pytest.raises(TypeError):
        list(T.vector())
    with pytest.raises(TypeError):
        len(T.vector())
