/* symdl: the linear-algebra ops of symdl.tensor.nlinalg and symdl.tensor.slinalg through LAPACK,
 * from the OpenBLAS that the scipy-openblas32 wheel ships (its symbols carry a `scipy_` prefix and
 * 32-bit integers; link with -lscipy_openblas).
 *
 * Every function takes `batch` matrices stored one after another, C-contiguous and row-major (the
 * layout of a NumPy array of shape (batch, rows, cols)), writes its outputs in the same layout
 * into buffers the caller owns, and returns a status (SD_LA_OK or an SD_LA_* error). On an error
 * about one matrix, *failed (when not NULL) is the index of the first such matrix in the batch;
 * the outputs of the others are computed. Right-hand sides are (n, k) per system (a vector is
 * k = 1); broadcasting batch axes is the caller's work. Each matrix is copied into column-major
 * scratch (LAPACK's layout) and back, which costs O(n^2) next to LAPACK's O(n^3).
 *
 *   sd_la_cholesky_{f32,f64}(batch, n, a, l, lower, failed)              l (n, n), zero other triangle
 *   sd_la_solve_{f32,f64}(batch, n, k, a, b, x, assume, lower, failed)   assume: SD_LA_GENERAL/SYMMETRIC/POSITIVE
 *   sd_la_solve_triangular_{f32,f64}(batch, n, k, a, b, x, lower, trans, unit_diagonal, failed)
 *   sd_la_cho_solve_{f32,f64}(batch, n, k, c, b, x, lower, failed)
 *   sd_la_inv_{f32,f64}(batch, n, a, out, failed)                     by LU with the identity as right-hand side
 *   sd_la_slogdet_{f32,f64}(batch, n, a, sign, logabsdet, failed)     a singular matrix gives sign 0, -inf
 *   sd_la_det_{f32,f64}(batch, n, a, det, failed)                     sign * exp(logabsdet), as NumPy
 *   sd_la_eigh_{f32,f64}(batch, n, a, w, v, lower, failed)            w ascending (n), v columns (n, n)
 *   sd_la_svd_{f32,f64}(batch, m, n, a, u, s, vt, full_matrices, compute_uv, failed)
 *   sd_la_qr_{f32,f64}(batch, m, n, a, q, r, mode, failed)            mode: SD_LA_QR_REDUCED/COMPLETE/R
 *   sd_la_pinv_{f32,f64}(batch, m, n, a, out, failed)                 out (n, m); cutoff 1e-15 * largest s
 *   sd_la_expm_{f32,f64}(batch, n, a, out, failed)                    Pade 13, scaling and squaring
 *
 * Which triangle is read, the shapes of u, vt, q and r, and every result follow NumPy and SciPy
 * (and symdl's NumPy performs of the same ops). Functions are `static inline` unless SD_LA_API is
 * defined before inclusion (a test defines it empty to call them through ctypes). */
#ifndef SD_LA_TEMPLATE
#ifndef SYMDL_LAPACK_OPS_H
#define SYMDL_LAPACK_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef SD_LA_API
#define SD_LA_API static inline
#endif

enum {
    SD_LA_OK = 0,
    SD_LA_SINGULAR = 1,               /* a zero pivot: no (unique) solution, no inverse */
    SD_LA_NOT_POSITIVE_DEFINITE = 2,  /* Cholesky failed */
    SD_LA_NO_CONVERGENCE = 3,         /* an eigenvalue or SVD iteration did not converge */
    SD_LA_NO_MEMORY = 4,
    SD_LA_BAD_ARGUMENT = 5            /* a size beyond LAPACK's 32-bit integers, or an unknown option */
};

enum { SD_LA_GENERAL = 0, SD_LA_SYMMETRIC = 1, SD_LA_POSITIVE = 2 };
enum { SD_LA_QR_REDUCED = 0, SD_LA_QR_COMPLETE = 1, SD_LA_QR_R = 2 };

static inline const char *sd_la_status_message(int status)
{
    switch (status) {
    case SD_LA_OK: return "ok";
    case SD_LA_SINGULAR: return "singular matrix";
    case SD_LA_NOT_POSITIVE_DEFINITE: return "matrix is not positive definite";
    case SD_LA_NO_CONVERGENCE: return "the iteration did not converge";
    case SD_LA_NO_MEMORY: return "out of memory";
    default: return "bad argument";
    }
}

