/*
 * sgemm_avx512.h -- header-only single-threaded SGEMM for x86-64 AVX-512 (BLIS/GotoBLAS style).
 *
 *   C = alpha * op(A) * op(B) + beta * C        (all matrices ROW-MAJOR)
 *
 *   op(A) is M x K (A is stored K x M with leading dimension lda when ta != 0)
 *   op(B) is K x N (B is stored N x K with leading dimension ldb when tb != 0)
 *
 * Semantics:
 *   - beta == 0 never reads C (C may hold NaN garbage).
 *   - K == 0 gives C = beta*C (C = 0 when beta == 0).
 *   - alpha is NOT special-cased: alpha == 0 still multiplies through, so NaN/Inf in A/B propagate as in
 *     a naive loop (reference BLAS would skip A/B for alpha == 0).
 *   - No alignment requirement on A, B, C or leading dimensions (unaligned/masked loads and stores).
 *   - Returns 0 when done, -1 when not handled (no AVX-512 at compile time, bad arguments, or the one-time
 *     per-thread buffer allocation failed); the caller then falls back to BLAS.
 *
 * Paths:
 *   - general: pack op(B) into KC x 48 panels and op(A) into 8 x KC panels, 8x48 register-tile kernel.
 *   - ta && N <= 12: no A packing, vectorize along M (op(A) columns are contiguous), 32 x {4,8,12} tiles.
 *   - N <= 16 otherwise: no A packing (each A element is used once), 8 x 16 tiles with masked columns.
 *
 * Threading: the function is single-threaded and re-entrant.  Packing buffers are per thread
 * (a _Thread_local pointer to one aligned_alloc'ed block of SD_BUF_FLOATS floats, ~1.4 MB, allocated on
 * the first call in each thread and kept for the thread's lifetime -- it is intentionally never freed,
 * so each thread that ever calls sd_sgemm holds ~1.4 MB).  Safe to call concurrently from OpenMP threads.
 *
 * Compile with e.g. gcc -O3 -march=native (needs AVX512F + AVX512VL); works at -O2 as well.
 */
#ifndef SGEMM_AVX512_H
#define SGEMM_AVX512_H

#include <stdint.h>
#include <stdlib.h>

#if defined(__AVX512F__) && defined(__AVX512VL__)
#include <immintrin.h>

/* ---------------------------------------------------------------------------------------------------
 * Blocking parameters (tuned on a Xeon "family 6 model 207" = Emerald Rapids: 48 KB L1d, 2 MB L2/core,
 * 2 x 512-bit FMA ports, 3 load ports).
 *
 * SD_MR x (SD_NV*16): register tile of C.  8 rows x 48 columns = 24 zmm accumulators, + 3 zmm for the
 *   B row + 1 broadcast register = 28 of 32 zmm.  Per k-step: 3 vector loads + 8 broadcasts (11 load uops)
 *   for 24 FMAs (12 cycles on 2 FMA ports), so the kernel is FMA-bound, not load-bound.  24 independent
 *   accumulators cover FMA latency (4 cycles x 2 ports = 8 needed).  MR = 8 also makes the A-transpose
 *   during packing an exact 8x8 transpose, and divides all the M values of interest (128, 256, 392, 512, 784).
 *   The last column panel uses a 1- or 2-vector variant of the same kernel, so N = 512 (10x48 + 32) or
 *   N = 256 (5x48 + 16) waste nothing beyond lane masking.
 * SD_KC: depth of a K block.  The B micro-panel (KC x 48 floats = KC*192 bytes) is reused by all M/8
 *   micro-tiles of the block and should stay in L1 (48 KB): KC = 192 -> 36 KB.  Measured KC = 128/192/256/384
 *   interleaved: all within ~2% on the target shapes; 192 kept (fewest C read-modify-write passes that still
 *   keeps the B micro-panel in L1).  K is split into equal
 *   blocks (rounded to 8) so e.g. K = 784 becomes 4 x 196 rather than 4 x 192 + 16.
 * SD_MC: rows of A packed at once (MC x KC floats streamed from L2 for every B micro-panel): 256 x 200 x 4
 *   = 200 KB, comfortably in the 2 MB L2 together with the packed B block.
 * SD_NC: columns of B packed at once (KC x NC floats): 200 x 1536 x 4 = 1.2 MB, fits in L2.  Our shapes
 *   have N <= 512, so B is packed exactly once per K block.
 * ------------------------------------------------------------------------------------------------- */
