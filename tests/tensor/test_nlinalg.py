"""symdl.tensor.nlinalg against NumPy on every backend (single, batched, empty, size-1, strided,
float32, float64 and integer inputs), its shape rules, its errors, and every gradient against
finite differences (on well-conditioned matrices: symmetric positive definite ones built as
a a^T + n I, or distinct singular values)."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import NullGradError, ShapeError, TypeMismatch
from symdl.tensor import nlinalg
from symdl.tensor.nlinalg import LinAlgError
from symdl.tensor.shape import shape_i
from symdl.testing import compare_with_numpy_both_ways, symbolic_inputs_like, verify_grad


def spd(shape, dtype="float64", seed=0):
    """Symmetric positive definite matrices of ``shape`` (..., n, n)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def gaussian(shape, dtype="float64", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def strided(x):
    big = np.zeros(x.shape + (2,), x.dtype)
    big[..., 0] = x
    return big[..., 0]


SQUARE = [(3, 3), (1, 1), (2, 4, 4), (0, 3, 3), (0, 0), (2, 1, 2, 2)]


@pytest.mark.parametrize("shape", SQUARE, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_square_matrix_ops_match_numpy(backend, shape, dtype):
    x = spd(shape, dtype)

    def build(a):
        sign, logdet = nlinalg.slogdet(a)
        w, v = nlinalg.eigh(a)
        return [nlinalg.matrix_inverse(a), nlinalg.det(a), sign, logdet, w, v, nlinalg.pinv(a)]

    def reference(a):
        return [np.linalg.inv(a), np.linalg.det(a), *np.linalg.slogdet(a), *np.linalg.eigh(a), np.linalg.pinv(a)]

    compare_with_numpy_both_ways(build, reference, [x], backends=[backend], rtol=1e-4 if dtype == "float32" else 1e-9)


def test_non_contiguous_and_integer_inputs_match_numpy(backend):
    x = strided(spd((2, 3, 3)))
    compare_with_numpy_both_ways(
        lambda a: [nlinalg.matrix_inverse(a), nlinalg.det(a)],
        lambda a: [np.linalg.inv(a), np.linalg.det(a)],
        [x],
        backends=[backend],
    )
    ints = np.array([[2, 1], [1, 3]], dtype="int32")
    compare_with_numpy_both_ways(
        lambda a: [nlinalg.det(a), nlinalg.matrix_inverse(a), nlinalg.eigh(a)[0]],
        lambda a: [np.linalg.det(a), np.linalg.inv(a), np.linalg.eigh(a)[0]],
        [ints],
        backends=[backend],
    )


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 2), (1, 1), (0, 3), (2, 0, 2)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rectangular_decompositions_match_numpy(backend, shape, dtype):
    x = gaussian(shape, dtype, seed=3)

    def build(a):
        u, s, vh = nlinalg.svd(a, full_matrices=False)
        uf, sf, vhf = nlinalg.svd(a)
        q, r = nlinalg.qr(a)
        qc, rc = nlinalg.qr(a, mode="complete")
        return [u, s, vh, uf, vhf, nlinalg.svd(a, compute_uv=False), q, r, qc, rc, nlinalg.qr(a, "r"), nlinalg.pinv(a)]

    def reference(a):
        return [
            *np.linalg.svd(a, full_matrices=False),
            np.linalg.svd(a)[0],
            np.linalg.svd(a)[2],
            np.linalg.svd(a, compute_uv=False),
            *np.linalg.qr(a),
            *np.linalg.qr(a, "complete"),
            np.linalg.qr(a, "r"),
            np.linalg.pinv(a),
        ]

    compare_with_numpy_both_ways(build, reference, [x], backends=[backend], rtol=1e-4 if dtype == "float32" else 1e-9)


def test_eigh_reads_the_triangle_it_is_told(backend):
    x = spd((3, 3))
    x[0, 2] = 100.0  # only in the upper triangle
    compare_with_numpy_both_ways(
        lambda a: [*nlinalg.eigh(a), *nlinalg.eigh(a, "U"), nlinalg.eigvalsh(a)],
        lambda a: [*np.linalg.eigh(a), *np.linalg.eigh(a, "U"), np.linalg.eigvalsh(a)],
        [x],
        backends=[backend],
    )


DIAG_CASES = [
    ("extract_diag", lambda x: nlinalg.extract_diag(x), lambda x: np.diagonal(x), (3, 4)),
    ("extract_diag_offset", lambda x: nlinalg.extract_diag(x, 1), lambda x: np.diagonal(x, 1), (3, 4)),
    ("extract_diag_far_offset", lambda x: nlinalg.extract_diag(x, -5), lambda x: np.diagonal(x, -5), (3, 4)),
    ("extract_diag_axes", lambda x: nlinalg.extract_diag(x, -1, 2, 0), lambda x: np.diagonal(x, -1, 2, 0), (3, 2, 4)),
    ("trace", nlinalg.trace, np.trace, (3, 4)),
    ("trace_batched", lambda x: nlinalg.trace(x, 0, -2, -1), lambda x: np.trace(x, 0, -2, -1), (2, 3, 3)),
    ("diag_of_vector", lambda x: nlinalg.diag(x, -2), lambda x: np.diag(x, -2), (3,)),
    ("diag_of_matrix", lambda x: nlinalg.diag(x, 1), lambda x: np.diag(x, 1), (3, 4)),
    ("tril", lambda x: nlinalg.tril(x, -1), lambda x: np.tril(x, -1), (2, 3, 4)),
    ("triu", lambda x: nlinalg.triu(x, 1), lambda x: np.triu(x, 1), (2, 3, 4)),
    ("empty_trace", nlinalg.trace, np.trace, (0, 2)),
]


@pytest.mark.parametrize("name,build,reference,shape", DIAG_CASES, ids=[c[0] for c in DIAG_CASES])
def test_diagonals_and_triangles_match_numpy(backend, name, build, reference, shape):
    compare_with_numpy_both_ways(build, reference, [gaussian(shape, "float32", seed=1)], backends=[backend])


def test_alloc_diag_is_undone_by_extract_diag(backend):
    v = gaussian((2, 3), seed=2)
    f = symdl.function(
        inputs := symbolic_inputs_like([v]),
        [nlinalg.alloc_diag(inputs[0], -1, 0, 2), nlinalg.alloc_diag(inputs[0], 0, -2, -1)],
        mode=backend,
    )
    out, stacked = f(v)
    assert out.shape == (4, 2, 4) and stacked.shape == (2, 3, 3)
    np.testing.assert_array_equal(np.diagonal(out, -1, 0, 2), v)
    np.testing.assert_array_equal(stacked, np.stack([np.diag(row) for row in v]))


KRON_SHAPES = [((2, 3), (4, 1)), ((3,), (2,)), ((2, 2), (3,)), ((), (2, 2)), ((0, 2), (2, 3)), ((2, 1, 2), (3, 2))]


@pytest.mark.parametrize("shapes", KRON_SHAPES, ids=str)
def test_kron_matches_numpy(backend, shapes):
    a, b = gaussian(shapes[0], seed=1), gaussian(shapes[1], seed=2)
    compare_with_numpy_both_ways(nlinalg.kron, np.kron, [a, b], backends=[backend])


NORM_CASES = [
    (None, None, (3, 4)),
    ("fro", None, (3, 4)),
    ("nuc", None, (3, 4)),
    (1, None, (3, 4)),
    (-1, None, (3, 4)),
    (np.inf, None, (3, 4)),
    (-np.inf, None, (3, 4)),
    (2, None, (3, 4)),
    (-2, None, (3, 4)),
    (None, None, (5,)),
    (1, None, (5,)),
    (np.inf, None, (5,)),
    (-np.inf, None, (5,)),
    (0, None, (5,)),
    (3, None, (5,)),
    (2, 1, (2, 3, 4)),
    ("nuc", (2, 0), (2, 3, 4)),
    (np.inf, (0, 2), (2, 3, 4)),
    (None, None, (2, 3, 4)),
]


@pytest.mark.parametrize("ord,axis,shape", NORM_CASES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_matches_numpy(ord, axis, shape, keepdims):
    x = gaussian(shape, seed=4)
    x.flat[1] = 0.0  # one zero, for ord=0
    compare_with_numpy_both_ways(
        lambda a: nlinalg.norm(a, ord, axis, keepdims),
        lambda a: np.linalg.norm(a, ord, axis, keepdims),
        [x],
        backends=["py"],
    )


def test_norm_runs_on_every_backend(backend):
    x = gaussian((3, 4), "float32", seed=5)
    compare_with_numpy_both_ways(
        lambda a: [nlinalg.norm(a, "nuc"), nlinalg.norm(a, 2), nlinalg.norm(a[0], 3)],
        lambda a: [np.linalg.norm(a, "nuc"), np.linalg.norm(a, 2), np.linalg.norm(a[0], 3)],
        [x],
        backends=[backend],
        rtol=1e-4,
    )


def test_matrix_power_and_matrix_dot_match_numpy(backend):
    x = spd((2, 3, 3)) / 4
    compare_with_numpy_both_ways(
        lambda a: [nlinalg.matrix_power(a, p) for p in (0, 1, 5, -3)] + [nlinalg.matrix_dot(a[0], a[1], a[0])],
        lambda a: [np.linalg.matrix_power(a, p) for p in (0, 1, 5, -3)] + [a[0] @ a[1] @ a[0]],
        [x],
        backends=[backend],
        rtol=1e-9,
    )


# ------------------------------------------------------------------ shapes and errors
def test_static_shapes_follow_the_input():
    x = T.tensor(shape=(5, None, 3), dtype="float64")
    assert nlinalg.matrix_inverse(x).type.shape == (5, 3, 3)
    assert nlinalg.det(x).type.shape == (5,)
    assert [v.type.shape for v in nlinalg.eigh(x)] == [(5, 3), (5, 3, 3)]
    y = T.tensor(shape=(2, 4, 3), dtype="float32")
    assert [v.type.shape for v in nlinalg.svd(y)] == [(2, 4, 4), (2, 3), (2, 3, 3)]
    assert [v.type.shape for v in nlinalg.svd(y, full_matrices=False)] == [(2, 4, 3), (2, 3), (2, 3, 3)]
    assert [v.type.shape for v in nlinalg.qr(y)] == [(2, 4, 3), (2, 3, 3)]
    assert [v.type.shape for v in nlinalg.qr(y, "complete")] == [(2, 4, 4), (2, 4, 3)]
    assert nlinalg.pinv(y).type.shape == (2, 3, 4)
    assert nlinalg.extract_diag(y, 1, 1, 2).type.shape == (2, 2)
    assert nlinalg.kron(y, T.tensor(shape=(2, 1), dtype="float32")).type.shape == (2, 8, 3)
    assert nlinalg.det(T.imatrix()).dtype == "float64"


INFER_CASES = [
    ("inverse", nlinalg.matrix_inverse, [spd((2, 3, 3))]),
    ("det", nlinalg.det, [spd((2, 3, 3))]),
    ("slogdet", lambda a: nlinalg.slogdet(a)[1], [spd((2, 3, 3))]),
    ("eigh_w", lambda a: nlinalg.eigh(a)[0], [spd((3, 3))]),
    ("eigh_v", lambda a: nlinalg.eigh(a)[1], [spd((3, 3))]),
    ("svd_u", lambda a: nlinalg.svd(a)[0], [gaussian((2, 4, 3))]),
    ("svd_s", lambda a: nlinalg.svd(a)[1], [gaussian((2, 4, 3))]),
    ("svd_vh_reduced", lambda a: nlinalg.svd(a, False)[2], [gaussian((3, 5))]),
    ("svd_values", lambda a: nlinalg.svd(a, compute_uv=False), [gaussian((3, 5))]),
    ("qr_q", lambda a: nlinalg.qr(a)[0], [gaussian((3, 5))]),
    ("qr_r_complete", lambda a: nlinalg.qr(a, "complete")[1], [gaussian((5, 3))]),
    ("qr_r", lambda a: nlinalg.qr(a, "r"), [gaussian((5, 3))]),
    ("pinv", nlinalg.pinv, [gaussian((2, 4, 3))]),
    ("extract_diag", lambda a: nlinalg.extract_diag(a, -1, 0, 2), [gaussian((3, 2, 4))]),
    ("alloc_diag", lambda v: nlinalg.alloc_diag(v, 2, 1, 0), [gaussian((2, 3))]),
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
    static = build(*symbolic_inputs_like(values, static=True))
    assert static.type.shape == value.shape


def test_non_square_and_wrong_dtypes_are_refused_at_build_time():
    with pytest.raises(ShapeError, match=r"matrix_inverse takes square matrices.*\(2, 3\).*test_nlinalg.py"):
        nlinalg.matrix_inverse(T.matrix(shape=(2, 3)))
    with pytest.raises(ShapeError, match="det takes a matrix"):
        nlinalg.det(T.vector("v"))
    with pytest.raises(TypeMismatch, match="float16"):
        nlinalg.eigh(T.tensor("float16", (None, None)))
    with pytest.raises(ShapeError, match="diag takes a vector or a matrix"):
        nlinalg.diag(T.tensor3())
    with pytest.raises(ValueError, match="invalid ord"):
        nlinalg.norm(T.matrix(), "bad")


def test_a_singular_matrix_raises_a_linalg_error_when_run(backend):
    x = T.dmatrix("x")
    f = symdl.function([x], nlinalg.matrix_inverse(x), mode=backend)
    with pytest.raises(LinAlgError, match="matrix_inverse: Singular matrix"):
        f(np.ones((2, 2)))
    assert issubclass(LinAlgError, np.linalg.LinAlgError)


def test_full_svd_of_a_matrix_of_unknown_shape_has_no_gradient_for_its_vectors():
    x = T.dmatrix("x")
    u, s, vh = nlinalg.svd(x)
    with pytest.raises(NullGradError, match="not unique"):
        symdl.grad(u.sum(), x)
    symdl.grad(s.sum(), x)  # the singular values alone are fine


# ------------------------------------------------------------------ gradients (NumPy backend)
def _spd_of(a):
    """A well-conditioned symmetric positive definite matrix made from any square ``a``."""
    n = a.shape[-1]
    return a @ nlinalg.matrix_transpose(a) + T.cast(n, a.dtype) * T.eye(n, dtype=a.dtype)


GRAD_CASES = [
    ("inverse", nlinalg.matrix_inverse, (2, 3, 3)),
    ("det", nlinalg.det, (3, 3)),
    ("det_batched", nlinalg.det, (2, 2, 2)),
    ("det_under_log", lambda a: T.log(nlinalg.det(a)), (2, 3, 3)),
    ("slogdet", lambda a: nlinalg.slogdet(a)[1], (2, 3, 3)),
    ("eigh_values", lambda a: nlinalg.eigh(a)[0], (3, 3)),
    ("eigh_vectors", lambda a: nlinalg.eigh(a)[1], (2, 3, 3)),
    ("eigh_upper", lambda a: nlinalg.eigh(a, "U")[1] * 2 + nlinalg.eigh(a, "U")[0].sum(), (3, 3)),
    ("pinv_square", nlinalg.pinv, (3, 3)),
    ("pinv_tall", nlinalg.pinv, (4, 2)),
    ("pinv_wide", nlinalg.pinv, (2, 2, 4)),
    ("svd_values", lambda a: nlinalg.svd(a, compute_uv=False), (2, 4, 3)),
    ("svd_u", lambda a: nlinalg.svd(a, full_matrices=False)[0], (4, 3)),
    ("svd_vh", lambda a: nlinalg.svd(a, full_matrices=False)[2], (3, 4)),
    ("svd_all_wide", lambda a: sum(o.sum() for o in nlinalg.svd(a, full_matrices=False)), (2, 4)),
    ("qr_tall", lambda a: nlinalg.qr(a)[0] + nlinalg.qr(a)[1].sum(), (4, 3)),
    ("qr_wide", lambda a: nlinalg.qr(a)[0].sum() + nlinalg.qr(a)[1], (2, 3, 4)),
    ("qr_r", lambda a: nlinalg.qr(a, "r"), (4, 3)),
    ("qr_complete_wide", lambda a: nlinalg.qr(a.reshape((3, 4)), "complete")[0] * 2, (3, 4)),
    ("extract_diag", lambda a: nlinalg.extract_diag(a, 1, 2, 0), (3, 2, 4)),
    ("alloc_diag", lambda v: nlinalg.alloc_diag(v, -1, 1, 0), (2, 3)),
    ("trace", lambda a: nlinalg.trace(a), (3, 4)),
    ("kron", lambda a: nlinalg.kron(a, a[:2] * 2), (3, 2)),
    ("norm_nuc", lambda a: nlinalg.norm(a, "nuc"), (3, 4)),
    ("norm_2", lambda a: nlinalg.norm(a, 2, axis=(0, 1)), (3, 4)),
    ("norm_inf", lambda a: nlinalg.norm(a, np.inf), (3, 4)),
    ("norm_vector_p", lambda a: nlinalg.norm(a, 3, axis=1), (3, 4)),
    ("matrix_power", lambda a: nlinalg.matrix_power(a, -3), (3, 3)),
]


@pytest.mark.parametrize("name,build,shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradient(reference_backend, name, build, shape):
    x = gaussian(shape, seed=7)
    square = name.split("_")[0] in ("inverse", "det", "slogdet", "eigh", "matrix")
    verify_grad((lambda a: build(_spd_of(a))) if square else build, [x], rng=0)


def test_gradient_in_float32(reference_backend):
    x = gaussian((3, 3), "float32", seed=8)
    verify_grad(lambda a: nlinalg.slogdet(_spd_of(a))[1] + nlinalg.eigh(_spd_of(a))[0].sum(), [x], rng=0)


def test_eigh_gradient_of_the_eigenvalues_is_finite_for_repeated_eigenvalues(reference_backend):
    x = T.dmatrix("x")
    g = symdl.grad(nlinalg.eigh(x)[0].sum() + (nlinalg.eigh(x)[1] ** 2).sum(), x)
    np.testing.assert_allclose(symdl.function([x], g)(np.eye(3)), np.eye(3), atol=1e-12)


def test_qr_accepts_theanos_mode_name_full():
    a = T.dmatrix("a")
    q, r = nlinalg.qr(a, mode="full")
    value = np.arange(6.0).reshape(3, 2)
    got_q, got_r = symdl.function([a], [q, r])(value)
    want_q, want_r = np.linalg.qr(value)
    np.testing.assert_allclose(got_q, want_q)
    np.testing.assert_allclose(got_r, want_r)


def _runs_in_c(fn):
    """Every node of a function compiled for the C backend runs in C: none calls back into Python."""
    return "A->py(" not in fn.source() and all(backend == "c" for _, backend, _, _ in fn.profile().rows)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_op_runs_in_c_through_lapack(dtype):
    a = T.tensor3("a", dtype=dtype)
    sign, logdet = nlinalg.slogdet(a)
    outputs = [nlinalg.matrix_inverse(a), nlinalg.det(a), sign, logdet, *nlinalg.eigh(a, "U"), *nlinalg.svd(a),
               nlinalg.svd(a, compute_uv=False), *nlinalg.qr(a, "complete"), nlinalg.qr(a, "r"), nlinalg.pinv(a)]  # fmt: skip
    f = symdl.function([a], outputs, mode="c")
    x = strided(spd((2, 3, 3), dtype, seed=4))
    got = f(x)
    assert _runs_in_c(f), f.profile()
    assert "A->linalg(" in f.source()
    reference = [np.linalg.inv(x), np.linalg.det(x), *np.linalg.slogdet(x), *np.linalg.eigh(x, "U"),
                 *np.linalg.svd(x), np.linalg.svd(x, compute_uv=False), *np.linalg.qr(x, "complete"),
                 np.linalg.qr(x, "r"), np.linalg.pinv(x)]  # fmt: skip
    for g, want in zip(got, reference):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, want, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-5)


def _errors_on_both_backends(build, *values):
    """The exceptions a function raises on py and on c for ``values``."""
    raised = []
    for backend in ("py", "c"):
        inputs = symbolic_inputs_like(values)
        f = symdl.function(inputs, build(*inputs), mode=backend)
        with pytest.raises(Exception) as info:
            f(*values)
        raised.append(info.value)
    return raised


def test_a_singular_matrix_raises_the_same_error_in_c_as_in_python():
    singular = np.stack([np.eye(2), np.ones((2, 2))])
    py_error, c_error = _errors_on_both_backends(nlinalg.matrix_inverse, singular)
    assert type(c_error) is type(py_error) is LinAlgError
    assert str(py_error) in str(c_error)
    # its determinant is 0, its log-determinant (0, -inf), its pseudo-inverse exists: no error, as NumPy
    x = T.dtensor3()
    f = symdl.function([x], [nlinalg.det(x), *nlinalg.slogdet(x), nlinalg.pinv(x)], mode="c")
    det, sign, logdet, pinv = f(singular)
    np.testing.assert_array_equal(det, [1.0, 0.0])
    np.testing.assert_array_equal(sign, [1.0, 0.0])
    np.testing.assert_array_equal(logdet, [0.0, -np.inf])
    np.testing.assert_allclose(pinv, np.linalg.pinv(singular), atol=1e-12)


def test_a_matrix_that_is_not_square_at_run_time_raises_in_c_as_in_python():
    py_error, c_error = _errors_on_both_backends(nlinalg.matrix_inverse, np.ones((2, 3)))
    assert type(c_error) is type(py_error) is LinAlgError
    assert "matrix_inverse: Last 2 dimensions of the array must be square (input of shape (2, 3))" in str(c_error)
