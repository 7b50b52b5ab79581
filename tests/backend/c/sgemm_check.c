/* Correctness check of kernels/c/sgemm_avx512.h against a naive double-accumulated loop, run by
 * test_sgemm_kernel.py: exits 0 when every case matches, 1 on a failure, 77 when the compiler
 * targets a CPU without AVX-512 (the kernel then declines every call and OpenBLAS runs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sgemm_avx512.h"

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static float frand(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static void naive(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            double r = (double)alpha * s;
            if (beta != 0.0f) r += (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)r;
        }
}

static int fails = 0, ntests = 0;

/* nanmode: 0 none, 1 put a NaN into A, 2 put an Inf into B */
static void run(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pa, int64_t pb,
                int64_t pc, int nanmode) {
    int64_t lda = (ta ? M : K) + pa, ldb = (tb ? K : N) + pb, ldc = N + pc;
    int64_t arows = ta ? K : M, brows = tb ? N : K;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    size_t na = (size_t)(arows * lda) + 1, nb = (size_t)(brows * ldb) + 1, nc = (size_t)(M * ldc) + 1;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *R = malloc(nc * 4);
    for (size_t i = 0; i < na; i++) A[i] = frand();
    for (size_t i = 0; i < nb; i++) B[i] = frand();
    for (size_t i = 0; i < nc; i++) C[i] = frand();
    if (beta == 0.0f) /* garbage in C must be ignored */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = NAN;
    int64_t ni = 0, nj = 0;
    if (nanmode && M > 0 && N > 0 && K > 0) {
        ni = (int64_t)(rnd() % M); nj = (int64_t)(rnd() % N);
        int64_t k = (int64_t)(rnd() % K);
        if (nanmode == 1) A[ta ? k * lda + ni : ni * lda + k] = NAN;
        else B[tb ? nj * ldb + k : k * ldb + nj] = INFINITY;
    }
    memcpy(R, C, nc * 4);
    naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    int rc = sd_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    ntests++;
    int bad = 0;
    if (rc != 0) bad = 1;
    double tol = 1e-5 * (K + 4) * (fabs(alpha) + 1) + 1e-6;
    for (int64_t i = 0; i < M && !bad; i++)
        for (int64_t j = 0; j < ldc && !bad; j++) {
            float r = R[i * ldc + j], c = C[i * ldc + j];
            if (j >= N) { /* padding must be untouched */
                if (memcmp(&r, &c, 4)) bad = 2;
                continue;
            }
            if (isnan(r) || isnan(c)) { if (isnan(r) != isnan(c)) bad = 3; continue; }
            if (isinf(r) || isinf(c)) { if (r != c) bad = 4; continue; }
            if (fabs((double)r - c) > tol * (1 + fabs(r))) bad = 5;
        }
    if (memcmp(C + M * ldc, R + M * ldc, 4)) bad = 6; /* guard element after C */
    if (bad) {
        fails++;
        if (fails < 20)
            printf("FAIL(%d) ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g lda=%lld ldb=%lld ldc=%lld nan=%d\n", bad,
                   ta, tb, (long long)M, (long long)N, (long long)K, alpha, beta, (long long)lda, (long long)ldb,
                   (long long)ldc, nanmode);
    }
    free(A); free(B); free(C); free(R);
}

int main(int argc, char **argv) {
#if !(defined(__AVX512F__) && defined(__AVX512VL__))
    (void)argc;
    (void)argv;
    printf("no AVX-512 on this CPU\n");
    return 77;
#endif
    int nrand = argc > 1 ? atoi(argv[1]) : 400;
    static const int64_t sz[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 257};
    static const float alphas[] = {1.0f, -0.5f, 2.0f, 0.0f};
    static const float betas[] = {0.0f, 1.0f, 0.5f, -2.0f};
    const int nsz = sizeof sz / sizeof sz[0];
    /* edge sizes, all transposes */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < nsz; a += 1)
                for (int b = 0; b < nsz; b += 2)
                    for (int c = 0; c < nsz; c += 3) {
                        int idx = a + b + c;
                        run(ta, tb, sz[a], sz[b], sz[c], alphas[idx % 4], betas[(idx / 4) % 4], idx % 3, (idx / 3) % 2 * 5,
                            idx % 2 * 3, 0);
                    }
    /* K = 0 */
    for (int t = 0; t < 4; t++) {
        run(t & 1, t >> 1, 5, 17, 0, 1.0f, 0.0f, 0, 0, 2, 0);
        run(t & 1, t >> 1, 33, 3, 0, 1.0f, 0.5f, 1, 1, 0, 0);
        run(t & 1, t >> 1, 1, 1, 0, 2.0f, 1.0f, 0, 0, 0, 0);
    }
    /* NaN / Inf propagation */
    for (int t = 0; t < 16; t++) run(t & 1, (t >> 1) & 1, 37, 53, 29, 1.0f, t & 4 ? 0.0f : 1.0f, 0, 0, 0, 1 + ((t >> 3) & 1));
    /* the production shapes and their halves */
    static const int shp[][5] = {{128, 784, 512, 0, 0}, {128, 512, 512, 0, 0}, {784, 128, 512, 1, 0},
                                 {512, 128, 512, 1, 0}, {128, 512, 512, 0, 1}, {128, 512, 10, 0, 0},
                                 {512, 128, 10, 1, 0},  {128, 10, 512, 0, 1},  {128, 784, 256, 0, 0},
                                 {128, 512, 256, 0, 0}, {128, 512, 256, 0, 1}, {392, 128, 512, 1, 0},
                                 {256, 128, 512, 1, 0}};
    for (unsigned s = 0; s < sizeof shp / sizeof shp[0]; s++) {
        /* (M, K, N) */
        run(shp[s][3], shp[s][4], shp[s][0], shp[s][2], shp[s][1], 1.0f, 0.0f, 0, 0, 0, 0);
        run(shp[s][3], shp[s][4], shp[s][0], shp[s][2], shp[s][1], 0.7f, 1.0f, 3, 1, 5, 0);
    }
    /* bigger than one block in every dimension */
    run(0, 0, 600, 1700, 450, 1.0f, 0.5f, 1, 2, 3, 0);
    run(1, 1, 530, 1601, 401, -1.0f, 0.0f, 0, 0, 0, 0);
    /* random */
    for (int t = 0; t < nrand; t++) {
        int64_t M = 1 + rnd() % (rnd() % 2 ? 40 : 300), N = 1 + rnd() % (rnd() % 2 ? 40 : 300),
                K = rnd() % (rnd() % 2 ? 40 : 500);
        run(rnd() % 2, rnd() % 2, M, N, K, alphas[rnd() % 4], betas[rnd() % 4], rnd() % 5, rnd() % 5, rnd() % 5,
            (int)(rnd() % 8 == 0) * (1 + (int)(rnd() % 2)));
    }
    printf("%d tests, %d failures\n", ntests, fails);
    return fails != 0;
}