#ifndef SD_KC
#define SD_KC 192
#endif
#ifndef SD_MC
#define SD_MC 256
#endif
#ifndef SD_NC
#define SD_NC 1536
#endif
#ifndef SD_PFC
#define SD_PFC 0 /* 1: prefetch every cache line of the C tile, not just the first of each row (measured: no gain) */
#endif
#define SD_MR 8
#define SD_NV 3
#define SD_NR (SD_NV * 16)

/* Maximal kc after equal splitting: ceil(K/nb) rounded up to 8 with nb = ceil(K/KC) is <= KC + 7 */
#define SD_KCMAX (SD_KC + 8)
#define SD_APACK_FLOATS ((((int64_t)SD_MC * SD_KCMAX) + 15) & ~(int64_t)15) /* keeps Bp 64-byte aligned */
#define SD_BPACK_FLOATS ((int64_t)(SD_NC + SD_NR) * SD_KCMAX)
#define SD_BUF_FLOATS (SD_APACK_FLOATS + SD_BPACK_FLOATS + 64)

static _Thread_local float *sd_tls_buf = 0;

static inline float *sd_get_buf(void) {
    if (!sd_tls_buf) {
        size_t bytes = (size_t)SD_BUF_FLOATS * sizeof(float);
        bytes = (bytes + 4095) & ~(size_t)4095;
        sd_tls_buf = (float *)aligned_alloc(4096, bytes);
    }
    return sd_tls_buf;
}

static inline int64_t sd_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* mask with the low n (0..16) bits set */
static inline __mmask16 sd_mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u));
}
static inline __mmask8 sd_mask8(int64_t n) {
    return n >= 8 ? (__mmask8)0xFF : (n <= 0 ? (__mmask8)0 : (__mmask8)((1u << n) - 1u));
}

/* In-register 8x8 transpose of r[0..7] (ymm). */
static inline void sd_tr8x8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* 8 rows x 16 k transpose in zmm (rows r[0..7], each holding 16 consecutive k of one source row).
 * Produces o[q] (q = 0..7) holding [k = kk(q): rows 0..7, k = kk(q)+1: rows 0..7] where the k pairs are
 * o[0]:0,1  o[1]:4,5  o[2]:8,9  o[3]:12,13  o[4]:2,3  o[5]:6,7  o[6]:10,11  o[7]:14,15.
 * 32 shuffles per 128 elements (vs 48 for two 8x8 ymm transposes). */
static inline void sd_tr8x16(const __m512 r[8], __m512 o[8]) {
    __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpackhi_ps(r[0], r[1]);
    __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
    __m512 t4 = _mm512_unpacklo_ps(r[4], r[5]), t5 = _mm512_unpackhi_ps(r[4], r[5]);
    __m512 t6 = _mm512_unpacklo_ps(r[6], r[7]), t7 = _mm512_unpackhi_ps(r[6], r[7]);
    /* s0: per 128-bit lane L, rows 0-3 at k = 4L; s1: k = 4L+1; s2: 4L+2; s3: 4L+3; s4..s7: rows 4-7 */
    __m512 s0 = _mm512_shuffle_ps(t0, t2, 0x44), s1 = _mm512_shuffle_ps(t0, t2, 0xEE);
    __m512 s2 = _mm512_shuffle_ps(t1, t3, 0x44), s3 = _mm512_shuffle_ps(t1, t3, 0xEE);
    __m512 s4 = _mm512_shuffle_ps(t4, t6, 0x44), s5 = _mm512_shuffle_ps(t4, t6, 0xEE);
    __m512 s6 = _mm512_shuffle_ps(t5, t7, 0x44), s7 = _mm512_shuffle_ps(t5, t7, 0xEE);
    __m512 x0 = _mm512_shuffle_f32x4(s0, s4, 0x44), y0 = _mm512_shuffle_f32x4(s1, s5, 0x44);
    __m512 x1 = _mm512_shuffle_f32x4(s0, s4, 0xEE), y1 = _mm512_shuffle_f32x4(s1, s5, 0xEE);
    __m512 x2 = _mm512_shuffle_f32x4(s2, s6, 0x44), y2 = _mm512_shuffle_f32x4(s3, s7, 0x44);
    __m512 x3 = _mm512_shuffle_f32x4(s2, s6, 0xEE), y3 = _mm512_shuffle_f32x4(s3, s7, 0xEE);
    o[0] = _mm512_shuffle_f32x4(x0, y0, 0x88); /* k 0,1 */
    o[1] = _mm512_shuffle_f32x4(x0, y0, 0xDD); /* k 4,5 */
    o[2] = _mm512_shuffle_f32x4(x1, y1, 0x88); /* k 8,9 */
    o[3] = _mm512_shuffle_f32x4(x1, y1, 0xDD); /* k 12,13 */
    o[4] = _mm512_shuffle_f32x4(x2, y2, 0x88); /* k 2,3 */
    o[5] = _mm512_shuffle_f32x4(x2, y2, 0xDD); /* k 6,7 */
    o[6] = _mm512_shuffle_f32x4(x3, y3, 0x88); /* k 10,11 */
    o[7] = _mm512_shuffle_f32x4(x3, y3, 0xDD); /* k 14,15 */
}

