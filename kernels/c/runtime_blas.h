/* symdl C runtime: products through the BLAS (scipy-openblas32) and our AVX-512 sgemm: dot,
 * matmul (batched) and gemm, large products split among OpenMP threads.
 */
#ifndef SYMDL_RUNTIME_BLAS_H
#define SYMDL_RUNTIME_BLAS_H

#include "runtime_iter.h"
#include "sgemm_avx512.h"

/* scipy-openblas32 exports its symbols with the prefix scipy_ */
typedef enum { SdRowMajor = 101 } SdOrder;
typedef enum { SdNoTrans = 111, SdTrans = 112 } SdTrans_;
void scipy_cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                       int);
void scipy_cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                       double *, int);
void scipy_cblas_sgemv(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void scipy_cblas_dgemv(int, int, int, int, double, const double *, int, const double *, int, double, double *, int);
float scipy_cblas_sdot(int, const float *, int, const float *, int);
double scipy_cblas_ddot(int, const double *, int, const double *, int);
void scipy_openblas_set_num_threads(int);
int scipy_openblas_get_num_threads(void);
char *scipy_openblas_get_config(void);

/* a matrix view usable by BLAS: row-major with unit column stride (trans=0), or its transpose */
static int blas_matrix(const sd_arr *a, int64_t rs, int64_t cs, int64_t rows, int64_t cols, int *trans, int *ld)
{
    if (cs == 1 && (rs >= (cols > 1 ? cols : 1) || rows <= 1)) {
        *trans = 0;
        *ld = (int)(rows <= 1 ? (cols > 1 ? cols : 1) : rs);
        return 1;
    }
    if (rs == 1 && (cs >= (rows > 1 ? rows : 1) || cols <= 1)) {
        *trans = 1;
        *ld = (int)(cols <= 1 ? (rows > 1 ? rows : 1) : cs);
        return 1;
    }
    (void)a;
    return 0;
}

static void blas_gemm(int dtype, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const char *a, int lda,
                      const char *b, int ldb, double beta, char *c, int ldc)
{
    /* our AVX-512 kernel where the CPU has it: 1.15-1.35x OpenBLAS's sgemm on the MLP's products
     * (benchmarks/RESULTS.md); it declines (-1) elsewhere and OpenBLAS runs */
    if (dtype == NPY_FLOAT32 && sd_sgemm(ta, tb, M, N, K, (float)alpha, (const float *)a, lda, (const float *)b, ldb,
                                         (float)beta, (float *)c, ldc) == 0)
        return;
    if (dtype == NPY_FLOAT32)
        scipy_cblas_sgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K,
                          (float)alpha, (const float *)a, lda, (const float *)b, ldb, (float)beta, (float *)c, ldc);
    else
        scipy_cblas_dgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K,
                          alpha, (const double *)a, lda, (const double *)b, ldb, beta, (double *)c, ldc);
}

/* rows (by_rows) or columns [lo, hi) of the 2-d `into` = the same part of `from` broadcast to it */
static void fill_block(const sd_arr *into, const sd_arr *from, int by_rows, int64_t lo, int64_t hi)
{
    sd_arr d = *into, s = *from;
    int axis = by_rows ? 0 : 1, from_axis = axis - (2 - s.ndim);
    d.data += lo * d.strides[axis] * itemsize_of(d.dtype);
    d.shape[axis] = hi - lo;
    if (from_axis >= 0 && s.shape[from_axis] != 1) {
        s.data += lo * s.strides[from_axis] * itemsize_of(s.dtype);
        s.shape[from_axis] = hi - lo;
    }
    copy_into_here(&d, &s);
}

/* C = alpha A B + beta C, row-major. Large products are split into blocks of rows (or columns)
 * computed by our OpenMP threads, each calling the BLAS single-threaded: OpenBLAS's own thread
 * pool synchronizes many times per call and collapses when the cores are shared (measured: 60 ms
 * against 3 ms for a 128x784x512 sgemm at load 5), and it would compete with the OpenMP loops.
 * `fill_from`, where not NULL, is first copied (broadcast) into C, the 2-d `fill_into`: each
 * thread fills its own block, which its product then reads while it is in cache (a bias row). */
