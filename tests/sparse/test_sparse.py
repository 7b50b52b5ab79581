"""symdl.sparse against SciPy on every backend: products with dense operands (both orders, CSR
and CSC, vectors and matrices, empty rows, duplicates, no entries at all), conversions at the
function boundary, elementwise functions that keep the pattern, sums; the gradients with respect
to the dense operand and the stored values; and that symdl.sparse imports without SciPy."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse

import symdl
import symdl.sparse as sp
import symdl.tensor as T
from symdl.errors import InputError, ShapeError
from symdl.sparse.ops import CSRFromDense, CSRMatMul, DenseFromSparse, SampledDot
from symdl.testing import verify_grad


def random_sparse(shape, density=0.3, dtype="float64", seed=0, fmt="csr"):
    m = scipy.sparse.random(*shape, density=density, random_state=seed, format=fmt, dtype=dtype)
    return m


def with_empty_rows_and_duplicates():
    """A 4 x 5 CSR matrix whose rows 1 and 3 are empty and whose row 2 stores column 4 twice."""
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    indices = np.array([0, 3, 4, 1, 4], dtype=np.int32)
    indptr = np.array([0, 2, 2, 5, 5], dtype=np.int32)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(4, 5))


CASES = [
    ("csr", random_sparse((5, 4), seed=1)),
    ("csc", random_sparse((5, 4), seed=2, fmt="csc")),
    ("csr", with_empty_rows_and_duplicates()),
    ("csc", with_empty_rows_and_duplicates().tocsc()),
    ("csr", scipy.sparse.csr_matrix((3, 2))),  # no entries
    ("csr", random_sparse((1, 1), density=1.0, seed=3)),
    ("csr", random_sparse((6, 3), seed=4, dtype="float32")),
]


@pytest.mark.parametrize("fmt,value", CASES, ids=[f"{c[0]}-{c[1].shape}-{c[1].nnz}-{c[1].dtype}" for c in CASES])
def test_products_sums_and_conversions_match_scipy(backend, fmt, value):
    rng = np.random.default_rng(5)
    m, n = value.shape
    dtype = str(value.dtype)
    x = sp.matrix(fmt, "x", dtype=dtype)
    b, c, v, u = T.dmatrix("b"), T.fmatrix("c"), T.tensor(dtype, (None,), "v"), T.tensor(dtype, (None,), "u")
    outputs = [
        sp.dot(x, b),
        sp.dot(c, x),
        x @ v,
        sp.dot(u, x),  # u @ x needs tensors to defer to sparse operands (symdl.tensor.var)
        x.toarray(),
        sp.sp_sum(x),
        sp.sp_sum(x, axis=0),
        sp.sp_sum(x, axis=1),
        x.T.toarray(),
    ]
    f = symdl.function([x, b, c, v, u], outputs, mode=backend)
    bv = rng.standard_normal((n, 3))
    cv = rng.standard_normal((2, m)).astype("float32")[:, ::1]
    vv, uv = rng.standard_normal(n).astype(dtype), rng.standard_normal(m).astype(dtype)
    dense = value.toarray()
    expected = [dense @ bv, cv @ dense, dense @ vv, uv @ dense, dense, dense.sum(), dense.sum(0), dense.sum(1), dense.T]
    for k, (got, want) in enumerate(zip(f(value, bv, cv, vv, uv), expected)):
        assert got.shape == np.shape(want), k
        assert got.dtype == np.result_type(np.asarray(want).dtype, dtype) or got.dtype == np.asarray(want).dtype, k
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"output {k}")


def test_a_strided_dense_operand(backend):
    value = random_sparse((4, 6), seed=6)
    x, b = sp.csr_matrix("x", dtype="float64"), T.dmatrix("b")
    operand = np.random.default_rng(7).standard_normal((6, 8))[:, ::2]
    out = symdl.function([x, b], sp.dot(x, b), mode=backend)(value, operand)
    np.testing.assert_allclose(out, value @ operand)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_outputs_come_back_as_scipy_matrices(backend, fmt):
    value = random_sparse((4, 3), seed=8, fmt=fmt)
    x, d = sp.matrix(fmt, "x", dtype="float64"), T.dmatrix("d")
    outputs = {
        "scaled": x * 2.0,
        "masked": x * d,
        "sqrt": sp.sqrt(abs(x)),
        "exp": sp.structured_exp(x),
        "transposed": x.T,
        "from_dense": sp.csr_from_dense(d) if fmt == "csr" else sp.csc_from_dense(d),
    }
    f = symdl.function([x, d], outputs, mode=backend)
    dense = np.arange(12.0).reshape(4, 3) - 5.0
    got = f(value, dense)
    stored = value.toarray() != 0
    expected = {
        "scaled": value.toarray() * 2,
        "masked": value.toarray() * dense,
        "sqrt": np.sqrt(np.abs(value.toarray())),
        "exp": np.where(stored, np.exp(value.toarray()), 0.0),
        "transposed": value.toarray().T,
        "from_dense": dense,
    }
    for name, want in expected.items():
        assert scipy.sparse.issparse(got[name]), name
        np.testing.assert_allclose(got[name].toarray(), want, err_msg=name)
    assert got["scaled"].format == fmt and got["transposed"].format == ("csc" if fmt == "csr" else "csr")
    assert got["from_dense"].nnz == np.count_nonzero(dense)


def test_elementwise_functions_keep_the_pattern():
    value = random_sparse((4, 5), seed=9)
    x = sp.csr_matrix("x", dtype="float64")
    f = symdl.function([x], [fn(x) for fn in sp.ELEMENTWISE.values()])
    for name, out in zip(sp.ELEMENTWISE, f(value)):
        np.testing.assert_array_equal(out.indices, value.indices, err_msg=name)
        np.testing.assert_array_equal(out.indptr, value.indptr, err_msg=name)
    dense_ops = {
        "sqr": np.square,
        "neg": np.negative,
        "sin": np.sin,
        "tanh": np.tanh,
        "log1p": np.log1p,
        "sgn": np.sign,
    }
    for name, ref in dense_ops.items():
        out = f(value)[list(sp.ELEMENTWISE).index(name)]
        np.testing.assert_allclose(out.toarray(), ref(value.toarray()), err_msg=name)


def test_broadcast_dense_operands_are_read_at_the_stored_entries(backend):
    value = random_sparse((3, 4), seed=10)
    x, row, col = sp.csr_matrix("x", dtype="float64"), T.dvector("row"), T.dcol("col")
    f = symdl.function(
        [x, row, col], [(x * row).toarray(), (x / col).toarray(), sp.structured_add(x, row).toarray()], mode=backend
    )
    r, c = np.arange(1.0, 5.0), np.arange(1.0, 4.0)[:, None]
    times_row, over_col, plus_row = f(value, r, c)
    dense = value.toarray()
    np.testing.assert_allclose(times_row, dense * r)
    np.testing.assert_allclose(over_col, dense / c)
    np.testing.assert_allclose(plus_row, np.where(dense != 0, dense + r, 0.0))


def test_a_tuple_of_arrays_is_an_input_and_scipy_formats_are_converted():
    x, w = sp.csr_matrix("x", dtype="float64"), T.dvector("w")
    f = symdl.function([x, w], sp.dot(x, w))
    triple = (np.array([2.0]), np.array([1]), np.array([0, 0, 1]), (2, 2))  # int64 indices are fine
    np.testing.assert_allclose(f(triple, np.ones(2)), [0.0, 2.0])
    coo = scipy.sparse.coo_matrix(np.array([[0.0, 3.0], [4.0, 0.0]]))
    np.testing.assert_allclose(f(coo, np.array([1.0, 10.0])), [30.0, 4.0])


def test_a_constant_sparse_matrix(backend):
    value = random_sparse((3, 3), seed=11)
    w = T.dvector("w")
    f = symdl.function([w], sp.dot(sp.as_sparse_variable(value), w), mode=backend)
    np.testing.assert_allclose(f(np.arange(3.0)), value @ np.arange(3.0))


def test_bad_inputs_raise_clear_errors():
    x, w = sp.csr_matrix("x", dtype="float64", shape=(None, 3)), T.dvector("w")
    f = symdl.function([x, w], sp.dot(x, w))
    with pytest.raises(InputError, match=r"x expects shape \(\?, 3\), got \(2, 2\)"):
        f(scipy.sparse.csr_matrix((2, 2)), np.ones(3))
    with pytest.raises(InputError, match="inconsistent csr arrays"):
        f((np.ones(2), np.array([0, 1]), np.array([0, 1]), (1, 3)), np.ones(3))
    with pytest.raises(InputError, match="an index is out of range"):
        f((np.ones(1), np.array([5]), np.array([0, 1]), (1, 3)), np.ones(3))
    with pytest.raises(InputError, match="expects a SciPy sparse matrix or a"):
        f(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ShapeError, match="3 columns cannot multiply"):
        sp.dot(x, T.dvector(shape=(4,)))
    with pytest.raises(NotImplementedError, match="sparse @ sparse"):
        sp.dot(x, x)


def test_symdl_sparse_imports_and_runs_without_scipy():
    code = """
