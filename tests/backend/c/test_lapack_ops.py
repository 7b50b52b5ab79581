"""kernels/c/lapack_ops.h, the LAPACK implementations prepared for the C backend: compiled on its
own against scipy-openblas32, each function compared with NumPy through ctypes (batched, empty,
size-1, float32 and float64), and the status codes checked by a C program under AddressSanitizer."""

import ctypes
import subprocess

import numpy as np
import pytest

from symdl.backend.c import build

CHECK = __file__.replace("test_lapack_ops.py", "lapack_check.c")
OK, SINGULAR, NOT_PD = 0, 1, 2


def _compile(out, *flags):
    import scipy_openblas32 as ob

    libdir = ob.get_lib_dir()
    args = [
        *build.compiler_command(),
        "-O2",
        *flags,
        "-I",
        str(build.kernels_dir()),
        CHECK,
        "-o",
        str(out),
        "-L",
        libdir,
        "-lscipy_openblas",
        f"-Wl,-rpath,{libdir}",
        "-lm",
    ]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    path = _compile(tmp_path_factory.mktemp("lapack") / "liblapack_check.so", "-shared", "-fPIC", "-Wall", "-Werror")
    return ctypes.CDLL(str(path))


def test_status_codes_and_edge_cases_under_address_sanitizer(tmp_path):
    exe = _compile(tmp_path / "lapack_check", "-DSD_LA_CHECK_MAIN", "-g", "-fsanitize=address,undefined",
                   "-fno-sanitize-recover=all")  # fmt: skip
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failures" in proc.stdout


class Caller:
    """Calls ``sd_la_<name>_<f32|f64>`` with arrays (passed by pointer) and ints."""

    def __init__(self, lib, dtype):
        self.lib, self.suffix = lib, "f32" if dtype == np.float32 else "f64"

    def __call__(self, name, *args):
        fn = getattr(self.lib, f"sd_la_{name}_{self.suffix}")
        failed = ctypes.c_int64(-1)
        converted = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous
                converted.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, tuple):  # (value,) for an int flag
                converted.append(ctypes.c_int(a[0]))
            else:
                converted.append(ctypes.c_int64(a))
        fn.restype = ctypes.c_int
        status = fn(*converted, ctypes.byref(failed))
        return status, failed.value


def spd(batch, n, dtype, seed=0):
    a = np.random.default_rng(seed).standard_normal((batch, n, n))
    return np.ascontiguousarray(a @ np.swapaxes(a, -1, -2) + n * np.eye(n), dtype=dtype)