static void gemm_par(int dtype, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const char *a, int lda,
                     const char *b, int ldb, double beta, char *c, int ldc, const sd_arr *fill_from,
                     const sd_arr *fill_into)
{
    int nt = sd_nthreads;
    int isz = itemsize_of(dtype);
    if (nt <= 1 || 2.0 * (double)M * (double)N * (double)K < 4e6 || (M < 2 * nt && N < 2 * nt)) {
        if (fill_from)
            copy_into(fill_into, fill_from);
        blas_gemm(dtype, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int by_rows = M >= N;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t total = by_rows ? M : N, unit = 16;
        int64_t lo = (total * t / T) / unit * unit, hi = t == T - 1 ? total : (total * (t + 1) / T) / unit * unit;
        if (lo < hi && fill_from)
            fill_block(fill_into, fill_from, by_rows, lo, hi);
        if (lo < hi) {
            if (by_rows)
                blas_gemm(dtype, ta, tb, hi - lo, N, K, alpha, a + (ta ? lo : lo * (int64_t)lda) * isz, lda, b, ldb,
                          beta, c + lo * (int64_t)ldc * isz, ldc);
            else
                blas_gemm(dtype, ta, tb, M, hi - lo, K, alpha, a, lda, b + (tb ? lo * (int64_t)ldb : lo) * isz, ldb,
                          beta, c + lo * isz, ldc);
        }
    }
}

static void gemm(int dtype, int64_t M, int64_t N, int64_t K, const char *a, int ta, int lda, const char *b, int tb,
                 int ldb, char *c, int ldc)
{
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        memset(c, 0, (size_t)(M * N * itemsize_of(dtype)));
        return;
    }
    gemm_par(dtype, ta, tb, M, N, K, 1.0, a, lda, b, ldb, 0.0, c, ldc, NULL, NULL);
}

static int api_dot(sd_ctx *c, int node, int ia, int ib, int out)
{
    Program *P = PROG(c);
    sd_arr *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C dot needs float32 or float64");
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[0];
    if (ka != kb) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "shapes %s and %s are not aligned: %lld (dim %d) != %lld (dim 0)", sa, sb,
                    (long long)ka, a->ndim - 1, (long long)kb);
    }
    if (ka > INT32_MAX || size_of(a) > INT32_MAX || size_of(b) > INT32_MAX)
        return fail(P, node, PyExc_ValueError, "dimensions too large for 32-bit BLAS");
    int64_t shape[2];
    int nd = 0;
    if (a->ndim == 2)
        shape[nd++] = a->shape[0];
    if (b->ndim == 2)
        shape[nd++] = b->shape[1];
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0;
    /* 2-d operands BLAS cannot stride through, and vectors with non-positive strides, are copied */
    int ta = 0, tb = 0, lda = 1, ldb = 1;
    int64_t M = a->ndim == 2 ? a->shape[0] : 1, N = b->ndim == 2 ? b->shape[1] : 1, K = ka;
    if (a->ndim == 2 ? !blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda)
                     : (a->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        if (a->ndim == 2)
            blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda);
    }
    if (b->ndim == 2 ? !blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb)
                     : (b->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        if (b->ndim == 2)
            blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb);
    }
    int rc = new_value(P, node, out, dtype, nd, shape);
    if (rc == 0) {
        PyThreadState *gil = sd_release_gil(M * N * K / 8);
        char *o = c->v[out].data;
        int sgl = dtype == NPY_FLOAT32;
        int64_t ia_ = a->ndim == 1 ? (K > 1 ? a->strides[0] : 1) : 0;
        int64_t ib_ = b->ndim == 1 ? (K > 1 ? b->strides[0] : 1) : 0;
        if (a->ndim == 2 && b->ndim == 2) {
            gemm(dtype, M, N, K, a->data, ta, lda, b->data, tb, ldb, o, (int)(N > 1 ? N : 1));
        } else if (a->ndim == 1 && b->ndim == 1) {
            if (sgl)
                *(float *)o = K ? scipy_cblas_sdot((int)K, (const float *)a->data, (int)ia_,
                                                   (const float *)b->data, (int)ib_)
                                : 0.0f;
            else
                *(double *)o = K ? scipy_cblas_ddot((int)K, (const double *)a->data, (int)ia_,
                                                    (const double *)b->data, (int)ib_)
                                 : 0.0;
        } else if (a->ndim == 2) { /* (M,K) . (K,) */
            if (M > 0) {
                if (K == 0)
                    memset(o, 0, (size_t)(M * itemsize_of(dtype)));
                else if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M,
                                      ta ? (int)M : (int)K, 1.0f, (const float *)a->data, lda,
                                      (const float *)b->data, (int)ib_, 0.0f, (float *)o, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M,
                                      ta ? (int)M : (int)K, 1.0, (const double *)a->data, lda,
                                      (const double *)b->data, (int)ib_, 0.0, (double *)o, 1);
            }
        } else { /* (K,) . (K,N) = (N,K)-matrix . vector */
            if (N > 0) {
                if (K == 0)
                    memset(o, 0, (size_t)(N * itemsize_of(dtype)));
                else if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, tb ? SdNoTrans : SdTrans, tb ? (int)N : (int)K,
                                      tb ? (int)K : (int)N, 1.0f, (const float *)b->data, ldb,
                                      (const float *)a->data, (int)ia_, 0.0f, (float *)o, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, tb ? SdNoTrans : SdTrans, tb ? (int)N : (int)K,
                                      tb ? (int)K : (int)N, 1.0, (const double *)b->data, ldb,
                                      (const double *)a->data, (int)ia_, 0.0, (double *)o, 1);
            }
        }
        sd_restore_gil(gil);
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
}