typedef int32_t sd_la_int; /* scipy-openblas32: LAPACK integers are 32-bit */

static inline int sd_la_fits(int64_t v) { return v >= 0 && v <= INT32_MAX; }

static inline void sd_la_fail(int64_t *failed, int64_t index, int *status, int code)
{
    if (*status == SD_LA_OK) {
        *status = code;
        if (failed)
            *failed = index;
    }
}

/* Fortran LAPACK and BLAS: every argument by address; each character argument adds a hidden
 * length at the end (gfortran's convention, harmless where it is not read). */
#define SD_LA_DECLARE(T, P)                                                                                      \
    void scipy_##P##potrf_(const char *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *, size_t);       \
    void scipy_##P##potrs_(const char *, const sd_la_int *, const sd_la_int *, const T *, const sd_la_int *, T *, \
                           const sd_la_int *, sd_la_int *, size_t);                                              \
    void scipy_##P##posv_(const char *, const sd_la_int *, const sd_la_int *, T *, const sd_la_int *, T *,        \
                          const sd_la_int *, sd_la_int *, size_t);                                               \
    void scipy_##P##trtrs_(const char *, const char *, const char *, const sd_la_int *, const sd_la_int *,         \
                           const T *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *, size_t, size_t,     \
                           size_t);                                                                              \
    void scipy_##P##gesv_(const sd_la_int *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *, T *,         \
                          const sd_la_int *, sd_la_int *);                                                       \
    void scipy_##P##sysv_(const char *, const sd_la_int *, const sd_la_int *, T *, const sd_la_int *,             \
                          sd_la_int *, T *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *, size_t);     \
    void scipy_##P##getrf_(const sd_la_int *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *,             \
                           sd_la_int *);                                                                         \
    void scipy_##P##syevd_(const char *, const char *, const sd_la_int *, T *, const sd_la_int *, T *, T *,       \
                           const sd_la_int *, sd_la_int *, const sd_la_int *, sd_la_int *, size_t, size_t);      \
    void scipy_##P##gesdd_(const char *, const sd_la_int *, const sd_la_int *, T *, const sd_la_int *, T *, T *,  \
                           const sd_la_int *, T *, const sd_la_int *, T *, const sd_la_int *, sd_la_int *,        \
                           sd_la_int *, size_t);                                                                 \
    void scipy_##P##geqrf_(const sd_la_int *, const sd_la_int *, T *, const sd_la_int *, T *, T *,                \
                           const sd_la_int *, sd_la_int *);                                                      \
    void scipy_##P##orgqr_(const sd_la_int *, const sd_la_int *, const sd_la_int *, T *, const sd_la_int *,       \
                           const T *, T *, const sd_la_int *, sd_la_int *);                                      \
    void scipy_##P##gemm_(const char *, const char *, const sd_la_int *, const sd_la_int *, const sd_la_int *,    \
                          const T *, const T *, const sd_la_int *, const T *, const sd_la_int *, const T *, T *,  \
                          const sd_la_int *, size_t, size_t);

SD_LA_DECLARE(double, d)
SD_LA_DECLARE(float, s)
#undef SD_LA_DECLARE

/* The body below is written once and read twice, for double and for float. */
#define SD_LA_TEMPLATE
#define T double
#define LA(name) scipy_d##name##_
#define FN(name) name##_f64
#define SD_LA_EPS 2.220446049250313e-16
#include "lapack_ops.h"
#undef T
#undef LA
#undef FN
#undef SD_LA_EPS
#define T float
#define LA(name) scipy_s##name##_
#define FN(name) name##_f32
#define SD_LA_EPS 1.1920929e-07
#include "lapack_ops.h"
#undef T
#undef LA
#undef FN
#undef SD_LA_EPS
#undef SD_LA_TEMPLATE

#endif /* SYMDL_LAPACK_OPS_H */
#else  /* SD_LA_TEMPLATE: the functions for one element type T */