def gaussian(shape, dtype, seed=0):
    return np.ascontiguousarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 3, 6]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_cholesky_inverse_and_determinants_match_numpy(lib, dtype, n):
    call = Caller(lib, dtype)
    a = spd(2, n, dtype)
    a_garbage = a + np.triu(np.full(a.shape, 9.0, dtype), 1)  # only the lower triangle is read
    low, up = np.empty_like(a), np.empty_like(a)
    assert call("cholesky", 2, n, a_garbage, low, (1,)) == (OK, -1)
    np.testing.assert_allclose(low, np.linalg.cholesky(a), **tol(dtype))
    assert call("cholesky", 2, n, np.ascontiguousarray(np.swapaxes(a_garbage, -1, -2)), up, (0,))[0] == OK
    np.testing.assert_allclose(up, np.swapaxes(np.linalg.cholesky(a), -1, -2), **tol(dtype))
    inv = np.empty_like(a)
    assert call("inv", 2, n, a, inv)[0] == OK
    np.testing.assert_allclose(inv, np.linalg.inv(a), **tol(dtype))
    sign, logdet, det = np.empty(2, dtype), np.empty(2, dtype), np.empty(2, dtype)
    flipped = np.ascontiguousarray(a[:, ::-1]) if n > 1 else a  # a row swap: a negative determinant
    assert call("slogdet", 2, n, flipped, sign, logdet)[0] == OK
    want_sign, want_log = np.linalg.slogdet(flipped)
    np.testing.assert_array_equal(sign, want_sign)
    np.testing.assert_allclose(logdet, want_log, **tol(dtype))
    assert call("det", 2, n, flipped, det)[0] == OK
    np.testing.assert_allclose(det, np.linalg.det(flipped), rtol=tol(dtype)["rtol"] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", [(3, 2), (1, 1), (6, 1), (0, 2), (3, 0)])
def test_solves_match_numpy(lib, dtype, n, k):
    call = Caller(lib, dtype)
    a, b = spd(2, n, dtype, seed=1), gaussian((2, n, k), dtype, seed=2)
    x = np.empty_like(b)
    reference = np.zeros_like(b) if n == 0 or k == 0 else None

    def solve(m):
        return reference if reference is not None else np.linalg.solve(m, b)

    lower = np.tril(a) + np.triu(np.full(a.shape, 7.0, dtype), 1)
    for assume, flag_lower, matrix in ((0, 0, a), (1, 1, lower), (2, 1, lower), (2, 0, np.swapaxes(lower, -1, -2))):
        assert call("solve", 2, n, k, np.ascontiguousarray(matrix), b, x, (assume,), (flag_lower,))[0] == OK
        np.testing.assert_allclose(x, solve(a), **tol(dtype), err_msg=f"assume {assume}")
    t = np.tril(a)
    for trans, matrix in ((0, t), (1, np.swapaxes(t, -1, -2))):
        assert call("solve_triangular", 2, n, k, lower, b, x, (1,), (trans,), (0,))[0] == OK
        np.testing.assert_allclose(x, solve(matrix), **tol(dtype), err_msg=f"trans {trans}")
    unit = t.copy()
    unit[:, np.arange(n), np.arange(n)] = 1
    assert call("solve_triangular", 2, n, k, lower, b, x, (1,), (0,), (1,))[0] == OK
    np.testing.assert_allclose(x, solve(unit), **tol(dtype))
    factor = np.ascontiguousarray(np.linalg.cholesky(a)) if n else a
    assert call("cho_solve", 2, n, k, factor, b, x, (1,))[0] == OK
    np.testing.assert_allclose(x, solve(a), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_eigh_and_expm_match_numpy(lib, dtype, n):
    call = Caller(lib, dtype)
    a = spd(3, n, dtype, seed=3)
    w, v = np.empty((3, n), dtype), np.empty_like(a)
    assert call("eigh", 3, n, a, w, v, (1,))[0] == OK
    want_w, want_v = np.linalg.eigh(a)
    np.testing.assert_allclose(w, want_w, **tol(dtype))
    # Eigenvectors are unique up to sign: compare |v| and a @ v = v * w.
    np.testing.assert_allclose(np.abs(v), np.abs(want_v), **tol(dtype))
    np.testing.assert_allclose(a @ v, v * w[:, None, :], rtol=1e-3 if dtype == np.float32 else 1e-8, atol=1e-3)
    x = gaussian((3, n, n), dtype, seed=4) * np.array([0.1, 1.0, 5.0], dtype)[:, None, None]
    out = np.empty_like(x)
    assert call("expm", 3, n, x, out)[0] == OK
    scipy_linalg = pytest.importorskip("scipy.linalg")
    np.testing.assert_allclose(out, scipy_linalg.expm(x.astype(np.float64)), rtol=tol(dtype)["rtol"] * 10, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(4, 3), (3, 4), (1, 1), (5, 1), (3, 0), (0, 3)])
def test_svd_qr_and_pinv_match_numpy(lib, dtype, m, n):
    call = Caller(lib, dtype)
    a = gaussian((2, m, n), dtype, seed=5)
    k = min(m, n)
    for full in (1, 0):
        ucols, vrows = (m, n) if full else (k, k)
        u, s, vt = np.empty((2, m, ucols), dtype), np.empty((2, k), dtype), np.empty((2, vrows, n), dtype)
        assert call("svd", 2, m, n, a, u, s, vt, (full,), (1,))[0] == OK
        want_u, want_s, want_vt = np.linalg.svd(a, full_matrices=bool(full))
        np.testing.assert_allclose(s, want_s, **tol(dtype))
        np.testing.assert_allclose((u[..., :k] * s[:, None, :]) @ vt[:, :k], a, **tol(dtype))
        np.testing.assert_allclose(np.abs(u), np.abs(want_u), **tol(dtype))
        np.testing.assert_allclose(np.abs(vt), np.abs(want_vt), **tol(dtype))
    values = np.empty((2, k), dtype)
    assert call("svd", 2, m, n, a, u, values, vt, (0,), (0,))[0] == OK
    np.testing.assert_allclose(values, np.linalg.svd(a, compute_uv=False), **tol(dtype))
    for mode, name in ((0, "reduced"), (1, "complete"), (2, "r")):
        qcols, rrows = (m, m) if name == "complete" else (k, k)
        q, r = np.empty((2, m, qcols), dtype), np.empty((2, rrows, n), dtype)
        assert call("qr", 2, m, n, a, q, r, (mode,))[0] == OK
        want_r = np.linalg.qr(a, mode=name) if name == "r" else np.linalg.qr(a, mode=name)[1]
        np.testing.assert_allclose(r, want_r, **tol(dtype), err_msg=name)
        if name != "r":
            np.testing.assert_allclose(q, np.linalg.qr(a, mode=name)[0], **tol(dtype), err_msg=name)
    p = np.empty((2, n, m), dtype)
    assert call("pinv", 2, m, n, a, p)[0] == OK
    np.testing.assert_allclose(p, np.linalg.pinv(a), **tol(dtype))


def test_a_failing_matrix_inside_a_batch_is_reported_with_its_index(lib):
    call = Caller(lib, np.float64)
    a = spd(3, 3, np.float64)
    a[1] = [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # not positive definite
    out = np.empty_like(a)
    assert call("cholesky", 3, 3, a, out, (1,)) == (NOT_PD, 1)
    np.testing.assert_allclose(out[2], np.linalg.cholesky(a[2]))  # the others are computed
    a[1] = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 1.0]]  # singular
    assert call("inv", 3, 3, a, out) == (SINGULAR, 1)
