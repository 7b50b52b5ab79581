"""The hand-written C kernels of kernels/c (conv.h, pool.h, philox.h), compiled here
into a small library and called through ctypes, against the NumPy implementations of the ops
(themselves checked against loop references in test_conv.py and test_pool.py) and the
Philox-4x32-10 known answers."""

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from symdl.tensor.nnet.conv import Conv2d, _Geometry, conv2d_forward, conv2d_grad_inputs, conv2d_grad_weights
from symdl.tensor.nnet.pool import Pool2d, _Layout, pool_backward, pool_forward
from symdl.tensor.random import philox_words, uniform24, uniform53

KERNELS = Path(__file__).resolve().parents[3] / "kernels" / "c"

HARNESS = r"""
#include <stdint.h>
void scipy_cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                       int);
void scipy_cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                       double *, int);
void scipy_openblas_set_num_threads(int);
int scipy_openblas_get_num_threads(void);
#include "conv.h"
#include "philox.h"
#include "pool.h"

static void gemm32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                   int64_t ldb, float beta, float *C, int64_t ldc)
{
    scipy_cblas_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb,
                      beta, C, (int)ldc);
}
static void gemm64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, const double *B,
                   int64_t ldb, double beta, double *C, int64_t ldc)
{
    scipy_cblas_dgemm(101, ta ? 112 : 111, tb ? 112 : 111, (int)M, (int)N, (int)K, 1.0, A, (int)lda, B, (int)ldb,
                      beta, C, (int)ldc);
}
static int conv_call(int which, int f64, const sd_conv2d_geom *g, const void *a, const void *b, void *out, int nt)
{
    if (f64)
        return which == 0 ? sd_conv2d_forward_f64(g, a, b, out, gemm64, nt)
             : which == 1 ? sd_conv2d_grad_input_f64(g, a, b, out, gemm64, nt)
                          : sd_conv2d_grad_weights_f64(g, a, b, out, gemm64, nt);
    return which == 0 ? sd_conv2d_forward_f32(g, a, b, out, gemm32, nt)
         : which == 1 ? sd_conv2d_grad_input_f32(g, a, b, out, gemm32, nt)
                      : sd_conv2d_grad_weights_f32(g, a, b, out, gemm32, nt);
}
/* With threads > 1 the kernel calls the BLAS from OpenMP threads: limit the BLAS to one. */
int conv(int which, int f64, const sd_conv2d_geom *g, const void *a, const void *b, void *out, int threads)
{
    int blas = scipy_openblas_get_num_threads();
    if (threads > 1)
        scipy_openblas_set_num_threads(1);
    int status = conv_call(which, f64, g, a, b, out, threads);
    if (threads > 1)
        scipy_openblas_set_num_threads(blas);
    return status;
}
void pool(int backward, int f64, const sd_pool2d_geom *g, const void *x, const void *gy, void *out, int threads)
{
    if (f64)
        backward ? sd_pool2d_backward_f64(g, x, gy, out, threads) : sd_pool2d_forward_f64(g, x, out, threads);
    else
        backward ? sd_pool2d_backward_f32(g, x, gy, out, threads) : sd_pool2d_forward_f32(g, x, out, threads);
}
uint64_t philox_fill(const uint64_t *state, int64_t n, uint32_t *words) { return sd_philox_fill(state, n, words); }
uint32_t philox_word(const uint64_t *state, uint64_t i) { return sd_philox_word(state, i); }
void to_uniform(const uint32_t *w, int64_t n, float *u24, double *u53)
{
    for (int64_t i = 0; i < n; i++)
        u24[i] = sd_uniform24(w[i]);
    for (int64_t i = 0; i < n / 2; i++)
        u53[i] = sd_uniform53(w[2 * i], w[2 * i + 1]);
}
void to_bernoulli(const uint32_t *w, int64_t n, double p, uint8_t *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = (uint8_t)sd_bernoulli(w[i], p);
}
"""


class ConvGeom(ctypes.Structure):
    _fields_ = [(f, ctypes.c_int64) for f in "n c h w o kh kw groups pt pb pl pr sh sw dh dw oh ow".split()]
    _fields_ += [("flip", ctypes.c_int)]