/* dst (cols x rows, row-major) = src (rows x cols, row-major) transposed: a row-major matrix in
 * column-major order and back. */
static inline void FN(sd_la_transpose)(int64_t rows, int64_t cols, const T *src, T *dst)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            dst[j * rows + i] = src[i * cols + j];
}

/* The n x n identity. */
static inline void FN(sd_la_identity)(int64_t n, T *a)
{
    memset(a, 0, sizeof(T) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++)
        a[i * n + i] = 1;
}

/* Zero the strict upper (zero_upper) or lower triangle of a row-major n x n matrix. */
static inline void FN(sd_la_zero_triangle)(int64_t n, T *a, int zero_upper)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            if (zero_upper ? j > i : j < i)
                a[i * n + j] = 0;
}

SD_LA_API int FN(sd_la_cholesky)(int64_t batch, int64_t n, const T *a, T *l, int lower, int64_t *failed)
{
    if (!sd_la_fits(n))
        return SD_LA_BAD_ARGUMENT;
    T *work = malloc(sizeof(T) * (size_t)(n * n > 0 ? n * n : 1));
    if (!work)
        return SD_LA_NO_MEMORY;
    int status = SD_LA_OK;
    sd_la_int nn = (sd_la_int)n, lda = nn > 1 ? nn : 1, info = 0;
    const char uplo = lower ? 'L' : 'U';
    for (int64_t b = 0; b < batch; b++) {
        FN(sd_la_transpose)(n, n, a + b * n * n, work);
        if (n)
            LA(potrf)(&uplo, &nn, work, &lda, &info, 1);
        T *out = l + b * n * n;
        FN(sd_la_transpose)(n, n, work, out);
        FN(sd_la_zero_triangle)(n, out, lower);
        if (info > 0)
            sd_la_fail(failed, b, &status, SD_LA_NOT_POSITIVE_DEFINITE);
    }
    free(work);
    return status;
}

/* A (n, n) and B (n, k) of each system into column-major scratch `wa`, `wb`. */
static inline void FN(sd_la_load_system)(int64_t n, int64_t k, const T *a, const T *b, T *wa, T *wb)
{
    FN(sd_la_transpose)(n, n, a, wa);
    FN(sd_la_transpose)(n, k, b, wb);
}

SD_LA_API int FN(sd_la_solve)(int64_t batch, int64_t n, int64_t k, const T *a, const T *b, T *x, int assume, int lower,
                              int64_t *failed)
{
    if (!sd_la_fits(n) || !sd_la_fits(k) || assume < SD_LA_GENERAL || assume > SD_LA_POSITIVE)
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, nk = (sd_la_int)k, lda = nn > 1 ? nn : 1, info = 0, lwork = -1;
    const char uplo = lower ? 'L' : 'U';
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1)), *wb = malloc(sizeof(T) * (size_t)(n * k + 1));
    sd_la_int *ipiv = malloc(sizeof(sd_la_int) * (size_t)(n + 1));
    T *work = NULL;
    int status = (wa && wb && ipiv) ? SD_LA_OK : SD_LA_NO_MEMORY;
    if (status == SD_LA_OK && assume == SD_LA_SYMMETRIC && n && k) {
        T query = 0;
        LA(sysv)(&uplo, &nn, &nk, wa, &lda, ipiv, wb, &lda, &query, &lwork, &info, 1);
        lwork = (sd_la_int)query > 1 ? (sd_la_int)query : 1;
        work = malloc(sizeof(T) * (size_t)lwork);
        if (!work)
            status = SD_LA_NO_MEMORY;
    }
    for (int64_t s = 0; status != SD_LA_NO_MEMORY && s < batch; s++) {
        FN(sd_la_load_system)(n, k, a + s * n * n, b + s * n * k, wa, wb);
        info = 0;
        if (n && k) {
            if (assume == SD_LA_GENERAL)
                LA(gesv)(&nn, &nk, wa, &lda, ipiv, wb, &lda, &info);
            else if (assume == SD_LA_SYMMETRIC)
                LA(sysv)(&uplo, &nn, &nk, wa, &lda, ipiv, wb, &lda, work, &lwork, &info, 1);
            else
                LA(posv)(&uplo, &nn, &nk, wa, &lda, wb, &lda, &info, 1);
        }
        FN(sd_la_transpose)(k, n, wb, x + s * n * k);
        if (info > 0)
            sd_la_fail(failed, s, &status, assume == SD_LA_POSITIVE ? SD_LA_NOT_POSITIVE_DEFINITE : SD_LA_SINGULAR);
    }
    free(wa);
    free(wb);
    free(ipiv);
    free(work);
    return status;
}

