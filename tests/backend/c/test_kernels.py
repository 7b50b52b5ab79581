"""The C kernels against NumPy where they are easy to get wrong: special values of the
vectorized float32 maths, integer division, reductions over every layout, BLAS with strided
operands, buffers reused across calls, and large sizes that run on several threads."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T

SPECIAL = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 1e-30, 1e-8, -1e-8, 0.1, 0.5, 0.625, 0.7, 1.0, -1.0, 2.0, -2.0,
                    10.0, -10.0, 44.0, 80.0, 88.7, 88.8, 89.0, -87.0, -103.0, -104.0, -120.0, 1e30, -1e30, 3e38,
                    np.inf, -np.inf, np.nan], dtype="float32")  # fmt: skip


def _ulp_close(got, want, ulps):
    got, want = np.asarray(got, "float64"), np.asarray(want, "float64")
    same_nan = np.isnan(got) == np.isnan(want)
    assert same_nan.all(), (got[~same_nan], want[~same_nan])
    ok = np.isnan(want) | (got == want)
    spacing = np.abs(np.spacing(want.astype("float32"))).astype("float64")
    # subnormal results: absolute error of a few subnormal steps
    spacing = np.maximum(spacing, 1.4e-45)
    with np.errstate(invalid="ignore"):
        ok |= np.abs(got - want) <= ulps * spacing
    assert ok.all(), list(zip(got[~ok], want[~ok]))


@pytest.mark.parametrize(
    "name, fn, ref",
    [
        ("exp", T.exp, np.exp),
        ("log", T.log, np.log),
        ("log1p", T.log1p, np.log1p),
        ("expm1", T.expm1, np.expm1),
        ("tanh", T.tanh, np.tanh),
        ("sigmoid", T.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
        ("softplus", T.softplus, lambda v: np.logaddexp(v, 0)),
    ],
)
def test_vectorized_float32_maths_matches_numpy_on_special_values_and_random_ranges(name, fn, ref):
    rng = np.random.default_rng(0)
    values = np.concatenate([SPECIAL, -SPECIAL, rng.standard_normal(4000).astype("float32") * 20,
                             rng.uniform(-1, 1, 4000).astype("float32"), np.exp(rng.uniform(-80, 80, 4000)).astype("float32")])  # fmt: skip
    x = T.fvector("x")
    f = symdl.function([x], fn(x), mode="c")
    with np.errstate(all="ignore"):
        want = ref(values.astype("float64")).astype("float32")
        got = f(values)
    assert got.dtype == np.float32
    _ulp_close(got, want, ulps=4)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint32", "float32", "float64"])
def test_floor_division_and_modulo_follow_numpy_including_zero_divisors(dtype):
    a = np.array([7, -7, 7, -7, 0, 5, -128 if dtype == "int8" else -100, 3], dtype="int64")
    b = np.array([2, 2, -2, -2, 3, 0, -1, 0], dtype="int64")
    if np.dtype(dtype).kind == "u":
        a, b = np.abs(a), np.abs(b)
    a, b = a.astype(dtype), b.astype(dtype)
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = symdl.function([x, y], [x // y, x % y], mode="c")
    q, r = f(a, b)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(q, a // b)
        np.testing.assert_array_equal(r, a % b)


@pytest.mark.parametrize("axis", [None, 0, 1, 2, (0, 2), (1, 2)])
@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "all", "any"])
def test_reductions_over_transposed_and_strided_inputs(kind, axis):
    rng = np.random.default_rng(1)
    base = rng.uniform(0.5, 1.5, (6, 5, 8)).astype("float32")
    view = base.transpose(2, 0, 1)[:, ::2, 1:]
    if kind in ("all", "any"):
        view = view > 1.0
    x = T.tensor3("x", dtype=str(view.dtype))
    f = symdl.function([x], getattr(T, kind)(x, axis=axis), mode="c")
    got = f(view)
    want = getattr(np, kind)(view, axis=axis)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_large_float32_sums_are_accurate_and_parallel_paths_agree():
    rng = np.random.default_rng(2)
    v = (rng.random((3000, 700)) + 1e3).astype("float32")
    x = T.fmatrix("x")
    f = symdl.function([x], [x.sum(), x.sum(axis=0), x.sum(axis=1), x.max(axis=0), x.argmax(axis=1)], mode="c")
    total, cols, rows, mx, am = f(v)
    exact = v.astype("float64")
    np.testing.assert_allclose(total, exact.sum(), rtol=1e-6)
    np.testing.assert_allclose(cols, exact.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(rows, exact.sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(mx, v.max(axis=0))
    np.testing.assert_array_equal(am, v.argmax(axis=1))


def test_nan_propagates_through_max_min_and_argmax_as_in_numpy():
    v = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -1.0]], "float32")
    x = T.fmatrix("x")
    f = symdl.function([x], [x.max(axis=1), x.min(axis=0), x.argmax(axis=1), T.maximum(x, 2.0)], mode="c")
    for got, want in zip(f(v), [v.max(axis=1), v.min(axis=0), v.argmax(axis=1), np.maximum(v, np.float32(2))]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_with_transposed_and_sliced_operands(ta, tb, dtype):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 4)).astype(dtype)
    a_in = np.ascontiguousarray(a.T).T if ta else a
    b_in = np.ascontiguousarray(np.pad(b, ((0, 0), (0, 3))))[:, :4] if tb else b
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    f = symdl.function([x, y, v], [T.dot(x, y), T.dot(x, v), T.dot(v, y), T.dot(v, v), T.dot(x[::2], y)], mode="c")
    vv = rng.standard_normal(5).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(f(a_in, b_in, vv), [a @ b, a @ vv, vv @ b, vv @ vv, a[::2] @ b]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_matmul_broadcasts_batches():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 1, 4, 5)).astype("float32")
    b = rng.standard_normal((2, 5, 6)).astype("float32")
    x, y = T.tensor4("x"), T.tensor3("y")
    f = symdl.function([x, y], T.matmul(x, y), mode="c")
    np.testing.assert_allclose(f(a, b), np.matmul(a, b), rtol=1e-5, atol=1e-5)


def test_buffers_are_reused_across_calls_of_different_sizes_without_mixing_values():
    x = T.fvector("x")
    y = T.exp(x) * 2
    z = (y + 1).sum() + (y * y).max()
    f = symdl.function([x], [z, T.sqrt(T.abs(x))], mode="c")
    rng = np.random.default_rng(5)
    for n in [10, 1000, 10, 100000, 7, 1]:
        v = rng.standard_normal(n).astype("float32")
        got_z, got_s = f(v)
        e = np.exp(v) * 2
        np.testing.assert_allclose(got_z, (e + 1).sum() + (e * e).max(), rtol=1e-5)
        np.testing.assert_allclose(got_s, np.sqrt(np.abs(v)), rtol=1e-6)


def test_large_elementwise_loops_match_numpy_on_one_and_on_all_threads():
    from symdl.backend.c import build

    rng = np.random.default_rng(6)
    a = rng.standard_normal((1000, 1001)).astype("float32")
    b = rng.standard_normal(1001).astype("float32")
    x, y = T.fmatrix("x"), T.fvector("y")
    f = symdl.function([x, y], T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y), mode="c")
    want = np.tanh(a * b + np.exp(-a)) * 2 + np.log1p(b * b)
    rt = build.runtime()
    try:
        for threads in (1, 0):
            rt.set_num_threads(threads)
            np.testing.assert_allclose(f(a, b), want, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(f(a.T.copy().T, b), want, rtol=1e-5, atol=1e-5)
    finally:
        rt.set_num_threads(symdl.config.num_threads)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, cols", [(256, 160), (40, 600)])  # split by rows, by columns
@pytest.mark.parametrize("added", ["vector", "row", "column", "matrix", "transposed", "scalar"])
def test_products_plus_a_broadcast_value_match_numpy_on_one_and_two_threads(dtype, rows, cols, added):
    # dot(x, W) + c is one gemm whose threads each fill their block of the output with c
    from symdl.backend.c import build

    rng = np.random.default_rng(9)
    a = rng.standard_normal((rows, 100)).astype(dtype)
    w = rng.standard_normal((100, cols)).astype(dtype)
    c = {
        "vector": rng.standard_normal(cols),
        "row": rng.standard_normal((1, cols)),
        "column": rng.standard_normal((rows, 1)),
        "matrix": rng.standard_normal((rows, cols)),
        "transposed": rng.standard_normal((cols, rows)).T,
        "scalar": np.array(0.5),
    }[added].astype(dtype)
    x, W = T.matrix("x", dtype=dtype), T.matrix("W", dtype=dtype)
    C = T.tensor(dtype=dtype, shape=(None,) * c.ndim, name="c")
    f = symdl.function([x, W, C], T.dot(x, W) + C, mode="c")
    assert any("gemm" in str(n.op) for n in f.graph.toposort())
    rt = build.runtime()
    try:
        for threads in (1, 2):
            rt.set_num_threads(threads)
            tol = 1e-4 if dtype == "float32" else 1e-10
            np.testing.assert_allclose(f(a, w, c), a @ w + c, rtol=tol, atol=tol)
    finally:
        rt.set_num_threads(symdl.config.num_threads)


def test_views_shapes_joins_and_allocs_in_c():
    x = T.fmatrix("x")
    n = T.lscalar("n")
    parts = [
        x.T,
        x.dimshuffle(1, "x", 0),
        T.reshape(x.T, (-1,)),
        x[1:, ::-2],
        x[n],
        T.concatenate([x, x * 2], axis=1),
        T.alloc(x[0], 3, x.shape[0], x.shape[1]),
        x.shape,
    ]
    f = symdl.function([x, n], parts, mode="c")
    v = np.arange(12, dtype="float32").reshape(3, 4)
    want = [v.T, v.T[:, None, :], v.T.reshape(-1), v[1:, ::-2], v[1], np.concatenate([v, v * 2], 1),
            np.broadcast_to(v[0], (3, 3, 4)), np.array(v.shape)]  # fmt: skip
    report = f.profile()
    for got, w in zip(f(v, 1), want):
        np.testing.assert_array_equal(got, w)
    assert all(backend == "c" for _, backend, _, _ in report.rows)


@pytest.mark.parametrize(
    "name, ref", [("logf", np.log), ("log1pf", np.log1p), ("expm1f", np.expm1), ("tanhf", np.tanh)]
)
def test_polynomial_fallbacks_used_without_libmvec_match_numpy(name, ref, tmp_path):
    """Where glibc's vector maths is missing, these polynomials serve instead: check them too."""
    import ctypes

    from symdl.backend.c import build

    source = (
        "#include <symdl_math.h>\n"
        "void run(int64_t n, const float *x, float *o) {\n"
        "#pragma omp simd\n"
        f"    for (int64_t i = 0; i < n; i++) o[i] = sd_{name}_poly(x[i]);\n"
        "}\n"
    )
    with symdl.config.change(compiledir=str(tmp_path)):
        path = build.build(build.cache_key(source, name), source, build.GEN_FLAGS, ["-lm"])
    lib = ctypes.CDLL(str(path))
    rng = np.random.default_rng(7)
    values = np.concatenate([SPECIAL, -SPECIAL, rng.standard_normal(4000).astype("float32") * 20,
                             np.exp(rng.uniform(-80, 80, 4000)).astype("float32")])  # fmt: skip
    out = np.empty_like(values)
    lib.run(ctypes.c_int64(values.size), values.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
    with np.errstate(all="ignore"):
        want = ref(values.astype("float64")).astype("float32")
    _ulp_close(out, want, ulps=4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_in_c_matches_python_on_any_axis_and_layout(dtype):
    from symdl.tensor.nnet import basic as nnet

    rng = np.random.default_rng(8)
    x, y, t, x3 = T.matrix("x", dtype=dtype), T.ivector("y"), T.matrix("t", dtype=dtype), T.tensor3("x3", dtype=dtype)
    outs = [nnet.Softmax(1)(x), nnet.LogSoftmax(1)(x), nnet.SoftmaxCrossentropyWithLogits()(x, y),
            nnet.SoftmaxCrossentropyWithLogits()(x, t), nnet.Softmax(1)(x3), nnet.LogSoftmax(0)(x3)]  # fmt: skip
    fc = symdl.function([x, y, t, x3], outs, mode="c")
    fp = symdl.function([x, y, t, x3], outs, mode="py")
    assert all(backend == "c" for _, backend, _, _ in fc.profile().rows)
    xv = (rng.standard_normal((5, 7)) * 5).astype(dtype)
    yv = rng.integers(0, 7, 5).astype("int32")
    tv = rng.random((5, 7)).astype(dtype)
    tv[:, 2] = 0
    x3v = np.ascontiguousarray(rng.standard_normal((4, 3, 6)).astype(dtype)).transpose(1, 0, 2)
    for got, want in zip(fc(xv, yv, tv, x3v), fp(xv, yv, tv, x3v)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError, match="out of range"):
        fc(xv, np.full(5, 7, "int32"), tv, x3v)


def test_large_fused_reductions_on_every_parallel_strategy_match_numpy():
    rng = np.random.default_rng(9)
    v = rng.uniform(-1, 1, (2000, 600)).astype("float32")
    x = T.fmatrix("x")
    outs = [T.exp(x).sum(axis=0), T.exp(x).sum(axis=1), T.exp(x).sum(), T.tanh(x).max(axis=0), (x * x).min(axis=1)]
    f = symdl.function([x], outs, mode="c")
    assert all(backend == "c" for _, backend, _, _ in f.profile().rows)
    e = np.exp(v.astype("float64"))
    want = [e.sum(axis=0), e.sum(axis=1), e.sum(), np.tanh(v).max(axis=0), (v * v).min(axis=1)]
    for got, w in zip(f(v), want):
        np.testing.assert_allclose(got, w, rtol=2e-6)


def test_booleans_inside_fused_loops_are_word_sized_and_keep_numpy_values():
    # A byte-wide boolean between float lanes kept gcc from vectorizing cleanly (the ReLU
    # gradient ran 5x slower than an add); the values must stay NumPy's 0/1 through every bool op.
    rng = np.random.default_rng(11)
    a, b = (rng.standard_normal((33, 70)).astype("float32") for _ in range(2))
    a[0, :3] = [np.nan, 0.0, -0.0]
    x, y = T.fmatrix("x"), T.fmatrix("y")
    relu_grad = symdl.function([x, y], (x > 0) * y, mode="c")
    assert "uint8_t t" not in relu_grad.source()
    np.testing.assert_array_equal(relu_grad(a, b), (a > 0) * b)
    np.testing.assert_array_equal(relu_grad(a[:, ::3], b[:, ::3]), (a[:, ::3] > 0) * b[:, ::3])
    mixed = T.or_(x > 0, y < 0) + T.and_(x < y, T.invert(T.eq(x, y)))
    f = symdl.function([x, y], [mixed, T.xor(x > 0, y > 0) * 1.5, T.cast(x > y, "int8") * 3], mode="c")
    got = f(a, b)
    want = [
        (a > 0) | (b < 0) | ((a < b) & ~(a == b)),
        np.logical_xor(a > 0, b > 0) * 1.5,
        (a > b).astype("int8") * np.int8(3),
    ]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32", "float64", "complex128"])
@pytest.mark.parametrize("run", [1, 15, 16, 300, 1000])
def test_inputs_broadcast_along_the_last_axis_match_numpy(dtype, run):
    # (rows, 1) columns against (rows, run) matrices: read from widened buffers where every other
    # operand is contiguous (runs of 16 or more, pieces of 256), element by element otherwise
    rng = np.random.default_rng(run)
    x, c1, c2 = T.matrix("x", dtype=dtype), T.matrix("c1", dtype=dtype), T.matrix("c2", dtype=dtype)
    f = symdl.function([x, c1, c2], [x * c1 + c2, c1 * 3 - x], mode="c")
    xv = (rng.normal(size=(5, run)) * 10).astype(dtype)
    cv = (rng.normal(size=(5, 1)) * 10).astype(dtype)
    dv = (rng.normal(size=(5, 1)) * 10).astype(dtype)
    # float32 products and sums may be contracted to one rounding (fma) where NumPy rounds twice
    tol = {"rtol": 1e-5, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-12}
    for got, want in zip(f(xv, cv, dv), [xv * cv + dv, cv * 3 - xv]):
        np.testing.assert_allclose(got, want.astype(got.dtype), **tol)
    strided = np.asfortranarray(xv)  # the matrix not contiguous along its rows: no widening
    for got, want in zip(f(strided, cv, dv), [xv * cv + dv, cv * 3 - xv]):
        np.testing.assert_allclose(got, want.astype(got.dtype), **tol)


def test_five_columns_in_one_loop_and_a_tanh_of_a_column_match_numpy():
    rng = np.random.default_rng(9)
    x = T.fmatrix("x")
    cols = [T.fmatrix(f"c{i}") for i in range(5)]
    out = x
    for c in cols:
        out = out * c + 1.0  # five widened operands: more than the buffers, element by element
    f = symdl.function([x, *cols], [out, T.tanh(cols[0] * x)], mode="c")
    xv = rng.normal(size=(7, 600)).astype("float32")
    cv = [rng.normal(size=(7, 1)).astype("float32") for _ in cols]
    want = xv
    for c in cv:
        want = want * c + 1.0
    got, tanh = f(xv, *cv)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    _ulp_close(tanh, np.tanh(cv[0].astype("float64") * xv).astype("float32"), 4)