static int api_matmul(sd_ctx *c, int node, int ia, int ib, int out)
{
    Program *P = PROG(c);
    sd_arr *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C matmul needs float32 or float64");
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != K) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "matmul: shapes %s and %s do not fit (%lld vs %lld)", sa, sb,
                    (long long)K, (long long)b->shape[b->ndim - 2]);
    }
    int nb = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
    sd_arr ba = *a, bb = *b; /* batch parts */
    ba.ndim = a->ndim - 2;
    bb.ndim = b->ndim - 2;
    sd_arr *pair[2] = {&ba, &bb};
    int64_t shape[SD_MAXDIM];
    if (broadcast_shapes(P, node, 2, pair, nb, shape))
        return -1;
    shape[nb] = M;
    shape[nb + 1] = N;
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0, ta = 0, tb = 0, lda = 1, ldb = 1;
    if (!blas_matrix(a, a->strides[a->ndim - 2], a->strides[a->ndim - 1], M, K, &ta, &lda)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        blas_matrix(a, a->strides[a->ndim - 2], a->strides[a->ndim - 1], M, K, &ta, &lda);
    }
    if (!blas_matrix(b, b->strides[b->ndim - 2], b->strides[b->ndim - 1], K, N, &tb, &ldb)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        blas_matrix(b, b->strides[b->ndim - 2], b->strides[b->ndim - 1], K, N, &tb, &ldb);
    }
    int rc = new_value(P, node, out, dtype, nb + 2, shape);
    if (rc == 0) {
        sd_arr *o = &c->v[out];
        int64_t nbatch = 1;
        for (int d = 0; d < nb; d++)
            nbatch *= shape[d];
        PyThreadState *gil = sd_release_gil(nbatch * M * N * K / 8);
        int isz = itemsize_of(dtype);
        for (int64_t k = 0; k < nbatch; k++) {
            int64_t rem = k, oa = 0, ob = 0;
            for (int d = nb - 1; d >= 0; d--) {
                int64_t i = rem % shape[d];
                rem /= shape[d];
                int da = d - (nb - (a->ndim - 2)), db = d - (nb - (b->ndim - 2));
                if (da >= 0 && a->shape[da] != 1)
                    oa += i * a->strides[da];
                if (db >= 0 && b->shape[db] != 1)
                    ob += i * b->strides[db];
            }
            gemm(dtype, M, N, K, a->data + oa * isz, ta, lda, b->data + ob * isz, tb, ldb,
                 o->data + k * M * N * isz, (int)(N > 1 ? N : 1));
        }
        sd_restore_gil(gil);
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
}