SD_LA_API int FN(sd_la_solve_triangular)(int64_t batch, int64_t n, int64_t k, const T *a, const T *b, T *x, int lower,
                                         int trans, int unit_diagonal, int64_t *failed)
{
    if (!sd_la_fits(n) || !sd_la_fits(k))
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, nk = (sd_la_int)k, lda = nn > 1 ? nn : 1, info = 0;
    const char uplo = lower ? 'L' : 'U', op = trans ? 'T' : 'N', diag = unit_diagonal ? 'U' : 'N';
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1)), *wb = malloc(sizeof(T) * (size_t)(n * k + 1));
    int status = (wa && wb) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t s = 0; status != SD_LA_NO_MEMORY && s < batch; s++) {
        FN(sd_la_load_system)(n, k, a + s * n * n, b + s * n * k, wa, wb);
        info = 0;
        if (n && k)
            LA(trtrs)(&uplo, &op, &diag, &nn, &nk, wa, &lda, wb, &lda, &info, 1, 1, 1);
        FN(sd_la_transpose)(k, n, wb, x + s * n * k);
        if (info > 0)
            sd_la_fail(failed, s, &status, SD_LA_SINGULAR);
    }
    free(wa);
    free(wb);
    return status;
}

SD_LA_API int FN(sd_la_cho_solve)(int64_t batch, int64_t n, int64_t k, const T *c, const T *b, T *x, int lower,
                                  int64_t *failed)
{
    (void)failed; /* potrs cannot fail on a valid factor; a zero on its diagonal gives inf/NaN */
    if (!sd_la_fits(n) || !sd_la_fits(k))
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, nk = (sd_la_int)k, lda = nn > 1 ? nn : 1, info = 0;
    const char uplo = lower ? 'L' : 'U';
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1)), *wb = malloc(sizeof(T) * (size_t)(n * k + 1));
    int status = (wa && wb) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t s = 0; status == SD_LA_OK && s < batch; s++) {
        FN(sd_la_load_system)(n, k, c + s * n * n, b + s * n * k, wa, wb);
        if (n && k)
            LA(potrs)(&uplo, &nn, &nk, wa, &lda, wb, &lda, &info, 1);
        FN(sd_la_transpose)(k, n, wb, x + s * n * k);
    }
    free(wa);
    free(wb);
    return status;
}

/* As numpy.linalg.inv: the system a x = I solved by LU (gesv), so results and signed zeros agree. */
SD_LA_API int FN(sd_la_inv)(int64_t batch, int64_t n, const T *a, T *out, int64_t *failed)
{
    if (!sd_la_fits(n))
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, lda = nn > 1 ? nn : 1, info = 0;
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1)), *wb = malloc(sizeof(T) * (size_t)(n * n + 1));
    sd_la_int *ipiv = malloc(sizeof(sd_la_int) * (size_t)(n + 1));
    int status = (wa && wb && ipiv) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t s = 0; status != SD_LA_NO_MEMORY && s < batch; s++) {
        FN(sd_la_transpose)(n, n, a + s * n * n, wa);
        FN(sd_la_identity)(n, wb);
        info = 0;
        if (n)
            LA(gesv)(&nn, &nn, wa, &lda, ipiv, wb, &lda, &info);
        FN(sd_la_transpose)(n, n, wb, out + s * n * n);
        if (info > 0)
            sd_la_fail(failed, s, &status, SD_LA_SINGULAR);
    }
    free(wa);
    free(wb);
    free(ipiv);
    return status;
}