/* Transposing pack: src is a (rows x kc) block with row stride lds (rows <= 8 valid rows, rest are zero),
 * dst[k*ldd + r] = src[r*lds + k] for k < kc, r < 8 (8 floats written per k, zero-padded).
 * Full 8 x 16 blocks take the branch-free zmm path; edges use masked 8x8 ymm transposes. */
static inline void sd_pack_tr8(const float *src, int64_t lds, int64_t rows, int64_t kc, float *dst, int64_t ldd) {
    int64_t k = 0;
    if (rows >= 8) {
        static const int kk[8] = {0, 4, 8, 12, 2, 6, 10, 14};
        for (; k + 16 <= kc; k += 16) {
            __m512 r[8], o[8];
            for (int i = 0; i < 8; i++) r[i] = _mm512_loadu_ps(src + i * lds + k);
            sd_tr8x16(r, o);
            if (ldd == 8) {
                for (int q = 0; q < 8; q++) _mm512_storeu_ps(dst + (k + kk[q]) * 8, o[q]);
            } else {
                for (int q = 0; q < 8; q++) {
                    _mm256_storeu_ps(dst + (k + kk[q]) * ldd, _mm512_castps512_ps256(o[q]));
                    _mm256_storeu_ps(dst + (k + kk[q] + 1) * ldd,
                                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(o[q]), 1)));
                }
            }
        }
    }
    __m256 r[8];
    for (; k < kc; k += 8) {
        __mmask8 km = sd_mask8(kc - k);
        for (int i = 0; i < 8; i++)
            r[i] = (i < rows) ? _mm256_maskz_loadu_ps(km, src + i * lds + k) : _mm256_setzero_ps();
        sd_tr8x8(r);
        int64_t nk = kc - k < 8 ? kc - k : 8;
        for (int c = 0; c < nk; c++) _mm256_storeu_ps(dst + (k + c) * ldd, r[c]);
    }
}

/* Pack rows [0, mc) x cols [0, kc) of op(A) (origin already applied) into MR-row panels:
 * panel p holds dst[p*MR*kc + k*MR + i] = op(A)[p*MR + i][k], zero-padded to MR rows. */
static inline void sd_pack_A(int ta, const float *A, int64_t lda, int64_t mc, int64_t kc, float *dst) {
    for (int64_t i0 = 0; i0 < mc; i0 += SD_MR) {
        int64_t mr = sd_min64(SD_MR, mc - i0);
        float *d = dst + i0 * kc;
        if (!ta) {
            /* op(A)[i][k] = A[i*lda + k]: rows are contiguous in k -> transpose 8x8 blocks */
            sd_pack_tr8(A + i0 * lda, lda, mr, kc, d, SD_MR);
        } else {
            /* op(A)[i][k] = A[k*lda + i]: MR contiguous floats per k */
            const float *s = A + i0;
            if (mr == SD_MR) {
                int64_t k = 0;
                for (; k + 4 <= kc; k += 4) {
                    _mm256_storeu_ps(d + (k + 0) * SD_MR, _mm256_loadu_ps(s + (k + 0) * lda));
                    _mm256_storeu_ps(d + (k + 1) * SD_MR, _mm256_loadu_ps(s + (k + 1) * lda));
                    _mm256_storeu_ps(d + (k + 2) * SD_MR, _mm256_loadu_ps(s + (k + 2) * lda));
                    _mm256_storeu_ps(d + (k + 3) * SD_MR, _mm256_loadu_ps(s + (k + 3) * lda));
                }
                for (; k < kc; k++) _mm256_storeu_ps(d + k * SD_MR, _mm256_loadu_ps(s + k * lda));
            } else {
                __mmask8 m = sd_mask8(mr);
                for (int64_t k = 0; k < kc; k++) _mm256_storeu_ps(d + k * SD_MR, _mm256_maskz_loadu_ps(m, s + k * lda));
            }
        }
    }
}

