"""symdl.tensor.extra_ops against NumPy on every backend (odd shapes, empty, strided, several
dtypes), its shape rules and errors, and the gradients of its differentiable ops."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor import extra_ops
from symdl.tensor.shape import shape_i
from symdl.testing import compare_with_numpy_both_ways, symbolic_inputs_like, verify_grad


def data(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 5, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def strided(x):
    big = np.zeros(x.shape + (2,), x.dtype)
    big[..., 0] = x
    return big[..., 0]


CUM_CASES = [
    ((3, 4), None, "float32"),
    ((3, 4), 0, "float64"),
    ((3, 4), -1, "int32"),
    ((2, 0, 3), 1, "float32"),
    ((1,), 0, "uint8"),
    ((2, 3, 2), 2, "bool"),
]


@pytest.mark.parametrize("shape,axis,dtype", CUM_CASES, ids=str)
def test_cumsum_and_cumprod_match_numpy(backend, shape, axis, dtype):
    x = data(shape, dtype, seed=1)
    compare_with_numpy_both_ways(
        lambda a: [extra_ops.cumsum(a, axis), extra_ops.cumprod(a, axis)],
        lambda a: [np.cumsum(a, axis), np.cumprod(a, axis)],
        [x],
        backends=[backend],
    )


def test_cumsum_of_a_strided_input(backend):
    compare_with_numpy_both_ways(
        lambda a: extra_ops.cumsum(a, 1), lambda a: np.cumsum(a, 1), [strided(data((3, 4)))], backends=[backend]
    )


@pytest.mark.parametrize(
    "n,axis,shape", [(1, -1, (3, 4)), (2, 0, (4, 3)), (0, 0, (2,)), (3, 1, (2, 2)), (1, 0, (0, 2))]
)
def test_diff_matches_numpy(backend, n, axis, shape):
    compare_with_numpy_both_ways(
        lambda a: extra_ops.diff(a, n, axis), lambda a: np.diff(a, n, axis), [data(shape, seed=2)], backends=[backend]
    )


def test_bincount_matches_numpy(backend):
    x = np.array([0, 3, 3, 1, 7], dtype="int32")
    w = data((5,), "float32", seed=3)
    compare_with_numpy_both_ways(
        lambda a, b: [extra_ops.bincount(a), extra_ops.bincount(a, b), extra_ops.bincount(a, minlength=10)],
        lambda a, b: [np.bincount(a), np.bincount(a, b), np.bincount(a, minlength=10)],
        [x, w],
        backends=[backend],
    )
    empty = np.zeros(0, dtype="int64")
    compare_with_numpy_both_ways(
        lambda a: [extra_ops.bincount(a), extra_ops.bincount(a, minlength=3)],
        lambda a: [np.bincount(a), np.bincount(a, minlength=3)],
        [empty],
        backends=[backend],
    )


def test_bincount_sizes_survive_the_rewrites_and_its_weights_have_a_gradient(backend):
    # regression: a maximum against a known size was read as a broadcast (size minlength)
    i, v = T.lvector("i"), T.dvector("v")
    counts = extra_ops.bincount(i)
    f = symdl.function([i], [counts.shape, extra_ops.bincount(i, minlength=2).shape, counts + T.ones_like(counts)],
                       mode=backend)  # fmt: skip
    shape, shape_min, plus_one = f(np.array([0, 4, 4]))
    assert list(shape) == [5] and list(shape_min) == [5]
    np.testing.assert_array_equal(plus_one, np.bincount([0, 4, 4]) + 1)
    ids = np.array([0, 2, 2])
    verify_grad(lambda w: (extra_ops.bincount(T.constant(ids), weights=w) ** 2).sum(), [np.array([1.0, 2.0, 3.0])])
    grad = symdl.function([i, v], symdl.grad((extra_ops.bincount(i, weights=v) ** 2).sum(), v), mode=backend)
    np.testing.assert_allclose(grad(ids, np.array([1.0, 2.0, 3.0])), [2.0, 10.0, 10.0])


def test_bincount_refuses_negative_values_when_run(backend):
    x = T.lvector("x")
    f = symdl.function([x], extra_ops.bincount(x), mode=backend)
    with pytest.raises(ValueError, match="bincount: the values must be non-negative"):
        f(np.array([1, -1]))
    with pytest.raises(TypeMismatch, match="bincount: the values must be integers"):
        extra_ops.bincount(T.dvector())


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_matches_numpy(backend, side):
    unsorted = np.array([5.0, 1.0, 2.0, 2.0])
    v = np.array([[2.0, 0.0, 9.0], [5.0, 1.5, 2.0]])
    sorter = np.argsort(unsorted, kind="stable")
    compare_with_numpy_both_ways(
        lambda a, b, s: [extra_ops.searchsorted(a[s], b, side), extra_ops.searchsorted(a, b, side, sorter=s)],
        lambda a, b, s: [np.searchsorted(a[s], b, side), np.searchsorted(a, b, side, sorter=s)],
        [unsorted, v, sorter],
        backends=[backend],
    )


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_unique_matches_numpy(backend, axis):
    x = np.array([[3, 1, 3], [3, 1, 3], [0, 2, 2]], dtype="int16")
    compare_with_numpy_both_ways(
        lambda a: list(extra_ops.unique(a, True, True, True, axis)) + [extra_ops.unique(a, axis=axis)],
        lambda a: list(np.unique(a, True, True, True, axis)) + [np.unique(a, axis=axis)],
        [x],
        backends=[backend],
    )


@pytest.mark.parametrize(
    "shape,offset", [((3, 3), 0), ((2, 4), 0), ((4, 2), 0), ((3, 3, 3), 0), ((3, 4), 2), ((4, 3), -1)]
)
def test_fill_diagonal_matches_numpy(backend, shape, offset):
    def reference(a):
        out = a.copy()
        if offset == 0:
            np.fill_diagonal(out, 7.0)
        else:
            rows, cols = np.nonzero(np.eye(*shape, k=offset))
            out[rows, cols] = 7.0
        return out

    compare_with_numpy_both_ways(
        lambda a: extra_ops.fill_diagonal_offset(a, 7.0, offset) if offset else extra_ops.fill_diagonal(a, 7.0),
        reference,
        [data(shape, "float64", seed=4)],
        backends=[backend],
    )


def test_fill_diagonal_promotes_like_numpy_and_checks_shapes():
    assert extra_ops.fill_diagonal(T.imatrix(), T.dscalar()).dtype == "float64"
    assert extra_ops.fill_diagonal(T.fmatrix(), 2).dtype == "float32"
    with pytest.raises(ShapeError, match="all dimensions equal"):
        extra_ops.fill_diagonal(T.tensor3(shape=(2, 3, 2)), 1.0)
    with pytest.raises(ShapeError, match="val must be a scalar"):
        extra_ops.fill_diagonal(T.matrix(), T.vector())


@pytest.mark.parametrize(
    "condition,axis,shape",
    [([True, False, True], 0, (3, 2)), ([False, True], 1, (3, 2)), ([True, False], None, (2, 3)), ([], 0, (3, 2))],
    ids=str,
)
def test_compress_matches_numpy(backend, condition, axis, shape):
    cond = np.array(condition, dtype=bool)
    compare_with_numpy_both_ways(
        lambda c, a: extra_ops.compress(c, a, axis),
        lambda c, a: np.compress(c, a, axis),
        [cond, data(shape, seed=5)],
        backends=[backend],
        statics=(False,),
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_unravel_and_ravel_index_match_numpy(backend, order):
    flat = np.array([[0, 5], [11, 7]], dtype="int64")
    compare_with_numpy_both_ways(
        lambda i: (
            list(extra_ops.unravel_index(i, (3, 4), order))
            + [extra_ops.ravel_multi_index(extra_ops.unravel_index(i, (3, 4), order), (3, 4), order=order)]
        ),
        lambda i: (
            list(np.unravel_index(i, (3, 4), order))
            + [np.ravel_multi_index(np.unravel_index(i, (3, 4), order), (3, 4), order=order)]
        ),
        [flat],
        backends=[backend],
    )
    coords = [np.array([0, 2, 5]), np.array([1])]
    compare_with_numpy_both_ways(
        lambda r, c: extra_ops.ravel_multi_index((r, c), (3, 4), mode="clip", order=order),
        lambda r, c: np.ravel_multi_index((r, c), (3, 4), mode="clip", order=order),
        coords,
        backends=[backend],
    )


def test_index_conversion_needs_dims_of_known_length():
    with pytest.raises(ShapeError, match="dims must be a vector of known length"):
        extra_ops.unravel_index(T.lvector(), T.lvector())
    with pytest.raises(ShapeError, match="2 coordinate arrays for 3 dimensions"):
        extra_ops.ravel_multi_index((T.lvector(), T.lvector()), (2, 3, 4))


def test_theano_names_are_re_exported_not_duplicated():
    import importlib

    from symdl.tensor import creation

    shape = importlib.import_module("symdl.tensor.shape")
    assert extra_ops.repeat is shape.repeat
    assert extra_ops.squeeze is shape.squeeze
    assert extra_ops.to_one_hot is creation.to_one_hot
    for name in ("cumsum", "cumprod", "diff", "bincount", "searchsorted", "unique", "fill_diagonal", "compress"):
        assert getattr(T, name) is getattr(extra_ops, name)


INFER_CASES = [
    ("cumsum", lambda a: extra_ops.cumsum(a, 1), [data((2, 3))]),
    ("bincount", lambda a: extra_ops.bincount(a, minlength=2), [np.array([4, 0, 4])]),
    ("bincount_empty", lambda a: extra_ops.bincount(a, minlength=2), [np.zeros(0, dtype="int64")]),
    ("searchsorted", lambda a, b: extra_ops.searchsorted(a, b), [np.arange(4.0), data((2, 3))]),
    ("fill_diagonal", lambda a: extra_ops.fill_diagonal(a, 1.0), [data((2, 3))]),
    ("unravel_index", lambda i: extra_ops.unravel_index(i, (3, 4))[1], [np.array([[1, 2]])]),
]


@pytest.mark.parametrize("name,build,values", INFER_CASES, ids=[c[0] for c in INFER_CASES])
def test_infer_shape_matches_the_computed_shape(name, build, values):
    inputs = symbolic_inputs_like(values)
    out = build(*inputs)
    node = out.owner
    shapes = [[shape_i(v, k) for k in range(v.ndim)] for v in node.inputs]
    inferred = [T.as_tensor_variable(d) for d in node.op.infer_shape(node, shapes)[out.index]]
    f = symdl.function(inputs, [out, *inferred], mode="py", on_unused_input="ignore")
    value, *dims = f(*values)
    assert tuple(int(d) for d in dims) == value.shape


# ------------------------------------------------------------------ gradients (NumPy backend)
def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)


GRAD_CASES = [
    ("cumsum", lambda a: extra_ops.cumsum(a, 1), (3, 4)),
    ("cumsum_flat", lambda a: extra_ops.cumsum(a), (3, 2)),
    ("cumprod", lambda a: extra_ops.cumprod(a, 0), (3, 4)),
    ("cumprod_flat", lambda a: extra_ops.cumprod(a), (2, 3)),
    ("diff", lambda a: extra_ops.diff(a, 2, 0), (4, 3)),
    ("bincount_weights", lambda w: extra_ops.bincount(np.array([2, 0, 2, 5]), w, 7), (4,)),
    ("fill_diagonal", lambda a: extra_ops.fill_diagonal(a, a[0, 1] * 3), (3, 4)),
    ("fill_diagonal_3d", lambda a: extra_ops.fill_diagonal(a, a[0, 0, 1] * 3), (3, 3, 3)),
    ("fill_diagonal_offset", lambda a: extra_ops.fill_diagonal_offset(a, a[1, 0] * 3, -1), (4, 3)),
    ("compress", lambda a: extra_ops.compress(np.array([True, False, True]), a, 1), (2, 3)),
]


@pytest.mark.parametrize("name,build,shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradient(reference_backend, name, build, shape):
    verify_grad(build, [positive(shape, seed=6)], rng=0)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "uint8"])
def test_cumsum_and_cumprod_run_in_c_where_the_runtime_has_their_dtypes(dtype):
    x = T.tensor3("x", dtype=dtype)
    f = symdl.function([x], [extra_ops.cumsum(x, 1), extra_ops.cumprod(x, 2)], mode="c")
    v = data((2, 5, 3), dtype, seed=4)[:, ::-1]  # a reversed view
    got = f(v)
    # the same products and sums in the same order as NumPy: equal to the last bit
    np.testing.assert_array_equal(got[0], np.cumsum(v, 1))
    np.testing.assert_array_equal(got[1], np.cumprod(v, 2))
    assert [backend for _, backend, _, _ in f.profile().rows] == ["py" if dtype == "uint8" else "c"] * 2