SD_LA_API int FN(sd_la_slogdet)(int64_t batch, int64_t n, const T *a, T *sign, T *logabsdet, int64_t *failed)
{
    (void)failed; /* a singular matrix is a result here (sign 0, log -inf), not an error */
    if (!sd_la_fits(n))
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, lda = nn > 1 ? nn : 1, info = 0;
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1));
    sd_la_int *ipiv = malloc(sizeof(sd_la_int) * (size_t)(n + 1));
    int status = (wa && ipiv) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t s = 0; status == SD_LA_OK && s < batch; s++) {
        FN(sd_la_transpose)(n, n, a + s * n * n, wa);
        info = 0;
        if (n)
            LA(getrf)(&nn, &nn, wa, &lda, ipiv, &info);
        T sg = 1, logdet = 0;
        if (info > 0) {
            sg = 0;
            logdet = -INFINITY;
        } else {
            for (int64_t i = 0; i < n; i++) {
                T d = wa[i * n + i];
                if (ipiv[i] != i + 1)
                    sg = -sg;
                if (d < 0) {
                    sg = -sg;
                    d = -d;
                }
                logdet += log(d);
            }
        }
        sign[s] = sg;
        logabsdet[s] = logdet;
    }
    free(wa);
    free(ipiv);
    return status;
}

SD_LA_API int FN(sd_la_det)(int64_t batch, int64_t n, const T *a, T *det, int64_t *failed)
{
    T *logs = malloc(sizeof(T) * (size_t)(batch + 1));
    if (!logs)
        return SD_LA_NO_MEMORY;
    int status = FN(sd_la_slogdet)(batch, n, a, det, logs, failed);
    for (int64_t s = 0; status == SD_LA_OK && s < batch; s++)
        det[s] = det[s] * (T)exp(logs[s]);
    free(logs);
    return status;
}

SD_LA_API int FN(sd_la_eigh)(int64_t batch, int64_t n, const T *a, T *w, T *v, int lower, int64_t *failed)
{
    if (!sd_la_fits(n))
        return SD_LA_BAD_ARGUMENT;
    sd_la_int nn = (sd_la_int)n, lda = nn > 1 ? nn : 1, info = 0, lwork = -1, liwork = -1, iquery = 0;
    const char jobz = 'V', uplo = lower ? 'L' : 'U';
    T *wa = malloc(sizeof(T) * (size_t)(n * n + 1)), *work = NULL, query = 0;
    sd_la_int *iwork = NULL;
    int status = wa ? SD_LA_OK : SD_LA_NO_MEMORY;
    if (status == SD_LA_OK && n) {
        LA(syevd)(&jobz, &uplo, &nn, wa, &lda, w, &query, &lwork, &iquery, &liwork, &info, 1, 1);
        lwork = (sd_la_int)query > 1 ? (sd_la_int)query : 1;
        liwork = iquery > 1 ? iquery : 1;
        work = malloc(sizeof(T) * (size_t)lwork);
        iwork = malloc(sizeof(sd_la_int) * (size_t)liwork);
        if (!work || !iwork)
            status = SD_LA_NO_MEMORY;
    }
    for (int64_t s = 0; status != SD_LA_NO_MEMORY && s < batch; s++) {
        FN(sd_la_transpose)(n, n, a + s * n * n, wa);
        info = 0;
        if (n)
            LA(syevd)(&jobz, &uplo, &nn, wa, &lda, w + s * n, work, &lwork, iwork, &liwork, &info, 1, 1);
        FN(sd_la_transpose)(n, n, wa, v + s * n * n);
        if (info > 0)
            sd_la_fail(failed, s, &status, SD_LA_NO_CONVERGENCE);
    }
    free(wa);
    free(work);
    free(iwork);
    return status;
}

/* One SVD into column-major u (m x ucols), s, vt (vrows x n); `wa` holds a (column-major) and is
 * overwritten. */