/* Pack rows [0, kc) x cols [0, nc) of op(B) (origin already applied) into column panels of width NR.
 * Panel starting at column j0 (width w = min(NR, nc-j0), nv = ceil(w/16) vectors, stride S = 16*nv)
 * lives at dst + j0*kc and holds dst[j0*kc + k*S + j] = op(B)[k][j0 + j], zero-padded to S columns. */
static inline void sd_pack_B(int tb, const float *B, int64_t ldb, int64_t kc, int64_t nc, float *dst) {
    if (!tb) {
        /* op(B)[k][j] = B[k*ldb + j]: walk B row by row (sequential reads, friendly to the HW prefetcher),
         * scattering each row into the panels. */
        int64_t nfull = nc / SD_NR, wl = nc - nfull * SD_NR, nvl = (wl + 15) >> 4;
        for (int64_t k = 0; k < kc; k++) {
            const float *s = B + k * ldb;
            float *d = dst + k * SD_NR;
            for (int64_t p = 0; p < nfull; p++) {
                __m512 v0 = _mm512_loadu_ps(s + p * SD_NR), v1 = _mm512_loadu_ps(s + p * SD_NR + 16),
                       v2 = _mm512_loadu_ps(s + p * SD_NR + 32);
                float *dp = d + p * SD_NR * kc;
                _mm512_store_ps(dp, v0);
                _mm512_store_ps(dp + 16, v1);
                _mm512_store_ps(dp + 32, v2);
            }
            if (wl) {
                float *dp = dst + nfull * SD_NR * kc + k * nvl * 16;
                for (int64_t v = 0; v < nvl; v++)
                    _mm512_store_ps(dp + v * 16, _mm512_maskz_loadu_ps(sd_mask16(wl - v * 16), s + nfull * SD_NR + v * 16));
            }
        }
        return;
    }
    for (int64_t j0 = 0; j0 < nc; j0 += SD_NR) {
        int64_t w = sd_min64(SD_NR, nc - j0);
        int64_t nv = (w + 15) >> 4, S = nv * 16;
        float *d = dst + j0 * kc;
        if (!tb) {
            continue; /* handled row-wise below */
        } else {
            /* op(B)[k][j] = B[j*ldb + k]: transpose 8 columns x 8 k at a time */
            for (int64_t jb = 0; jb < S; jb += 8) {
                int64_t rows = w - jb; /* may be <= 0: zero padding */
                if (rows < 0) rows = 0;
                sd_pack_tr8(B + (j0 + jb) * ldb, ldb, rows, kc, d + jb, S);
            }
        }
    }
}

/* Micro-kernel: acc(8 x 16*NV) = Ap(8 x kc, k-major) * Bp(kc x 16*NV, k-major), then
 *   mode 0: C = alpha*acc            (beta == 0, C not read)
 *   mode 1: C = alpha*acc + beta*C
 *   mode 2: C = alpha*acc + C
 * Only rows < mr and columns < nr are touched (masked stores). */
#define SD_DEFINE_KERNEL(NV)                                                                                     \
    static inline void sd_kernel_##NV(int64_t kc, const float *__restrict Ap, const float *__restrict Bp,        \
                                      float *C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,    \
                                      int mode) {                                                                \
        __m512 acc[SD_MR][NV];                                                                                   \
        _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++)                                                  \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();                \
        _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) if (i < mr) {                                    \
            _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);                                              \
            if (SD_PFC && NV > 1) _mm_prefetch((const char *)(C + i * ldc + 16 * NV - 1), _MM_HINT_T0);          \
            if (SD_PFC && NV > 2) _mm_prefetch((const char *)(C + i * ldc + 16), _MM_HINT_T0);                   \
        }                                                                                                        \
        _Pragma("GCC unroll 2") for (int64_t k = 0; k < kc; k++) {                                      \
            __m512 b[NV];                                                                                        \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(Bp + k * (16 * NV) + 16 * v); \
            _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) {                                            \
                __m512 a = _mm512_set1_ps(Ap[k * SD_MR + i]);                                                    \
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]); \
            }                                                                                                    \
        }                                                                                                        \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                            \
        __mmask16 m[NV];                                                                                         \
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) m[v] = sd_mask16(nr - 16 * v);                      \
        _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) {                                                \
            if (i < mr) {                                                                                        \
                float *c = C + i * ldc;                                                                          \
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) {                                           \
                    __m512 r;                                                                                    \
                    if (mode == 0) r = _mm512_mul_ps(acc[i][v], va);                                             \
                    else if (mode == 1)                                                                          \
                        r = _mm512_fmadd_ps(acc[i][v], va, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m[v], c + 16 * v))); \
                    else r = _mm512_fmadd_ps(acc[i][v], va, _mm512_maskz_loadu_ps(m[v], c + 16 * v));           \
                    _mm512_mask_storeu_ps(c + 16 * v, m[v], r);                                                  \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }

SD_DEFINE_KERNEL(1)
SD_DEFINE_KERNEL(2)
SD_DEFINE_KERNEL(3)


/* Narrow-N micro-kernel (N <= 16): 8 rows x 1 zmm, A read IN PLACE with element (i,k) at A[i*rsa + k*csa]
 * (no A packing: for N <= 16 each A element is used only once, so packing A would cost as much as the
 * whole multiply).  Two accumulator sets (even/odd k) give 16 independent FMA chains to cover latency. */
static inline void sd_kernel_narrow(int64_t kc, const float *__restrict A, int64_t rsa, int64_t csa,
                                    const float *__restrict Bp, float *C, int64_t ldc, int64_t mr, int64_t nr,
                                    float alpha, float beta, int mode) {
    __m512 acc0[SD_MR], acc1[SD_MR];
    _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) { acc0[i] = _mm512_setzero_ps(); acc1[i] = _mm512_setzero_ps(); }
    int64_t k = 0;
    for (; k + 2 <= kc; k += 2) {
        __m512 b0 = _mm512_load_ps(Bp + k * 16), b1 = _mm512_load_ps(Bp + k * 16 + 16);
        const float *a = A + k * csa;
        _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) {
            acc0[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * rsa]), b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * rsa + csa]), b1, acc1[i]);
        }
    }
    if (k < kc) {
        __m512 b0 = _mm512_load_ps(Bp + k * 16);
        const float *a = A + k * csa;
        _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) acc0[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * rsa]), b0, acc0[i]);
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m = sd_mask16(nr);
    _Pragma("GCC unroll 8") for (int i = 0; i < SD_MR; i++) {
        if (i < mr) {
            float *c = C + i * ldc;
            __m512 acc = _mm512_add_ps(acc0[i], acc1[i]), r;
            if (mode == 0) r = _mm512_mul_ps(acc, va);
            else if (mode == 1) r = _mm512_fmadd_ps(acc, va, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, c)));
            else r = _mm512_fmadd_ps(acc, va, _mm512_maskz_loadu_ps(m, c));
            _mm512_mask_storeu_ps(c, m, r);
        }
    }
}

/* N <= 16 driver: pack op(B) (kc x 16, tiny), stream A in place. */
static inline void sd_sgemm_narrow(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                                   float *Ap, float *Bp, int64_t kcb) {
    int64_t rsa = ta ? 1 : lda, csa = ta ? lda : 1;
    for (int64_t pc = 0; pc < K; pc += kcb) {
        int64_t kc = sd_min64(kcb, K - pc);
        int mode = (pc == 0) ? (beta == 0.0f ? 0 : (beta == 1.0f ? 2 : 1)) : 2;
        sd_pack_B(tb, tb ? B + pc : B + pc * ldb, ldb, kc, N, Bp);
        const float *a0 = A + pc * csa;
        int64_t ir = 0;
        for (; ir + SD_MR <= M; ir += SD_MR)
            sd_kernel_narrow(kc, a0 + ir * rsa, rsa, csa, Bp, C + ir * ldc, ldc, SD_MR, N, alpha, beta, mode);
        if (ir < M) { /* row tail: pack the few remaining rows (zero padded) so no row past M is read */
            sd_pack_A(ta, a0 + ir * rsa, lda, M - ir, kc, Ap);
            sd_kernel_narrow(kc, Ap, 1, SD_MR, Bp, C + ir * ldc, ldc, M - ir, N, alpha, beta, mode);
        }
    }
}


