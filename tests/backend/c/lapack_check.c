/* kernels/c/lapack_ops.h compiled on its own, run by test_lapack_ops.py: as a shared library
 * whose functions the test calls through ctypes and compares with NumPy, and, with
 * -DSD_LA_CHECK_MAIN, as a program that runs every function on edge cases (empty matrices, a
 * failing matrix inside a batch) under AddressSanitizer, checking the status codes. */
#define SD_LA_API /* exported, for ctypes */
#include "lapack_ops.h"

#ifdef SD_LA_CHECK_MAIN
#include <stdio.h>

static int failures = 0, checks = 0;

static void expect(int got, int want, int64_t failed, int64_t want_failed, const char *what)
{
    checks++;
    if (got != want || (want != SD_LA_OK && failed != want_failed)) {
        failures++;
        printf("FAIL %s: status %d (%s), failed index %lld; expected %d, index %lld\n", what, got,
               sd_la_status_message(got), (long long)failed, want, (long long)want_failed);
    }
}

/* batch of 3 n x n matrices: identity-like SPD ones, the middle one replaced by `middle`. */
static void fill(int64_t n, double *a, const double *middle)
{
    for (int64_t b = 0; b < 3; b++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                a[(b * n + i) * n + j] = (b == 1 && middle) ? middle[i * n + j] : (i == j ? 2.0 + b : 0.25);
}

/* The call runs before `failed` is read (argument evaluation order is unspecified in C). */
#define EXPECT(call, want, want_failed, what)                                                                      \
    do {                                                                                                           \
        failed = -1;                                                                                               \
        int status_ = (call);                                                                                      \
        expect(status_, want, failed, want_failed, what);                                                          \
    } while (0)

#define N 3
int main(void)
{
    static const double not_pd[N * N] = {1, 2, 0, 2, 1, 0, 0, 0, 1};
    static const double singular[N * N] = {1, 2, 3, 2, 4, 6, 0, 0, 1};
    double a[3 * N * N], b[3 * N * 2], x[3 * N * 2], out[3 * N * N], w[3 * N], v[3 * N * N], s[3 * N];
    float af[3 * N * N], outf[3 * N * N];
    int64_t failed = -1;

    fill(N, a, NULL);
    for (int i = 0; i < 3 * N * 2; i++)
        b[i] = i % 5 - 2.0;
    EXPECT(sd_la_cholesky_f64(3, N, a, out, 1, &failed), SD_LA_OK, -1, "cholesky");
    EXPECT(sd_la_solve_f64(3, N, 2, a, b, x, SD_LA_POSITIVE, 0, &failed), SD_LA_OK, -1, "solve pos");
    EXPECT(sd_la_eigh_f64(3, N, a, w, v, 1, &failed), SD_LA_OK, -1, "eigh");
    EXPECT(sd_la_svd_f64(3, N, N, a, out, s, v, 1, 1, &failed), SD_LA_OK, -1, "svd");
    EXPECT(sd_la_expm_f64(3, N, a, out, &failed), SD_LA_OK, -1, "expm");
    for (int i = 0; i < 3 * N * N; i++)
        af[i] = (float)a[i];
    EXPECT(sd_la_inv_f32(3, N, af, outf, &failed), SD_LA_OK, -1, "inv f32");

    fill(N, a, not_pd);
    EXPECT(sd_la_cholesky_f64(3, N, a, out, 1, &failed), SD_LA_NOT_POSITIVE_DEFINITE, 1, "cholesky not pd");
    EXPECT(sd_la_solve_f64(3, N, 2, a, b, x, SD_LA_POSITIVE, 1, &failed), SD_LA_NOT_POSITIVE_DEFINITE, 1,
           "solve pos not pd");
    EXPECT(sd_la_solve_f64(3, N, 2, a, b, x, SD_LA_GENERAL, 0, &failed), SD_LA_OK, -1, "solve gen");

    fill(N, a, singular);
    EXPECT(sd_la_inv_f64(3, N, a, out, &failed), SD_LA_SINGULAR, 1, "inv singular");
    EXPECT(sd_la_solve_f64(3, N, 2, a, b, x, SD_LA_GENERAL, 0, &failed), SD_LA_SINGULAR, 1, "solve singular");
    EXPECT(sd_la_slogdet_f64(3, N, a, w, s, &failed), SD_LA_OK, -1, "slogdet singular");
    checks++;
    if (w[1] != 0 || !isinf(s[1])) {
        failures++;
        printf("FAIL slogdet of a singular matrix: sign %g, log %g\n", w[1], s[1]);
    }
    for (int i = 0; i < N; i++) /* a zero on the diagonal of a triangular matrix */
        a[(N + i) * N + i] = i == 1 ? 0.0 : 1.0;
    EXPECT(sd_la_solve_triangular_f64(3, N, 2, a, b, x, 1, 0, 0, &failed), SD_LA_SINGULAR, 1, "trtrs");
    EXPECT(sd_la_solve_triangular_f64(3, N, 2, a, b, x, 1, 0, 1, &failed), SD_LA_OK, -1, "trtrs unit");

    /* empty matrices and empty batches: nothing to compute, nothing may be touched */
    EXPECT(sd_la_cholesky_f64(2, 0, a, out, 1, &failed), SD_LA_OK, -1, "cholesky 0x0");
    EXPECT(sd_la_solve_f64(2, 0, 3, a, b, x, SD_LA_SYMMETRIC, 0, &failed), SD_LA_OK, -1, "solve 0x0");
    EXPECT(sd_la_solve_f64(2, 3, 0, a, b, x, SD_LA_SYMMETRIC, 0, &failed), SD_LA_OK, -1, "solve no rhs");
    EXPECT(sd_la_inv_f64(0, N, a, out, &failed), SD_LA_OK, -1, "inv empty batch");
    EXPECT(sd_la_eigh_f64(2, 0, a, w, v, 0, &failed), SD_LA_OK, -1, "eigh 0x0");
    EXPECT(sd_la_svd_f64(1, 3, 0, a, out, s, v, 1, 1, &failed), SD_LA_OK, -1, "svd 3x0");
    EXPECT(sd_la_qr_f64(1, 0, 3, a, out, v, SD_LA_QR_COMPLETE, &failed), SD_LA_OK, -1, "qr 0x3");
    EXPECT(sd_la_pinv_f64(1, 0, 3, a, out, &failed), SD_LA_OK, -1, "pinv 0x3");
    EXPECT(sd_la_expm_f64(2, 0, a, out, &failed), SD_LA_OK, -1, "expm 0x0");
    EXPECT(sd_la_solve_f64(1, N, 1, a, b, x, 7, 0, &failed), SD_LA_BAD_ARGUMENT, failed, "bad assume");
    EXPECT(sd_la_cholesky_f64(1, (int64_t)1 << 40, a, out, 1, &failed), SD_LA_BAD_ARGUMENT, failed, "huge n");

    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
#endif