/* out = beta * C + alpha * dot(A, B): C broadcast into the output, then one BLAS call with beta */
static int api_gemm(sd_ctx *c, int node, int ic, int ialpha, int ia, int ib, int ibeta, int out)
{
    Program *P = PROG(c);
    sd_arr *C = &c->v[ic], *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype || C->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C gemm needs one float dtype");
    double alpha = dtype == NPY_FLOAT32 ? *(float *)c->v[ialpha].data : *(double *)c->v[ialpha].data;
    double beta = dtype == NPY_FLOAT32 ? *(float *)c->v[ibeta].data : *(double *)c->v[ibeta].data;
    int64_t M = a->shape[0], K = a->shape[1], N = b->ndim == 2 ? b->shape[1] : 1;
    if (b->shape[0] != K) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "shapes %s and %s are not aligned: %lld (dim 1) != %lld (dim 0)", sa, sb,
                    (long long)K, (long long)b->shape[0]);
    }
    if (K > INT32_MAX || size_of(a) > INT32_MAX || size_of(b) > INT32_MAX)
        return fail(P, node, PyExc_ValueError, "dimensions too large for 32-bit BLAS");
    int nd = b->ndim == 2 ? 2 : 1;
    int64_t shape[2] = {M, N};
    /* the output shape is the product's; C must broadcast to it */
    sd_arr prod = *a;
    prod.ndim = nd;
    prod.shape[0] = M;
    prod.shape[1] = N;
    sd_arr *pair[2] = {&prod, C};
    int64_t bshape[SD_MAXDIM];
    if (broadcast_shapes(P, node, 2, pair, nd, bshape))
        return -1;
    if (bshape[0] != M || (nd == 2 && bshape[1] != N)) {
        char s0[256], s1[256];
        shape_text(s0, sizeof s0, C->ndim, C->shape);
        shape_text(s1, sizeof s1, nd, shape);
        return fail(P, node, ShapeError, "C of shape %s does not fit the product of shape %s", s0, s1);
    }
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0, ta = 0, tb = 0, lda = 1, ldb = 1;
    if (!blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda);
    }
    if (b->ndim == 2 ? !blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb) : (b->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        if (b->ndim == 2)
            blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb);
    }
    sd_arr Cv = *C;
    int rc = new_value(P, node, out, dtype, nd, shape);
    if (rc == 0) {
        PyThreadState *gil = sd_release_gil(M * N * K / 8 + M * N);
        sd_arr *o = &c->v[out];
        /* unless in place (api_claim): C already is the output's buffer */
        const sd_arr *fill_from = same_view(o, &Cv) ? NULL : &Cv;
        int sgl = dtype == NPY_FLOAT32;
        if (fill_from && !(M > 0 && N > 0 && K > 0 && nd == 2))
            copy_into(o, &Cv);
        if (M > 0 && N > 0) {
            if (K == 0) {
                if (beta != 1.0) { /* the product is zero: scale C */
                    int64_t n = M * N;
                    for (int64_t i = 0; i < n; i++) {
                        if (sgl)
                            ((float *)o->data)[i] *= (float)beta;
                        else
                            ((double *)o->data)[i] *= beta;
                    }
                }
            } else if (nd == 2) {
                gemm_par(dtype, ta, tb, M, N, K, alpha, a->data, lda, b->data, ldb, beta, o->data, (int)N, fill_from,
                         o);
            } else {
                int inc = (int)(K > 1 ? b->strides[0] : 1);
                if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M, ta ? (int)M : (int)K,
                                      (float)alpha, (const float *)a->data, lda, (const float *)b->data, inc,
                                      (float)beta, (float *)o->data, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M, ta ? (int)M : (int)K,
                                      alpha, (const double *)a->data, lda, (const double *)b->data, inc, beta,
                                      (double *)o->data, 1);
            }
        }
        sd_restore_gil(gil);
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
}

#endif