/* Narrow-N kernel for transposed A (ta != 0, N <= 12): op(A) columns are contiguous in memory, so vectorize
 * along M instead of N: a tile of 32 rows (2 zmm of A per k) x NJ columns, NJ in {4, 8, 12} (B zero-padded),
 * 2*NJ <= 24 accumulators, all 16 lanes useful (vs 10/16 for N = 10 with N-vectorization).  The 16 x NJ
 * accumulator blocks are transposed in registers before the (masked) row stores into C. */
#define SD_DEFINE_MV_KERNEL(NJ)                                                                                  \
    static inline void sd_kernel_mv_##NJ(int64_t kc, const float *__restrict A, int64_t lda,                     \
                                         const float *__restrict Bp, float *C, int64_t ldc, int64_t mi,          \
                                         int64_t n, float alpha, float beta, int mode) {                         \
        __m512 acc[2][NJ];                                                                                       \
        _Pragma("GCC unroll 16") for (int j = 0; j < NJ; j++) {                                                  \
            acc[0][j] = _mm512_setzero_ps();                                                                     \
            acc[1][j] = _mm512_setzero_ps();                                                                     \
        }                                                                                                        \
        __mmask16 m0 = sd_mask16(mi), m1 = sd_mask16(mi - 16);                                                   \
        for (int64_t k = 0; k < kc; k++) {                                                                       \
            __m512 a0 = _mm512_maskz_loadu_ps(m0, A + k * lda), a1 = _mm512_maskz_loadu_ps(m1, A + k * lda + 16); \
            _Pragma("GCC unroll 16") for (int j = 0; j < NJ; j++) {                                              \
                __m512 b = _mm512_set1_ps(Bp[k * 16 + j]);                                                       \
                acc[0][j] = _mm512_fmadd_ps(a0, b, acc[0][j]);                                                   \
                acc[1][j] = _mm512_fmadd_ps(a1, b, acc[1][j]);                                                   \
            }                                                                                                    \
        }                                                                                                        \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                            \
        __mmask16 m = sd_mask16(n);                                                                              \
        static const int kk[8] = {0, 4, 8, 12, 2, 6, 10, 14};                                                    \
        _Pragma("GCC unroll 2") for (int v = 0; v < 2; v++) {                                                    \
            int64_t rows = mi - 16 * v;                                                                          \
            if (rows <= 0) continue;                                                                             \
            __m512 r[8], o1[8], o2[8];                                                                           \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) r[j] = j < NJ ? acc[v][j] : _mm512_setzero_ps(); \
            sd_tr8x16(r, o1);                                                                                    \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) r[j] = j + 8 < NJ ? acc[v][(j + 8) % NJ] : _mm512_setzero_ps(); \
            sd_tr8x16(r, o2);                                                                                    \
            _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++) {                                                \
                _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {                                            \
                    int64_t i = kk[q] + h;                                                                       \
                    if (i < rows) {                                                                              \
                        __m512 x = h ? _mm512_shuffle_f32x4(o1[q], o2[q], 0xEE) : _mm512_shuffle_f32x4(o1[q], o2[q], 0x44); \
                        float *c = C + (16 * v + i) * ldc;                                                       \
                        if (mode == 0) x = _mm512_mul_ps(x, va);                                                 \
                        else if (mode == 1) x = _mm512_fmadd_ps(x, va, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, c))); \
                        else x = _mm512_fmadd_ps(x, va, _mm512_maskz_loadu_ps(m, c));                            \
                        _mm512_mask_storeu_ps(c, m, x);                                                          \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }
SD_DEFINE_MV_KERNEL(4)
SD_DEFINE_MV_KERNEL(8)
SD_DEFINE_MV_KERNEL(12)

static inline void sd_sgemm_narrow_ta(int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                                      float *Bp, int64_t kcb) {
    for (int64_t pc = 0; pc < K; pc += kcb) {
        int64_t kc = sd_min64(kcb, K - pc);
        int mode = (pc == 0) ? (beta == 0.0f ? 0 : (beta == 1.0f ? 2 : 1)) : 2;
        sd_pack_B(tb, tb ? B + pc : B + pc * ldb, ldb, kc, N, Bp);
        const float *a0 = A + pc * lda;
        for (int64_t ir = 0; ir < M; ir += 32) {
            int64_t mi = sd_min64(32, M - ir);
            if (N <= 4) sd_kernel_mv_4(kc, a0 + ir, lda, Bp, C + ir * ldc, ldc, mi, N, alpha, beta, mode);
            else if (N <= 8) sd_kernel_mv_8(kc, a0 + ir, lda, Bp, C + ir * ldc, ldc, mi, N, alpha, beta, mode);
            else sd_kernel_mv_12(kc, a0 + ir, lda, Bp, C + ir * ldc, ldc, mi, N, alpha, beta, mode);
        }
    }
}