static inline int FN(sd_la_gesdd)(char jobz, int64_t m, int64_t n, T *wa, T *s, T *u, T *vt)
{
    int64_t k = m < n ? m : n;
    sd_la_int mm = (sd_la_int)m, nn = (sd_la_int)n, lda = mm > 1 ? mm : 1, info = 0, lwork = -1;
    sd_la_int ldu = lda, ldvt = jobz == 'A' ? (nn > 1 ? nn : 1) : ((sd_la_int)k > 1 ? (sd_la_int)k : 1);
    T query = 0;
    sd_la_int *iwork = malloc(sizeof(sd_la_int) * (size_t)(8 * k + 1));
    if (!iwork)
        return SD_LA_NO_MEMORY;
    LA(gesdd)(&jobz, &mm, &nn, wa, &lda, s, u, &ldu, vt, &ldvt, &query, &lwork, iwork, &info, 1);
    lwork = (sd_la_int)query > 1 ? (sd_la_int)query : 1;
    T *work = malloc(sizeof(T) * (size_t)lwork);
    if (!work) {
        free(iwork);
        return SD_LA_NO_MEMORY;
    }
    LA(gesdd)(&jobz, &mm, &nn, wa, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
    free(work);
    free(iwork);
    return info > 0 ? SD_LA_NO_CONVERGENCE : SD_LA_OK;
}


SD_LA_API int FN(sd_la_svd)(int64_t batch, int64_t m, int64_t n, const T *a, T *u, T *s, T *vt, int full_matrices,
                            int compute_uv, int64_t *failed)
{
    if (!sd_la_fits(m) || !sd_la_fits(n) || !sd_la_fits(8 * (m < n ? m : n)))
        return SD_LA_BAD_ARGUMENT;
    int64_t k = m < n ? m : n;
    int64_t ucols = full_matrices ? m : k, vrows = full_matrices ? n : k;
    char jobz = !compute_uv ? 'N' : (full_matrices ? 'A' : 'S');
    T *wa = malloc(sizeof(T) * (size_t)(m * n + 1));
    T *wu = malloc(sizeof(T) * (size_t)(m * ucols + 1)), *wvt = malloc(sizeof(T) * (size_t)(vrows * n + 1));
    int status = (wa && wu && wvt) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t b = 0; status != SD_LA_NO_MEMORY && b < batch; b++) {
        int one = SD_LA_OK;
        if (k) {
            FN(sd_la_transpose)(m, n, a + b * m * n, wa);
            one = FN(sd_la_gesdd)(jobz, m, n, wa, s + b * k, wu, wvt);
        } else if (compute_uv && full_matrices) { /* NumPy: identities for an empty matrix */
            FN(sd_la_identity)(m, wu);
            FN(sd_la_identity)(n, wvt);
        }
        if (one == SD_LA_NO_MEMORY) {
            status = one;
            break;
        }
        if (compute_uv) {
            FN(sd_la_transpose)(ucols, m, wu, u + b * m * ucols);
            FN(sd_la_transpose)(n, vrows, wvt, vt + b * vrows * n);
        }
        if (one != SD_LA_OK)
            sd_la_fail(failed, b, &status, one);
    }
    free(wa);
    free(wu);
    free(wvt);
    return status;
}