import sys
sys.modules['scipy'] = None  # as if SciPy were not installed
import numpy as np, symdl, symdl.sparse as sp, symdl.tensor as T
x, w = sp.csr_matrix('x', dtype='float64'), T.dvector('w')
f = symdl.function([x, w], sp.dot(x, w))
print(f((np.array([2.0]), np.array([1], 'int32'), np.array([0, 1], 'int32'), (1, 2)), np.ones(2)))
try:
    symdl.function([x], x * 2)((np.array([2.0]), np.array([1], 'int32'), np.array([0, 1], 'int32'), (1, 2)))
except ImportError as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[2.]" in out
    assert "pip install 'symdl[sparse]'" in out


# ------------------------------------------------------------------ gradients (NumPy backend)
PATTERN = with_empty_rows_and_duplicates()


def _sparse_of(data, fmt="csr", matrix=PATTERN):
    """A symbolic sparse matrix with ``matrix``'s pattern holding the symbolic values ``data``."""
    m = matrix.asformat(fmt)
    return sp.SparseVariable(
        fmt, data, T.constant(m.indices), T.constant(m.indptr), T.constant(np.array(m.shape)), m.shape
    )


GRAD_CASES = [
    ("dot_matrix", lambda d, b: sp.dot(_sparse_of(d), b), [(5,), (5, 3)]),
    ("dot_vector_csc", lambda d, b: sp.dot(_sparse_of(d, "csc"), b[:, 0]), [(5,), (5, 2)]),
    ("dense_dot_sparse", lambda d, b: sp.dot(b.T, _sparse_of(d)), [(5,), (4, 2)]),
    ("to_dense", lambda d: _sparse_of(d).toarray() * 2, [(5,)]),
    ("sum_axis_0", lambda d: sp.sp_sum(_sparse_of(d), 0), [(5,)]),
    ("masked_by_dense", lambda d, b: (_sparse_of(d) * b).toarray(), [(5,), (4, 5)]),
    ("elementwise", lambda d: sp.sqrt(_sparse_of(d) ** 2 * 3).toarray(), [(5,)]),
    ("from_dense", lambda a: sp.csr_from_dense(a * a).data, [(3, 4)]),
    (
        "sampled_dot",
        lambda x, y: SampledDot()(T.constant(PATTERN.indices), T.constant(PATTERN.indptr), x, y),
        [(4, 2), (5, 2)],
    ),
    (
        "sampled_dot_vectors",
        lambda x, y: SampledDot()(T.constant(PATTERN.indices), T.constant(PATTERN.indptr), x, y),
        [(4,), (5,)],
    ),
]


