"""symdl.tensor.slinalg against SciPy and NumPy on every backend (single, batched with broadcast
batch axes, empty, size-1, strided, float32 and float64), its shape rules, its errors, and every
gradient against finite differences on well-conditioned matrices."""

import numpy as np
import pytest
import scipy.linalg

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor import nlinalg, slinalg
from symdl.tensor.nlinalg import LinAlgError
from symdl.tensor.shape import shape_i
from symdl.testing import compare_with_numpy_both_ways, symbolic_inputs_like, verify_grad


def spd(shape, dtype="float64", seed=0):
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


def mT(x):
    return np.swapaxes(x, -1, -2)


def tol(dtype):
    return 2e-4 if dtype == "float32" else 1e-9


SQUARE = [(3, 3), (1, 1), (2, 4, 4), (0, 3, 3), (0, 0)]


@pytest.mark.parametrize("shape", SQUARE, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cholesky_matches_numpy(backend, shape, dtype):
    x = spd(shape, dtype)
    x += np.triu(np.full(x.shape, 7.0, dtype), 1)  # garbage in the upper triangle: the lower factor must not read it
    compare_with_numpy_both_ways(
        # The upper factor reads the upper triangle: that of the transpose is the lower one of a.
        lambda a: [slinalg.cholesky(a), slinalg.cholesky(nlinalg.matrix_transpose(a), lower=False)],
        lambda a: [np.linalg.cholesky(a), mT(np.linalg.cholesky(a))],
        [x],
        backends=[backend],
        rtol=tol(dtype),
    )


# (a shape, b shape, b_ndim): vectors, matrices, stacks that broadcast, empty systems
SOLVE_SHAPES = [
    ((3, 3), (3,), None),
    ((3, 3), (3, 2), None),
    ((1, 1), (1, 4), None),
    ((2, 3, 3), (3,), None),
    ((2, 3, 3), (3, 1), None),
    ((2, 1, 3, 3), (4, 3, 2), None),
    ((3, 3), (2, 3), 1),
    ((2, 3, 3), (2, 3), 1),
    ((0, 3, 3), (3, 2), None),
    ((0, 0), (0, 2), None),
]


def _matrix_rhs(b, b_ndim):
    return b[..., None] if (b_ndim or (1 if b.ndim == 1 else 2)) == 1 else b


def _unmatrix(x, b, b_ndim):
    return x[..., 0] if (b_ndim or (1 if b.ndim == 1 else 2)) == 1 else x


def np_solve(a, b, b_ndim):
    if a.size == 0 or b.size == 0:
        batch = np.broadcast_shapes(a.shape[:-2], _matrix_rhs(b, b_ndim).shape[:-2])
        x = np.zeros(batch + _matrix_rhs(b, b_ndim).shape[-2:], np.result_type(a, b))
    else:
        x = np.linalg.solve(a, _matrix_rhs(b, b_ndim))
    return _unmatrix(x, b, b_ndim)


@pytest.mark.parametrize("shapes", SOLVE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_solves_match_numpy(backend, shapes, dtype):
    a_shape, b_shape, b_ndim = shapes
    a, b = spd(a_shape, dtype, seed=1), gaussian(b_shape, dtype, seed=2)
    lower_a = np.tril(a) + np.triu(np.full(a.shape, 5.0, dtype), 1)  # the upper triangle is garbage

    def build(a_, low_, b_):
        return [
            slinalg.solve(a_, b_, b_ndim=b_ndim),
            slinalg.solve(low_, b_, assume_a="sym", lower=True, b_ndim=b_ndim),
            slinalg.solve(low_, b_, assume_a="pos", lower=True, b_ndim=b_ndim),
            slinalg.solve(nlinalg.matrix_transpose(low_), b_, assume_a="pos", b_ndim=b_ndim),
            slinalg.solve(a_, b_, transposed=True, b_ndim=b_ndim),
            slinalg.solve_triangular(low_, b_, lower=True, b_ndim=b_ndim),
            slinalg.solve_triangular(low_, b_, lower=True, trans="T", unit_diagonal=True, b_ndim=b_ndim),
            slinalg.solve_triangular(nlinalg.matrix_transpose(low_), b_, trans=1, b_ndim=b_ndim),
            slinalg.cho_solve((slinalg.cholesky(a_), True), b_, b_ndim=b_ndim),
            slinalg.cho_solve((slinalg.cholesky(a_, lower=False), False), b_, b_ndim=b_ndim),
        ]

    def reference(a_, low_, b_):
        t = np.tril(low_)
        unit = t.copy()
        steps = np.arange(a_.shape[-1])
        unit[..., steps, steps] = 1
        return [
            np_solve(a_, b_, b_ndim),
            np_solve(a_, b_, b_ndim),
            np_solve(a_, b_, b_ndim),
            np_solve(a_, b_, b_ndim),
            np_solve(mT(a_), b_, b_ndim),
            np_solve(t, b_, b_ndim),
            np_solve(mT(unit), b_, b_ndim),
            np_solve(t, b_, b_ndim),
            np_solve(a_, b_, b_ndim),
            np_solve(a_, b_, b_ndim),
        ]

    compare_with_numpy_both_ways(
        build, reference, [a, lower_a, b], backends=[backend], rtol=tol(dtype), atol=tol(dtype)
    )


def test_strided_inputs_and_integer_right_hand_sides(backend):
    a, b = strided(spd((2, 3, 3), seed=3)), strided(gaussian((2, 3, 2), seed=4))
    compare_with_numpy_both_ways(
        lambda a_, b_: [slinalg.solve(a_, b_), slinalg.solve_triangular(a_, b_, lower=True)],
        lambda a_, b_: [np.linalg.solve(a_, b_), np.linalg.solve(np.tril(a_), b_)],
        [a, b],
        backends=[backend],
    )
    compare_with_numpy_both_ways(
        lambda a_, b_: slinalg.solve(a_, b_),
        lambda a_, b_: np.linalg.solve(a_, b_),
        [spd((3, 3), "float32"), np.array([1, 2, 3], dtype="int32")],
        backends=[backend],
    )


def test_solves_agree_with_scipy():
    a, b = spd((4, 4), seed=5), gaussian((4, 3), seed=6)
    x, y = T.dmatrix("a"), T.dmatrix("b")
    c = scipy.linalg.cholesky(a, lower=True)
    f = symdl.function(
        [x, y],
        [
            slinalg.solve(x, y, assume_a="pos"),
            slinalg.solve(x, y, assume_a="sym"),
            slinalg.solve_triangular(x, y, trans=1, lower=True),
            slinalg.cho_solve((slinalg.cholesky(x), True), y),
            slinalg.cholesky(x, lower=False),
        ],
    )
    got = f(a, b)
    want = [
        scipy.linalg.solve(a, b, assume_a="pos"),
        scipy.linalg.solve(a, b, assume_a="sym"),
        scipy.linalg.solve_triangular(a, b, trans=1, lower=True),
        scipy.linalg.cho_solve((c, True), b),
        scipy.linalg.cholesky(a),
    ]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


EXPM_CASES = [(3, 3), (1, 1), (2, 4, 4), (0, 2, 2), (0, 0)]


@pytest.mark.parametrize("shape", EXPM_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_expm_matches_scipy(backend, shape, dtype):
    x = (gaussian(shape, seed=9) * 2).astype(dtype)
    compare_with_numpy_both_ways(
        slinalg.expm, lambda a: scipy.linalg.expm(a).astype(dtype), [x], backends=[backend], rtol=tol(dtype) * 10
    )


def test_expm_is_accurate_for_large_and_zero_norms():
    x = T.dmatrix("x")
    f = symdl.function([x], slinalg.expm(x))
    big = np.array([[0.0, 30.0], [-30.0, 0.0]])  # a rotation by 30 radians: needs many squarings
    np.testing.assert_allclose(f(big), [[np.cos(30), np.sin(30)], [-np.sin(30), np.cos(30)]], atol=1e-11)
    np.testing.assert_allclose(f(np.zeros((3, 3))), np.eye(3), rtol=0, atol=1e-15)


def test_kron_is_also_in_slinalg():
    assert slinalg.kron is nlinalg.kron


# ------------------------------------------------------------------ shapes and errors
def test_static_shapes_broadcast_the_batch_axes():
    a = T.tensor(shape=(2, 1, 3, 3), dtype="float64")
    b = T.tensor(shape=(4, 3, 2), dtype="float32")
    assert slinalg.solve(a, b).type.shape == (2, 4, 3, 2)
    assert slinalg.solve(a, b).dtype == "float64"
    assert slinalg.solve_triangular(a, T.dvector(shape=(3,))).type.shape == (2, 1, 3)
    assert slinalg.cho_solve((a, True), T.dmatrix(shape=(5, 3)), b_ndim=1).type.shape == (2, 5, 3)
    assert slinalg.cholesky(T.tensor(shape=(None, 4), dtype="float32")).type.shape == (4, 4)
    assert slinalg.expm(a).type.shape == (2, 1, 3, 3)


def test_mismatched_systems_are_refused_at_build_time():
    with pytest.raises(ShapeError, match=r"solve: a \(3, 3\) and b \(4,\) do not fit.*test_slinalg.py"):
        slinalg.solve(T.dmatrix(shape=(3, 3)), T.dvector(shape=(4,)))
    with pytest.raises(ShapeError, match="cannot broadcast"):
        slinalg.solve(T.dtensor3(shape=(2, 3, 3)), T.dtensor3(shape=(5, 3, 1)))
    with pytest.raises(ShapeError, match="cholesky takes square matrices"):
        slinalg.cholesky(T.dmatrix(shape=(2, 3)))
    with pytest.raises(TypeMismatch, match="float16"):
        slinalg.solve(T.dmatrix(), T.tensor("float16", (None,)))
    with pytest.raises(ValueError, match="assume_a"):
        slinalg.solve(T.dmatrix(), T.dvector(), assume_a="banded")
    with pytest.raises(ValueError, match="trans"):
        slinalg.solve_triangular(T.dmatrix(), T.dvector(), trans="X")


def test_bad_matrices_raise_linalg_errors_when_run(backend):
    a, b = T.dmatrix("a"), T.dvector("b")
    not_pd = np.array([[1.0, 2.0], [2.0, 1.0]])
    f = symdl.function([a], slinalg.cholesky(a), mode=backend)
    with pytest.raises(LinAlgError, match="cholesky: a matrix is not positive definite"):
        f(not_pd)
    g = symdl.function([a, b], slinalg.solve(a, b, assume_a="pos"), mode=backend)
    with pytest.raises(LinAlgError, match="not positive definite"):
        g(not_pd, np.ones(2))
    h = symdl.function([a, b], slinalg.solve_triangular(a, b, lower=True), mode=backend)
    with pytest.raises(LinAlgError, match="solve_triangular: Singular matrix"):
        h(np.array([[1.0, 0.0], [3.0, 0.0]]), np.ones(2))


def test_cholesky_can_give_nan_for_the_matrices_that_are_not_positive_definite(backend):
    a = T.dtensor3("a")
    f = symdl.function([a], slinalg.cholesky(a, on_error="nan"), mode=backend)
    out = f(np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]))
    np.testing.assert_array_equal(out[0], np.eye(2))
    assert np.isnan(out[1]).all()


INFER_CASES = [
    ("cholesky", slinalg.cholesky, [spd((2, 3, 3))]),
    ("solve_vector", slinalg.solve, [spd((2, 3, 3)), gaussian((3,))]),
    ("solve_broadcast", slinalg.solve, [spd((2, 1, 3, 3)), gaussian((4, 3, 2))]),
    ("solve_stacked_vectors", lambda a, b: slinalg.solve(a, b, b_ndim=1), [spd((3, 3)), gaussian((5, 3))]),
    ("solve_triangular", slinalg.solve_triangular, [spd((1, 3, 3)), gaussian((2, 3, 4))]),
    ("cho_solve", lambda c, b: slinalg.cho_solve((c, True), b), [spd((3, 3)), gaussian((3, 2))]),
    ("expm", slinalg.expm, [gaussian((2, 3, 3))]),
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


# ------------------------------------------------------------------ gradients (NumPy backend)
def _spd_of(a):
    n = a.shape[-1]
    return a @ nlinalg.matrix_transpose(a) + T.cast(n, a.dtype) * T.eye(n, dtype=a.dtype)


def _triangular_of(a, lower=True):
    """A well-conditioned triangular matrix (and garbage in the other triangle, which is not read)."""
    n = a.shape[-1]
    return a + T.cast(2 * n, a.dtype) * T.eye(n, dtype=a.dtype)


GRAD_CASES = [
    ("cholesky", lambda a: slinalg.cholesky(_spd_of(a)), [(3, 3)]),
    ("cholesky_batched_upper", lambda a: slinalg.cholesky(_spd_of(a), lower=False), [(2, 3, 3)]),
    ("cholesky_raw_lower_triangle", lambda a: slinalg.cholesky(a + 4 * T.eye(3, dtype="float64")), [(3, 3)]),
    ("solve_vector", lambda a, b: slinalg.solve(_spd_of(a), b), [(3, 3), (3,)]),
    ("solve_broadcast", lambda a, b: slinalg.solve(_spd_of(a), b), [(2, 1, 3, 3), (4, 3, 2)]),
    ("solve_stacked_vectors", lambda a, b: slinalg.solve(_spd_of(a), b, b_ndim=1), [(3, 3), (2, 3)]),
    ("solve_sym_raw", lambda a, b: slinalg.solve(a + 5 * T.eye(3, dtype="float64"), b, "sym", True), [(3, 3), (3, 2)]),
    ("solve_pos_raw", lambda a, b: slinalg.solve(a + 5 * T.eye(3, dtype="float64"), b, "pos"), [(3, 3), (3,)]),
    (
        "solve_triangular_lower",
        lambda a, b: slinalg.solve_triangular(_triangular_of(a), b, lower=True),
        [(3, 3), (3, 2)],
    ),
    ("solve_triangular_trans", lambda a, b: slinalg.solve_triangular(_triangular_of(a), b, trans=1), [(2, 3, 3), (3,)]),
    (
        "solve_triangular_unit",
        lambda a, b: slinalg.solve_triangular(a, b, lower=True, trans="T", unit_diagonal=True),
        [(3, 3), (3, 2)],
    ),
    ("cho_solve_lower", lambda c, b: slinalg.cho_solve((_triangular_of(c), True), b), [(3, 3), (3, 2)]),
    ("cho_solve_upper", lambda c, b: slinalg.cho_solve((_triangular_of(c), False), b), [(2, 3, 3), (3,)]),
    ("expm", lambda a: slinalg.expm(a), [(3, 3)]),
    ("expm_batched", lambda a: slinalg.expm(a * 2), [(2, 2, 2)]),
]


@pytest.mark.parametrize("name,build,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradient(reference_backend, name, build, shapes):
    points = [gaussian(s, seed=10 + k) * (0.3 if "unit" in name else 1.0) for k, s in enumerate(shapes)]
    verify_grad(build, points, rng=0)


def test_gradient_in_float32(reference_backend):
    a, b = gaussian((3, 3), "float32", seed=11), gaussian((3,), "float32", seed=12)
    verify_grad(lambda a_, b_: slinalg.cho_solve((slinalg.cholesky(_spd_of(a_)), True), b_), [a, b], rng=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_op_runs_in_c_through_lapack(dtype):
    a, b, v = T.tensor3("a", dtype=dtype), T.tensor3("b", dtype=dtype), T.vector("v", dtype=dtype)
    outputs = [
        slinalg.cholesky(a),
        slinalg.cholesky(a, lower=False, on_error="nan"),
        slinalg.solve(a, b),
        slinalg.solve(a, v, assume_a="sym", lower=True),
        slinalg.solve(a[:1], b, assume_a="pos"),  # a stack of one matrix broadcast against three systems
        slinalg.solve_triangular(a, b, lower=True, trans=1, unit_diagonal=True),
        slinalg.cho_solve((slinalg.cholesky(a), True), v),
        slinalg.expm(a * 0.1),
    ]
    f = symdl.function([a, b, v], outputs, mode="c")
    x, rhs, vec = strided(spd((3, 4, 4), dtype, seed=5)), gaussian((3, 4, 2), dtype, seed=6), gaussian((4,), dtype)
    got = f(x, rhs, vec)
    assert "A->py(" not in f.source() and all(backend == "c" for _, backend, _, _ in f.profile().rows), f.profile()
    unit = np.tril(x, -1) + np.eye(4, dtype=dtype)
    reference = [
        np.linalg.cholesky(x),
        mT(np.linalg.cholesky(mT(x))),
        np.linalg.solve(x, rhs),
        np.linalg.solve(x, vec[:, None])[..., 0],
        np.linalg.solve(x[:1], rhs),
        np.linalg.solve(mT(unit), rhs),
        np.linalg.solve(x, vec[:, None])[..., 0],
        np.stack([scipy.linalg.expm(m.astype("float64") * 0.1) for m in x]).astype(dtype),
    ]
    for g, want in zip(got, reference):
        assert g.dtype == dtype and g.shape == want.shape
        np.testing.assert_allclose(g, want, rtol=tol(dtype), atol=tol(dtype))


def _errors(build, *values):
    """The exceptions that one function raises for ``values`` on py, then on c."""
    raised = []
    for backend in ("py", "c"):
        inputs = symbolic_inputs_like(values)
        f = symdl.function(inputs, build(*inputs), mode=backend)
        with pytest.raises(Exception) as info:
            f(*values)
        raised.append(info.value)
    return raised


NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])
ZERO_ON_DIAGONAL = [[1.0, 0.0], [3.0, 0.0]]
BAD_MATRIX_CASES = [
    ("cholesky", lambda a: slinalg.cholesky(a), [np.stack([np.eye(2), NOT_PD])]),
    ("cholesky_upper", lambda a: slinalg.cholesky(a, lower=False), [NOT_PD]),
    ("solve_pos", lambda a, b: slinalg.solve(a, b, assume_a="pos"), [NOT_PD, np.ones(2)]),
    ("solve", lambda a, b: slinalg.solve(a, b), [np.ones((2, 2)), np.ones((2, 3))]),
    ("solve_vector", lambda a, b: slinalg.solve(a, b), [np.ones((3, 2, 2)), np.ones(2)]),
    ("solve_sym", lambda a, b: slinalg.solve(a, b, assume_a="sym"), [np.zeros((2, 2)), np.ones(2)]),
    ("solve_triangular", lambda a, b: slinalg.solve_triangular(a, b, lower=True), [ZERO_ON_DIAGONAL, [1.0, 1.0]]),
    ("cho_solve", lambda c, b: slinalg.cho_solve((c, True), b), [ZERO_ON_DIAGONAL, [1.0, 1.0]]),
]


@pytest.mark.parametrize("name,build,values", BAD_MATRIX_CASES, ids=[c[0] for c in BAD_MATRIX_CASES])
def test_bad_matrices_raise_the_same_errors_in_c_as_in_python(name, build, values):
    py_error, c_error = _errors(build, *[np.asarray(v, dtype="float64") for v in values])
    assert type(c_error) is type(py_error) is LinAlgError
    assert str(py_error) in str(c_error)


def test_mismatched_systems_at_run_time_raise_shape_errors_in_c():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a, b], slinalg.solve(a, b), mode="c")
    with pytest.raises(ShapeError, match=r"solve: a \(3, 3\) and b \(2, 1\) do not fit: 3 equations, 2 rows in b"):
        f(np.eye(3), np.ones((2, 1)))
    x, y = T.dtensor3("x"), T.dtensor3("y")
    g = symdl.function([x, y], slinalg.solve(x, y), mode="c")
    with pytest.raises(ShapeError, match="do not broadcast"):
        g(np.ones((2, 3, 3)) + np.eye(3), np.ones((3, 3, 1)))