SD_LA_API int FN(sd_la_qr)(int64_t batch, int64_t m, int64_t n, const T *a, T *q, T *r, int mode, int64_t *failed)
{
    (void)failed; /* Householder QR cannot fail */
    if (!sd_la_fits(m) || !sd_la_fits(n) || mode < SD_LA_QR_REDUCED || mode > SD_LA_QR_R)
        return SD_LA_BAD_ARGUMENT;
    int64_t k = m < n ? m : n;
    int64_t qcols = mode == SD_LA_QR_COMPLETE ? m : k, rrows = mode == SD_LA_QR_COMPLETE ? m : k;
    int64_t wcols = n > qcols ? n : qcols; /* orgqr builds q in place: room for m columns when complete */
    sd_la_int mm = (sd_la_int)m, nn = (sd_la_int)n, kk = (sd_la_int)k, qq = (sd_la_int)qcols;
    sd_la_int lda = mm > 1 ? mm : 1, info = 0, lwork = -1;
    T *wa = malloc(sizeof(T) * (size_t)(m * wcols + 1)), *tau = malloc(sizeof(T) * (size_t)(k + 1));
    T *work = NULL, q1 = 0, q2 = 0;
    int status = (wa && tau) ? SD_LA_OK : SD_LA_NO_MEMORY;
    if (status == SD_LA_OK && m && n) {
        LA(geqrf)(&mm, &nn, wa, &lda, tau, &q1, &lwork, &info);
        if (mode != SD_LA_QR_R && qcols)
            LA(orgqr)(&mm, &qq, &kk, wa, &lda, tau, &q2, &lwork, &info);
        lwork = (sd_la_int)(q1 > q2 ? q1 : q2);
        lwork = lwork > 1 ? lwork : 1;
        work = malloc(sizeof(T) * (size_t)lwork);
        if (!work)
            status = SD_LA_NO_MEMORY;
    }
    for (int64_t b = 0; status == SD_LA_OK && b < batch; b++) {
        FN(sd_la_transpose)(m, n, a + b * m * n, wa);
        if (m && n)
            LA(geqrf)(&mm, &nn, wa, &lda, tau, work, &lwork, &info);
        T *rb = r + b * rrows * n;
        for (int64_t i = 0; i < rrows; i++) /* r: the upper triangle of the factored matrix */
            for (int64_t j = 0; j < n; j++)
                rb[i * n + j] = (j >= i && i < m) ? wa[j * m + i] : 0;
        if (mode == SD_LA_QR_R)
            continue;
        if (qcols && m) {
            if (k)
                LA(orgqr)(&mm, &qq, &kk, wa, &lda, tau, work, &lwork, &info);
            else /* nothing factored: q is the identity */
                FN(sd_la_identity)(m, wa);
        }
        FN(sd_la_transpose)(qcols, m, wa, q + b * m * qcols);
    }
    free(wa);
    free(tau);
    free(work);
    return status;
}

SD_LA_API int FN(sd_la_pinv)(int64_t batch, int64_t m, int64_t n, const T *a, T *out, int64_t *failed)
{
    if (!sd_la_fits(m) || !sd_la_fits(n) || !sd_la_fits(8 * (m < n ? m : n)))
        return SD_LA_BAD_ARGUMENT;
    int64_t k = m < n ? m : n;
    T *wa = malloc(sizeof(T) * (size_t)(m * n + 1)), *s = malloc(sizeof(T) * (size_t)(k + 1));
    T *u = malloc(sizeof(T) * (size_t)(m * k + 1)), *vt = malloc(sizeof(T) * (size_t)(k * n + 1));
    int status = (wa && s && u && vt) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t b = 0; status != SD_LA_NO_MEMORY && b < batch; b++) {
        T *ob = out + b * n * m;
        memset(ob, 0, sizeof(T) * (size_t)(n * m));
        if (!k)
            continue;
        FN(sd_la_transpose)(m, n, a + b * m * n, wa);
        int one = FN(sd_la_gesdd)('S', m, n, wa, s, u, vt);
        if (one == SD_LA_NO_MEMORY) {
            status = one;
            break;
        }
        if (one != SD_LA_OK) {
            sd_la_fail(failed, b, &status, one);
            continue;
        }
        T cutoff = (T)1e-15 * s[0]; /* NumPy's default rcond, relative to the largest */
        /* out[i][j] = sum_l vt[l][i] / s[l] * u[j][l]; u and vt are column-major. */
        for (int64_t l = 0; l < k; l++) {
            if (!(s[l] > cutoff))
                continue;
            T inv = 1 / s[l];
            for (int64_t i = 0; i < n; i++) {
                T vi = vt[i * k + l] * inv;
                for (int64_t j = 0; j < m; j++)
                    ob[i * m + j] += vi * u[l * m + j];
            }
        }
    }
    free(wa);
    free(s);
    free(u);
    free(vt);
    return status;
}

/* c = a @ b for column-major n x n matrices. */
static inline void FN(sd_la_matmul)(int64_t n, const T *a, const T *b, T *c)
{
    const sd_la_int nn = (sd_la_int)n;
    const T one = 1, zero = 0;
    LA(gemm)("N", "N", &nn, &nn, &nn, &one, a, &nn, b, &nn, &zero, c, &nn, 1, 1);
}