class PoolGeom(ctypes.Structure):
    _fields_ = [(f, ctypes.c_int64) for f in "planes h w oh ow kh kw sh sw ph pw".split()] + [("mode", ctypes.c_int)]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    compiler = shutil.which("gcc") or shutil.which("cc")
    try:
        import scipy_openblas32 as blas
    except ImportError:
        pytest.skip("scipy_openblas32 is not installed")
    if compiler is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("ckernels")
    (d / "harness.c").write_text(HARNESS)
    libdir = blas.get_lib_dir()
    # Tiles of a few output rows, so the tiled paths of conv.h are exercised on these small images.
    cmd = [compiler, "-O2", "-fopenmp", "-shared", "-fPIC", "-Wall", "-Werror", "-Wno-unused-function",
           "-DSD_CONV2D_TILE_ELEMENTS=200",
           "-I", str(KERNELS), str(d / "harness.c"), "-o", str(d / "harness.so"),
           "-L", libdir, "-lscipy_openblas", f"-Wl,-rpath,{libdir}", "-lm"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    library = ctypes.CDLL(str(d / "harness.so"))
    i32, i64, u64, p, dbl = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_double
    signatures = {
        "conv": (i32, [i32, i32, p, p, p, p, i32]),
        "pool": (None, [i32, i32, p, p, p, p, i32]),
        "philox_fill": (u64, [p, i64, p]),
        "philox_word": (ctypes.c_uint32, [p, u64]),
        "to_uniform": (None, [p, i64, p, p]),
        "to_bernoulli": (None, [p, i64, dbl, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(library, name)
        fn.restype, fn.argtypes = restype, argtypes
    return library


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


CONV_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), dict()),
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(subsample=(2, 2), filter_flip=False)),
    ((1, 1, 5, 5), (1, 1, 2, 3), dict(border_mode="full")),
    ((2, 2, 6, 7), (2, 2, 2, 3), dict(border_mode="same")),
    ((1, 2, 6, 5), (3, 2, 3, 1), dict(border_mode=(1, 2), subsample=(2, 1))),
    ((1, 2, 9, 8), (2, 2, 3, 2), dict(filter_dilation=(2, 3), border_mode="half")),
    ((3, 6, 7, 7), (6, 2, 3, 3), dict(num_groups=3, subsample=2, border_mode=1)),
    ((64, 1, 28, 28), (8, 1, 5, 5), dict(filter_flip=False)),
    ((40, 16, 12, 12), (16, 16, 5, 5), dict()),
    ((6, 4, 10, 10), (5, 4, 3, 3), dict()),  # small images four to a product: chunks of 4 and 2
    ((5, 4, 6, 6), (6, 2, 3, 3), dict(num_groups=2, border_mode=1)),  # groups in a batch of five
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}*{c[1]}{c[2]}")
def test_conv_kernels_match_numpy(lib, case, dtype, threads):
    xs, ws, kw = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs).astype(dtype), rng.normal(size=ws).astype(dtype)
    op = Conv2d(**kw)
    geo = _Geometry(op, xs, ws, "test")
    (pt, pb), (pl, pr) = geo.pads
    g = ConvGeom(*xs, ws[0], ws[2], ws[3], op.num_groups, pt, pb, pl, pr, *op.subsample, *op.filter_dilation,
                 *geo.out, int(op.filter_flip))  # fmt: skip
    f64 = dtype == "float64"
    y = conv2d_forward(x, w, op, geo)
    gy = rng.normal(size=y.shape).astype(dtype)
    expected = [y, conv2d_grad_inputs(w, gy, op, geo, dtype), conv2d_grad_weights(x, gy, op, geo, dtype)]
    outputs = [np.empty_like(y), np.empty_like(x), np.empty_like(w)]
    operands = [(x, w), (w, gy), (x, gy)]
    tol = 2e-4 if dtype == "float32" else 1e-11
    for which, ((a, b), out, want) in enumerate(zip(operands, outputs, expected)):
        assert lib.conv(which, f64, ctypes.addressof(g), ptr(a), ptr(b), ptr(out), threads) == 0
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=f"kernel {which}")


POOL_CASES = [
    ((2, 3, 8, 6), (2, 2), True, None, (0, 0)),
    ((1, 1, 7, 5), (3, 2), False, (2, 1), (0, 0)),
    ((2, 2, 6, 7), (3, 3), True, (2, 2), (1, 1)),
    ((1, 2, 5, 5), (2, 3), False, None, (0, 0)),
    ((3, 9, 7), (3, 1), True, (2, 1), (1, 0)),
    ((4, 16, 24, 24), (2, 2), True, None, (0, 0)),
    # 2x2 windows that are not all inside the input: the whole-row path's 2x2 branch
    ((2, 3, 7, 6), (2, 2), False, None, (0, 0)),
    ((1, 2, 6, 8), (2, 2), True, None, (1, 0)),
]
MODES = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}ws{c[1]}")
def test_pool_kernels_match_numpy(lib, case, mode, dtype, threads):
    shape, ws, ignore_border, stride, pad = case
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, size=shape).astype(dtype)  # small integers: plenty of ties for max
    op = Pool2d(ws, ignore_border, stride, pad, mode)
    layout = _Layout(op, *shape[-2:])
    g = PoolGeom(int(np.prod(shape[:-2])), *shape[-2:], *layout.out, *op.ws, *op.stride, *op.pad, MODES[mode])
    f64 = dtype == "float64"
    y = np.empty(shape[:-2] + layout.out, dtype)
    lib.pool(0, f64, ctypes.addressof(g), ptr(x), None, ptr(y), threads)
    np.testing.assert_allclose(y, pool_forward(x, op), rtol=1e-6)
    gy = rng.normal(size=y.shape).astype(dtype)
    gx = np.empty_like(x)
    lib.pool(1, f64, ctypes.addressof(g), ptr(x), ptr(gy), ptr(gx), threads)
    np.testing.assert_allclose(gx, pool_backward(x, gy, op), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("state", [(0, 0, 0), (2**64 - 1, 2**40 + 3, 2**33 - 2), (12345, 7, 99)])
def test_philox_kernel_matches_the_numpy_generator(lib, state):
    state = np.array(state, dtype=np.uint64)
    words, new_state = philox_words(state, 1001)
    got = np.empty(1001, np.uint32)
    assert lib.philox_fill(ptr(state), 1001, ptr(got)) == int(new_state[2])
    np.testing.assert_array_equal(got, words)
    assert [lib.philox_word(ptr(state), i) for i in (0, 5, 1000)] == words[[0, 5, 1000]].tolist()
    u24, u53 = np.empty(1001, np.float32), np.empty(500, np.float64)
    lib.to_uniform(ptr(got), 1001, ptr(u24), ptr(u53))
    np.testing.assert_array_equal(u24, uniform24(words))
    np.testing.assert_array_equal(u53, uniform53(words[:1000]))
    mask = np.empty(1001, np.uint8)
    lib.to_bernoulli(ptr(got), 1001, 0.6, ptr(mask))
    np.testing.assert_array_equal(mask, (words >> 8) * 2.0**-24 < 0.6)
