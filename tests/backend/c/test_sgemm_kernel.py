"""symdl's AVX-512 sgemm (kernels/c/sgemm_avx512.h), which the C runtime calls before OpenBLAS:
the C check of every edge case against a naive loop, plain and under AddressSanitizer, and the
float32 products of compiled functions against NumPy on odd, strided and transposed operands."""

import subprocess

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.c import build

CHECK = __file__.replace("test_sgemm_kernel.py", "sgemm_check.c")


def _run_check(tmp_path, *flags):
    cc = build.compiler_command()  # present: conftest.py skips this directory without one
    exe = tmp_path / "sgemm_check"
    args = [
        *cc,
        "-O3",
        "-march=native",
        "-fno-math-errno",
        *flags,
        "-I",
        str(build.kernels_dir()),
        CHECK,
        "-o",
        str(exe),
    ]
    subprocess.run(args, check=True, capture_output=True, text=True)
    proc = subprocess.run([str(exe), "150"], capture_output=True, text=True, timeout=600)
    if proc.returncode == 77:
        pytest.skip("this CPU has no AVX-512: the kernel declines and OpenBLAS computes every product")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failures" in proc.stdout


def test_the_kernel_matches_a_naive_loop_on_every_edge_case(tmp_path):
    _run_check(tmp_path)


def test_the_kernel_is_clean_under_address_sanitizer(tmp_path):
    _run_check(tmp_path, "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


SHAPES = [  # (M, K, N): the MLP's products, odd sizes around the kernel's 8 x 48 tiles, and tiny ones
    (128, 784, 512),
    (1, 1, 1),
    (1, 300, 7),
    (9, 17, 49),
    (33, 200, 10),
    (257, 65, 97),
    (8, 1, 48),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans", ["nn", "tn", "nt", "tt"])
def test_float32_products_match_numpy(shape, trans):
    M, K, N = shape
    rng = np.random.default_rng(M * 1000 + K + N)
    a_shape = (K, M) if trans[0] == "t" else (M, K)
    b_shape = (N, K) if trans[1] == "t" else (K, N)
    a, b = T.fmatrix("a"), T.fmatrix("b")
    op_a = a.T if trans[0] == "t" else a
    op_b = b.T if trans[1] == "t" else b
    c = T.fmatrix("c")
    f = symdl.function([a, b, c], [T.dot(op_a, op_b), c * 0.5 - 2 * T.dot(op_a, op_b)], mode="c")
    A = rng.standard_normal(a_shape).astype(np.float32)
    B = rng.standard_normal(b_shape).astype(np.float32)
    C = rng.standard_normal((M, N)).astype(np.float32)
    ref_a = A.T.astype(np.float64) if trans[0] == "t" else A.astype(np.float64)
    ref_b = B.T.astype(np.float64) if trans[1] == "t" else B.astype(np.float64)
    product = ref_a @ ref_b
    got, mixed = f(A, B, C)
    tol = 1e-5 * np.sqrt(K) * (np.abs(ref_a) @ np.abs(ref_b)).max()
    np.testing.assert_allclose(got, product, atol=tol + 1e-6, rtol=1e-5)
    np.testing.assert_allclose(mixed, 0.5 * C - 2 * product, atol=2 * tol + 1e-5, rtol=1e-5)


def test_strided_operands_and_nan_propagate_as_in_numpy():
    rng = np.random.default_rng(7)
    a, b = T.fmatrix("a"), T.fmatrix("b")
    f = symdl.function([a, b], T.dot(a, b), mode="c")
    A = rng.standard_normal((70, 130)).astype(np.float32)[::2, 1::2]  # (35, 65), both strides uneven
    B = rng.standard_normal((65, 300)).astype(np.float32)[:, ::3]  # (65, 100)
    np.testing.assert_allclose(f(A, B), A.astype(np.float64) @ B, rtol=1e-4, atol=1e-4)
    A = np.ascontiguousarray(A)
    A[3, 4] = np.nan
    B = np.ascontiguousarray(B)
    B[10, 7] = np.inf
    got, want = f(A, B), A @ B
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