SD_LA_API int FN(sd_la_expm)(int64_t batch, int64_t n, const T *a, T *out, int64_t *failed)
{
    static const double coef[14] = {64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                                    1187353796428800.0,  129060195264000.0,   10559470521600.0,
                                    670442572800.0,      33522128640.0,       1323241920.0,
                                    40840800.0,          960960.0,            16380.0,
                                    182.0,               1.0};
    const double theta13 = 5.371920351148152;
    if (!sd_la_fits(n))
        return SD_LA_BAD_ARGUMENT;
    size_t nn2 = (size_t)(n * n + 1);
    T *x = malloc(sizeof(T) * nn2), *x2 = malloc(sizeof(T) * nn2), *x4 = malloc(sizeof(T) * nn2);
    T *x6 = malloc(sizeof(T) * nn2), *t = malloc(sizeof(T) * nn2), *u = malloc(sizeof(T) * nn2);
    T *v = malloc(sizeof(T) * nn2);
    sd_la_int *ipiv = malloc(sizeof(sd_la_int) * (size_t)(n + 1));
    int status = (x && x2 && x4 && x6 && t && u && v && ipiv) ? SD_LA_OK : SD_LA_NO_MEMORY;
    for (int64_t b = 0; status != SD_LA_NO_MEMORY && b < batch && n; b++) {
        FN(sd_la_transpose)(n, n, a + b * n * n, x);
        double norm1 = 0; /* the largest column sum of |x| */
        for (int64_t j = 0; j < n; j++) {
            double col = 0;
            for (int64_t i = 0; i < n; i++)
                col += fabs((double)x[j * n + i]);
            norm1 = col > norm1 ? col : norm1;
        }
        int squarings = norm1 > theta13 ? (int)ceil(log2(norm1 / theta13)) : 0;
        T scale = (T)ldexp(1.0, -squarings);
        for (int64_t i = 0; i < n * n; i++)
            x[i] *= scale;
        FN(sd_la_matmul)(n, x, x, x2);
        FN(sd_la_matmul)(n, x2, x2, x4);
        FN(sd_la_matmul)(n, x4, x2, x6);
        /* u = x @ (x6 @ (b13 x6 + b11 x4 + b9 x2) + b7 x6 + b5 x4 + b3 x2 + b1 I)
         * v =      x6 @ (b12 x6 + b10 x4 + b8 x2) + b6 x6 + b4 x4 + b2 x2 + b0 I */
        for (int pass = 0; pass < 2; pass++) {
            const int o = pass == 0 ? 1 : 0; /* odd coefficients for u, even for v */
            for (int64_t i = 0; i < n * n; i++)
                t[i] = (T)(coef[12 + o] * x6[i] + coef[10 + o] * x4[i] + coef[8 + o] * x2[i]);
            FN(sd_la_matmul)(n, x6, t, v); /* on the first pass, v is scratch for u's inner factor */
            for (int64_t i = 0; i < n * n; i++)
                v[i] += (T)(coef[6 + o] * x6[i] + coef[4 + o] * x4[i] + coef[2 + o] * x2[i]);
            for (int64_t i = 0; i < n; i++)
                v[i * n + i] += (T)coef[o];
            if (pass == 0)
                FN(sd_la_matmul)(n, x, v, u);
        }
        /* r = solve(v - u, v + u): t = v - u, x = v + u */
        for (int64_t i = 0; i < n * n; i++) {
            T vi = v[i], ui = u[i];
            t[i] = vi - ui;
            x[i] = vi + ui;
        }
        sd_la_int nn = (sd_la_int)n, info = 0;
        LA(gesv)(&nn, &nn, t, &nn, ipiv, x, &nn, &info);
        if (info > 0) {
            sd_la_fail(failed, b, &status, SD_LA_SINGULAR);
            continue;
        }
        for (int k = 0; k < squarings; k++) {
            FN(sd_la_matmul)(n, x, x, x2);
            memcpy(x, x2, sizeof(T) * (size_t)(n * n));
        }
        FN(sd_la_transpose)(n, n, x, out + b * n * n);
    }
    free(x);
    free(x2);
    free(x4);
    free(x6);
    free(t);
    free(u);
    free(v);
    free(ipiv);
    return status;
}

#endif /* SD_LA_TEMPLATE */