@pytest.mark.parametrize("name,build,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradient(reference_backend, name, build, shapes):
    rng = np.random.default_rng(12)
    points = [rng.uniform(0.5, 1.5, s) for s in shapes]
    verify_grad(build, points, rng=0)


def test_the_gradient_of_the_values_has_the_pattern_of_the_matrix():
    x, w = sp.csr_matrix("x", dtype="float64"), T.dvector("w")
    cost = T.sum(sp.dot(x, w) ** 2)
    g = symdl.function([x, w], symdl.grad(cost, x.data))
    value = random_sparse((4, 3), seed=13)
    wv = np.arange(1.0, 4.0)
    dense_grad = 2 * np.outer(value @ wv, wv)  # d cost / d x for a dense x
    np.testing.assert_allclose(g(value, wv), dense_grad[value.nonzero()])


def test_op_static_shapes():
    x = sp.csr_matrix("x", shape=(5, 4), dtype="float32")
    assert sp.dot(x, T.fmatrix(shape=(4, 3))).type.shape == (5, 3)
    assert sp.dot(x.T, T.fvector()).type.shape == (4,)
    assert x.toarray().type.shape == (5, 4)
    assert sp.dot(T.dmatrix(shape=(2, 5)), x).type.shape == (2, 4)
    assert sp.dot(x, T.dvector()).dtype == "float64"
    for op in (CSRMatMul, DenseFromSparse, CSRFromDense, SampledDot):
        assert callable(op.infer_shape)


def test_matrices_built_from_symbolic_parts_and_taken_apart(backend):
    data, indices, indptr = T.dvector("data"), T.ivector("indices"), T.ivector("indptr")
    x = sp.CSR(data, indices, indptr, (2, 3))
    y = sp.CSC(data, indices, indptr, T.constant(np.array([3, 2])))
    assert x.static_shape == (2, 3) and y.format == "csc"
    parts = sp.csm_properties(x * 3)
    f = symdl.function([data, indices, indptr], [x.toarray(), y.toarray(), parts[0], parts[3]], mode=backend)
    values = (np.array([1.0, 2.0]), np.array([2, 0], "int32"), np.array([0, 1, 2], "int32"))
    dense_x, dense_y, scaled, shape = f(*values)
    expected = scipy.sparse.csr_matrix(values, shape=(2, 3)).toarray()
    np.testing.assert_array_equal(dense_x, expected)
    np.testing.assert_array_equal(dense_y, scipy.sparse.csc_matrix(values, shape=(3, 2)).toarray())
    np.testing.assert_array_equal(scaled, [3.0, 6.0])
    np.testing.assert_array_equal(shape, [2, 3])


def test_infer_shape_of_the_sparse_ops_matches_the_computed_shapes():
    from symdl.tensor.shape import shape_i

    x, b, c, dense = sp.csr_matrix("x", dtype="float64"), T.dmatrix("b"), T.dvector("c"), T.dmatrix("dense")
    p, q = T.dmatrix("p"), T.dmatrix("q")
    sampled = SampledDot()(T.constant(PATTERN.indices), T.constant(PATTERN.indptr), p, q)
    outputs = [sp.dot(x, b), sp.dot(x.T, c), x.toarray(), *sp.csm_properties(sp.csr_from_dense(dense))[:3], sampled]
    inferred = []
    for out in outputs:
        node = out.owner
        shapes = [[shape_i(v, k) for k in range(v.ndim)] for v in node.inputs]
        inferred.append([T.as_tensor_variable(d) for d in node.op.infer_shape(node, shapes)[out.index]])
    f = symdl.function([x, b, c, dense, p, q], [*outputs, *[d for dims in inferred for d in dims]])
    rng = np.random.default_rng(14)
    values = f(random_sparse((4, 5), seed=15), rng.standard_normal((5, 2)), rng.standard_normal(4),
               np.diag([1.0, 0.0, 2.0]), rng.standard_normal((4, 3)), rng.standard_normal((5, 3)))  # fmt: skip
    dims = iter(values[len(outputs) :])
    for out, dims_of_out in zip(values[: len(outputs)], inferred):
        assert tuple(int(next(dims)) for _ in dims_of_out) == out.shape


def test_theano_spellings_of_sparse_products_with_dense_tensors(backend):
    x, w, v = sp.csr_matrix("x", dtype="float64"), T.dmatrix("w"), T.dmatrix("v")
    outputs = [T.dot(x, w), T.dot(v, x), v @ x, x @ w, w.T + x]
    scaled = w.T * x  # dense * sparse keeps the pattern
    assert sp.is_sparse_variable(scaled)
    fn = symdl.function([x, w, v], [*outputs, scaled.toarray()], mode=backend)
    value = random_sparse((3, 4), seed=5)
    wv, vv = np.arange(12.0).reshape(4, 3), np.arange(6.0).reshape(2, 3)
    dense = value.toarray()
    expected = [dense @ wv, vv @ dense, vv @ dense, dense @ wv, wv.T + dense, wv.T * dense]
    for got, want in zip(fn(value, wv, vv), expected):
        np.testing.assert_allclose(got, want)


def test_symdl_sparse_loads_on_first_use():
    code = "import symdl; x = symdl.sparse.csr_matrix('x'); print(type(x).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "SparseVariable", result.stderr