/* C = beta*C over an M x N block (beta == 0 writes zeros without reading C) */
static inline void sd_scale_C(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    __m512 vb = _mm512_set1_ps(beta);
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j += 16) {
            __mmask16 m = sd_mask16(N - j);
            if (beta == 0.0f) _mm512_mask_storeu_ps(c + j, m, _mm512_setzero_ps());
            else if (beta != 1.0f) _mm512_mask_storeu_ps(c + j, m, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, c + j)));
        }
    }
}

static int sd_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0) return -1;
    if (M == 0 || N == 0) return 0;
    if (ldc < N || lda < (ta ? M : K) || ldb < (tb ? K : N)) {
        if (K > 0) return -1; /* only ldc matters when K == 0 */
        if (ldc < N) return -1;
    }
    if (K == 0) {
        sd_scale_C(M, N, beta, C, ldc);
        return 0;
    }
    float *buf = sd_get_buf();
    if (!buf) return -1;
    float *Ap = buf;
    float *Bp = buf + SD_APACK_FLOATS;

    /* split K, M and N into equal blocks (K blocks multiple of 8, M blocks multiple of MR, N of NR) */
    int64_t nkb = (K + SD_KC - 1) / SD_KC;
    int64_t kcb = ((K + nkb - 1) / nkb + 7) & ~(int64_t)7;
    int64_t nmb = (M + SD_MC - 1) / SD_MC;
    int64_t mcb = ((M + nmb - 1) / nmb + SD_MR - 1) / SD_MR * SD_MR;
    int64_t nnb = (N + SD_NC - 1) / SD_NC;
    int64_t ncb = ((N + nnb - 1) / nnb + SD_NR - 1) / SD_NR * SD_NR;

    if (ta && N <= 12) {
        sd_sgemm_narrow_ta(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, Bp, kcb);
        return 0;
    }
    if (N <= 16) {
        sd_sgemm_narrow(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, Ap, Bp, kcb);
        return 0;
    }

    for (int64_t jc = 0; jc < N; jc += ncb) {
        int64_t nc = sd_min64(ncb, N - jc);
        for (int64_t pc = 0; pc < K; pc += kcb) {
            int64_t kc = sd_min64(kcb, K - pc);
            int mode = (pc == 0) ? (beta == 0.0f ? 0 : (beta == 1.0f ? 2 : 1)) : 2;
            sd_pack_B(tb, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, kc, nc, Bp);
            for (int64_t ic = 0; ic < M; ic += mcb) {
                int64_t mc = sd_min64(mcb, M - ic);
                sd_pack_A(ta, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, mc, kc, Ap);
                for (int64_t jr = 0; jr < nc; jr += SD_NR) {
                    int64_t nr = sd_min64(SD_NR, nc - jr);
                    const float *bp = Bp + jr * kc;
                    float *cc = C + ic * ldc + jc + jr;
                    if (nr > 32) {
                        for (int64_t ir = 0; ir < mc; ir += SD_MR)
                            sd_kernel_3(kc, Ap + ir * kc, bp, cc + ir * ldc, ldc, sd_min64(SD_MR, mc - ir), nr, alpha, beta, mode);
                    } else if (nr > 16) {
                        for (int64_t ir = 0; ir < mc; ir += SD_MR)
                            sd_kernel_2(kc, Ap + ir * kc, bp, cc + ir * ldc, ldc, sd_min64(SD_MR, mc - ir), nr, alpha, beta, mode);
                    } else {
                        for (int64_t ir = 0; ir < mc; ir += SD_MR)
                            sd_kernel_1(kc, Ap + ir * kc, bp, cc + ir * ldc, ldc, sd_min64(SD_MR, mc - ir), nr, alpha, beta, mode);
                    }
                }
            }
        }
    }
    return 0;
}

#else /* no AVX-512 */

static int sd_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)ta; (void)tb; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    return -1;
}

#endif
#endif /* SGEMM_AVX512_H */
