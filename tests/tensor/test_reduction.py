"""Reductions against NumPy: sum mean prod max min argmax argmin var std all any logsumexp, with
axis as an int, a tuple, None or negative, keepdims, size-1 and size-0 dimensions, non-contiguous
inputs and NumPy's output dtypes. Every check runs on every backend."""

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


def data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.3
    if np.dtype(dtype).kind in "iu":
        return rng.integers(1, 4, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def noncontiguous(x):
    return (
        np.asfortranarray(x)[..., ::-1][..., ::-1] if x.ndim < 2 else np.swapaxes(np.swapaxes(x, 0, -1).copy(), 0, -1)
    )


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


# symdl function, NumPy function
REDUCTIONS = {
    "sum": (T.sum, np.sum),
    "prod": (T.prod, np.prod),
    "max": (T.max, np.max),
    "min": (T.min, np.min),
    "mean": (T.mean, np.mean),
    "var": (T.var, np.var),
    "std": (T.std, np.std),
    "all": (T.all, np.all),
    "any": (T.any, np.any),
    "logsumexp": (T.logsumexp, np_logsumexp),
}
AXES = [None, 0, 1, -1, 2, -3, (0, 2), (-1, -2), (0, 1, 2), ()]


@pytest.mark.parametrize("kind", list(REDUCTIONS))
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reduction_matches_numpy(backend, kind, axis, keepdims, dtype):
    fn, ref = REDUCTIONS[kind]
    x = data((2, 3, 4), dtype)
    check(
        backend,
        lambda v: fn(v, axis=axis, keepdims=keepdims),
        lambda v: ref(v, axis=axis, keepdims=keepdims),
        x,
        rtol=1e-4 if dtype == "float32" else None,
    )


@pytest.mark.parametrize("kind", list(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
def test_reduction_of_noncontiguous_input_matches_numpy(backend, kind, axis):
    fn, ref = REDUCTIONS[kind]
    x = noncontiguous(data((2, 3, 4), "float64"))
    assert not x.flags.c_contiguous
    check(backend, lambda v: fn(v, axis=axis), lambda v: ref(v, axis=axis), x)


@pytest.mark.parametrize("kind", list(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 0, 2, (0, 2), -1])
@pytest.mark.parametrize("shape", [(1, 3, 1), (1, 1, 1)], ids=str)
def test_reduction_over_size_one_axes_matches_numpy(backend, kind, axis, shape):
    fn, ref = REDUCTIONS[kind]
    check(
        backend,
        lambda v: fn(v, axis=axis, keepdims=True),
        lambda v: ref(v, axis=axis, keepdims=True),
        data(shape, "float32"),
    )
    check(backend, lambda v: fn(v, axis=axis), lambda v: ref(v, axis=axis), data(shape, "float32"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kind", ["sum", "prod", "mean", "var", "std", "all", "any", "logsumexp"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)], ids=str)
def test_reduction_over_empty_axes_matches_numpy(backend, kind, axis):
    fn, ref = REDUCTIONS[kind]
    if kind == "logsumexp" and axis in (None, 1, -1, (0, 1)):
        return  # the maximum of an empty axis is undefined
    check(backend, lambda v: fn(v, axis=axis), lambda v: ref(v, axis=axis), data((3, 0), "float64"))


@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_of_empty_axis_raises(backend, kind):
    fn = REDUCTIONS[kind][0]
    with pytest.raises(ShapeError, match="empty"):
        fn(T.matrix(shape=(3, 0)), axis=1)
    x = T.dmatrix("x")
    f = symdl.function([x], fn(x, axis=1), mode=backend)
    with pytest.raises(ValueError):
        f(np.zeros((3, 0)))
    np.testing.assert_array_equal(f(np.zeros((0, 2))), np.zeros(0))


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "mean", "var", "all", "any"])
@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool"])
def test_reduction_of_integers_and_booleans_gives_numpys_dtype(backend, kind, dtype):
    fn, ref = REDUCTIONS[kind]
    check(backend, lambda v: fn(v, axis=0), lambda v: ref(v, axis=0), data((4, 3), dtype))
    check(backend, fn, ref, data((4, 3), dtype))


@pytest.mark.parametrize("kind", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_argmax_argmin_match_numpy(backend, kind, axis, keepdims, dtype):
    fn, ref = getattr(T, kind), getattr(np, kind)
    x = data((2, 3, 4), dtype)
    check(backend, lambda v: fn(v, axis=axis, keepdims=keepdims), lambda v: ref(v, axis=axis, keepdims=keepdims), x)
    check(backend, lambda v: fn(v, axis=axis), lambda v: ref(v, axis=axis), noncontiguous(x))


def test_argmax_returns_the_first_of_tied_maxima(backend):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check(backend, lambda v: T.argmax(v, axis=1), lambda v: np.argmax(v, axis=1), x)
    check(backend, lambda v: T.argmin(v, axis=0), lambda v: np.argmin(v, axis=0), x)
    check(backend, T.argmax, np.argmax, x)


def test_argmax_of_size_one_and_empty_axes(backend):
    check(backend, lambda v: T.argmax(v, axis=1), lambda v: np.argmax(v, axis=1), data((3, 1), "float32"))
    check(backend, lambda v: T.argmax(v, axis=1), lambda v: np.argmax(v, axis=1), data((0, 2), "float32"))


def test_argmax_rejects_a_tuple_of_axes():
    with pytest.raises(TypeError):
        T.argmax(T.matrix(), axis=(0, 1))


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 0, (0, -1)], ids=str)
def test_var_and_std_with_ddof_match_numpy(backend, ddof, axis):
    x = data((4, 3, 5), "float64")
    check(backend, lambda v: T.var(v, axis=axis, ddof=ddof), lambda v: np.var(v, axis=axis, ddof=ddof), x)
    check(
        backend,
        lambda v: v.std(axis=axis, ddof=ddof, keepdims=True),
        lambda v: np.std(v, axis=axis, ddof=ddof, keepdims=True),
        x,
    )


def test_logsumexp_is_stable_for_large_and_minus_infinite_values(backend):
    x = np.array([[1000.0, 1000.0, -np.inf], [-np.inf, -np.inf, -np.inf], [-1000.0, 0.0, 3.0]], "float32")
    check(backend, lambda v: T.logsumexp(v, axis=1), lambda v: np_logsumexp(v, axis=1), x)
    check(
        backend, lambda v: T.logsumexp(v, axis=-1, keepdims=True), lambda v: np_logsumexp(v, axis=-1, keepdims=True), x
    )


def test_logsumexp_of_integers_is_taken_in_floats(backend):
    # found by symdl.fuzz (seed 2, graph 508): x - max(x) wrapped around in int64
    big = np.iinfo("int64").max
    x = np.array([[0, big, np.iinfo("int64").min], [1, 2, 3]], "int64")
    check(backend, lambda v: T.logsumexp(v, axis=1), lambda v: np_logsumexp(v.astype("float64"), axis=1), x)
    assert T.logsumexp(T.ivector()).dtype == "float64" and T.logsumexp(T.tensor("bool", shape=(3,))).dtype == "float16"


@pytest.mark.parametrize(
    "method, ref",
    [
        (lambda v: v.sum(axis=1), lambda v: v.sum(axis=1)),
        (lambda v: v.mean(axis=-1, keepdims=True), lambda v: v.mean(axis=-1, keepdims=True)),
        (lambda v: v.prod(axis=(0, 1)), lambda v: v.prod(axis=(0, 1))),
        (lambda v: v.max(axis=0), lambda v: v.max(axis=0)),
        (lambda v: v.min(), lambda v: v.min()),
        (lambda v: v.argmax(axis=1), lambda v: v.argmax(axis=1)),
        (lambda v: v.argmin(), lambda v: v.argmin()),
        (lambda v: v.var(axis=0), lambda v: v.var(axis=0)),
        (lambda v: v.std(), lambda v: v.std()),
        (lambda v: (v > 0).all(axis=1), lambda v: (v > 0).all(axis=1)),
        (lambda v: (v > 0).any(axis=0, keepdims=True), lambda v: (v > 0).any(axis=0, keepdims=True)),
        (lambda v: v.norm(2, axis=1), lambda v: np.linalg.norm(v, 2, axis=1)),
        (lambda v: v.norm(1), lambda v: np.abs(v).sum()),
    ],
)
def test_reduction_methods_match_numpy(backend, method, ref):
    check(backend, method, ref, data((3, 4), "float32"), rtol=1e-4)


def test_sum_and_prod_accept_an_accumulator_dtype(backend):
    x = data((3, 4), "int8")
    check(backend, lambda v: T.sum(v, dtype="int16"), lambda v: np.sum(v, dtype="int16"), x)
    check(backend, lambda v: T.sum(v, axis=0, dtype="float32"), lambda v: np.sum(v, axis=0, dtype="float32"), x)
    check(backend, lambda v: T.prod(v, axis=1, dtype="float64"), lambda v: np.prod(v, axis=1, dtype="float64"), x)
    check(backend, lambda v: v.sum(dtype="float64"), lambda v: v.sum(dtype="float64"), data((3,), "float32"))


@pytest.mark.parametrize("kind", ["sum", "max", "mean", "var", "logsumexp", "all"])
def test_out_of_range_axis_raises_at_build_time_naming_op_shape_and_line(kind):
    x = T.tensor3("x", shape=(2, None, 4))
    with pytest.raises(ShapeError) as info:
        REDUCTIONS[kind][0](x, axis=3)
    line = sys._getframe().f_lineno - 1
    message = str(info.value)
    assert kind in message and "(2, ?, 4)" in message and "axis 3" in message
    assert f"test_reduction.py:{line}" in message


def test_out_of_range_argmax_axis_and_repeated_axes_raise():
    x = T.tensor3("x")
    with pytest.raises(ShapeError, match="axis -4"):
        T.argmax(x, axis=-4)
    with pytest.raises(ShapeError, match="repeated"):
        T.sum(x, axis=(0, -3))
    with pytest.raises(ShapeError):
        x.mean(axis=(1, 1))


def test_static_shape_of_reductions():
    x = T.tensor3(shape=(2, None, 4))
    assert T.sum(x, axis=(0, -1)).type.shape == (None,)
    assert T.max(x, axis=1, keepdims=True).type.shape == (2, 1, 4)
    assert T.argmax(x, keepdims=True).type.shape == (1, 1, 1)
    assert T.mean(x).type.shape == ()
    assert T.var(x, axis=0).type.shape == (None, 4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("source", ["float32", "int32"])
def test_mean_with_a_dtype_accumulates_and_returns_in_it(backend, dtype, source):
    x = data((4, 3), source)
    check(backend, lambda v: T.mean(v, axis=0, dtype=dtype), lambda v: np.mean(v, axis=0, dtype=dtype), x)
    check(backend, lambda v: v.mean(dtype=dtype), lambda v: np.mean(v, dtype=dtype), x)


def test_mean_refuses_an_integer_dtype():
    from symdl.errors import TypeMismatch

    with pytest.raises(TypeMismatch, match="mean: dtype must be a float"):
        T.mean(T.matrix(), dtype="int32")
