/* symdl: 2-d convolution kernels (NCHW input, OIHW filters, contiguous arrays).
 *
 * The semantics are symdl.tensor.nnet.conv's (Theano's conv2d): padding top/bottom/left/right,
 * stride, dilation, groups, and `flip` (1: true convolution, the filters flipped in both spatial
 * axes; 0: cross-correlation).
 *
 * Method: im2col + GEMM one image at a time, in tiles of output rows, so the unrolled windows of
 * a tile (a K = channels/groups * kh * kw by rows * out_cols matrix, about
 * SD_CONV2D_TILE_ELEMENTS elements) are still in cache for the product. Small images (fewer than
 * SD_CONV2D_BATCH_COLUMNS outputs) go several to a product in the forward pass and the input
 * gradient (see sd_conv2d_batch; the filter gradient measured no gain). With `threads` > 1 the
 * images are shared among OpenMP threads, each with its own buffer; the caller must then pass a
 * single-threaded `gemm` (a BLAS limited to one thread). The filter gradient is accumulated per
 * thread and summed in thread order, so results do not depend on timing.
 *
 * The matrix product is the caller's: `sd_conv_gemm_f32` / `_f64` compute, row-major,
 *     C[M, N] = op(A)[M, K] @ op(B)[K, N] + beta * C
 * with op(X) = X^T when its flag is set.
 *
 * Entry points (each returns 0, or -1 when a work buffer cannot be allocated):
 *     sd_conv2d_forward_{f32,f64}(geom, x, w, y, gemm, threads)         y  (n, o, oh, ow)
 *     sd_conv2d_grad_input_{f32,f64}(geom, w, gy, gx, gemm, threads)    gx (n, c, h, w)
 *     sd_conv2d_grad_weights_{f32,f64}(geom, x, gy, gw, gemm, threads)  gw (o, c / groups, kh, kw)
 */
#ifndef SYMDL_CONV_H
#define SYMDL_CONV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int64_t n, c, h, w;     /* input: batch, channels, rows, cols */
    int64_t o, kh, kw;      /* filters: (o, c / groups, kh, kw) */
    int64_t groups;
    int64_t pt, pb, pl, pr; /* padding: top, bottom, left, right */
    int64_t sh, sw;         /* stride */
    int64_t dh, dw;         /* dilation */
    int64_t oh, ow;         /* output rows, cols: sd_conv2d_out_size */
    int flip;               /* 1: true convolution; 0: cross-correlation */
} sd_conv2d_geom;

/* Output length of one axis; < 1 when the dilated filter is larger than the padded input. */
static inline int64_t sd_conv2d_out_size(int64_t size, int64_t pad0, int64_t pad1, int64_t k, int64_t stride,
                                         int64_t dilation)
{
    return (size + pad0 + pad1 - ((k - 1) * dilation + 1)) / stride + 1;
}

typedef void (*sd_conv_gemm_f32)(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
typedef void (*sd_conv_gemm_f64)(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                                 const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

/* Output columns j whose input column start + j * stride lies in [0, size): [*lo, *hi). */
static inline void sd_conv2d_valid_range(int64_t out, int64_t stride, int64_t start, int64_t size, int64_t *lo,
                                         int64_t *hi)
{
    int64_t a = start >= 0 ? 0 : (-start + stride - 1) / stride;
    int64_t b = start >= size ? 0 : (size - start + stride - 1) / stride;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

#ifndef SD_CONV2D_TILE_ELEMENTS
#define SD_CONV2D_TILE_ELEMENTS 262144
#endif

/* Output rows per tile: the unrolled windows of a tile (K x rows * ow) stay near
 * SD_CONV2D_TILE_ELEMENTS elements, so they are still in cache for the product. */
static inline int64_t sd_conv2d_tile_rows(const sd_conv2d_geom *g, int64_t K)
{
    int64_t per_row = K * g->ow;
    int64_t rows = per_row > 0 ? SD_CONV2D_TILE_ELEMENTS / per_row : g->oh;
    if (rows < 1)
        rows = 1;
    return rows < g->oh ? rows : (g->oh > 0 ? g->oh : 1);
}

/* Images per product: whole small images (one tile each, under SD_CONV2D_BATCH_COLUMNS outputs)
 * side by side in one product, whose filters are then packed once for all of them and whose
 * columns fill the GEMM kernel's register tiles (measured with symdl's AVX-512 sgemm on 8x8 outputs
 * of 32 x 5x5 windows: +15-20 % for the forward and input-gradient products). */
#ifndef SD_CONV2D_BATCH_COLUMNS
#define SD_CONV2D_BATCH_COLUMNS 256
#endif
static inline int64_t sd_conv2d_batch(const sd_conv2d_geom *g, int64_t rows, int64_t K)
{
    const int64_t P = g->oh * g->ow;
    if (rows < g->oh || P <= 0 || P >= SD_CONV2D_BATCH_COLUMNS)
        return 1;
    int64_t batch = (SD_CONV2D_BATCH_COLUMNS + P - 1) / P;
    const int64_t fit = K * P > 0 ? SD_CONV2D_TILE_ELEMENTS / (K * P) : batch;
    if (batch > fit)
        batch = fit;
    if (batch > g->n)
        batch = g->n;
    return batch > 1 ? batch : 1;
}

static inline int sd_conv2d_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#define SD_CONV2D_DEFINE(T, SUF)                                                                                       \
    /* Unroll the windows of output rows [i0, i1) of one image plane group into col (K x (i1 - i0) * ow, rows          \
     * `ld` apart); matrix row (c * kh + a) * kw + b. Not inlined, so that its copy loops stay loops (gcc       \
     * would turn them into calls of memmove, a fifth of a small convolution's time for rows of 8). */                 \
    static __attribute__((noinline, optimize("no-tree-loop-distribute-patterns"))) void sd_im2col_##SUF(               \
        const sd_conv2d_geom *g, const T *image, int64_t i0, int64_t i1, T *col, int64_t ld)                           \
    {                                                                                                                  \
        const int64_t K = (g->c / g->groups) * g->kh * g->kw;                                                          \
        for (int64_t row = 0; row < K; row++) {                                                                        \
            const int64_t c = row / (g->kh * g->kw), a = (row / g->kw) % g->kh, b = row % g->kw;                       \
            const T *plane = image + c * g->h * g->w;                                                                  \
            T *dst = col + row * ld;                                                                                   \
            int64_t jlo, jhi;                                                                                          \
            sd_conv2d_valid_range(g->ow, g->sw, b * g->dw - g->pl, g->w, &jlo, &jhi);                                  \
            for (int64_t i = i0; i < i1; i++, dst += g->ow) {                                                          \
                const int64_t r = i * g->sh - g->pt + a * g->dh;                                                       \
                if (r < 0 || r >= g->h) {                                                                              \
                    for (int64_t j = 0; j < g->ow; j++)                                                                \
                        dst[j] = 0;                                                                                    \
                    continue;                                                                                          \
                }                                                                                                      \
                const T *src = plane + r * g->w + (b * g->dw - g->pl);                                                 \
                for (int64_t j = 0; j < jlo; j++)                                                                      \
                    dst[j] = 0;                                                                                        \
                if (g->sw == 1) {                                                                                      \
                    /* blocks of a constant size, each a vector move */                                              \
                    int64_t j = jlo;                                                                                   \
                    for (; j + 8 <= jhi; j += 8)                                                                       \
                        memcpy(dst + j, src + j, 8 * sizeof(T));                                                       \
                    for (; j < jhi; j++)                                                                               \
                        dst[j] = src[j];                                                                               \
                } else {                                                                                               \
                    for (int64_t j = jlo; j < jhi; j++)                                                                \
                        dst[j] = src[j * g->sw];                                                                       \
                }                                                                                                      \
                for (int64_t j = jhi; j < g->ow; j++)                                                                  \
                    dst[j] = 0;                                                                                        \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* Add col (K x (i1 - i0) * ow, output rows [i0, i1), rows `ld` apart) back into one image's plane group. */       \
    static inline void sd_col2im_##SUF(const sd_conv2d_geom *g, const T *col, int64_t i0, int64_t i1, T *image,        \
                                       int64_t ld)                                                                     \
    {                                                                                                                  \
        const int64_t K = (g->c / g->groups) * g->kh * g->kw;                                                          \
        for (int64_t row = 0; row < K; row++) {                                                                        \
            const int64_t c = row / (g->kh * g->kw), a = (row / g->kw) % g->kh, b = row % g->kw;                       \
            T *plane = image + c * g->h * g->w;                                                                        \
            const T *src = col + row * ld;                                                                             \
            int64_t jlo, jhi;                                                                                          \
            sd_conv2d_valid_range(g->ow, g->sw, b * g->dw - g->pl, g->w, &jlo, &jhi);                                  \
            for (int64_t i = i0; i < i1; i++, src += g->ow) {                                                          \
                const int64_t r = i * g->sh - g->pt + a * g->dh;                                                       \
                if (r < 0 || r >= g->h)                                                                                \
                    continue;                                                                                          \
                T *dst = plane + r * g->w + (b * g->dw - g->pl);                                                       \
                if (g->sw == 1) {                                                                                      \
                    _Pragma("omp simd") for (int64_t j = jlo; j < jhi; j++) dst[j] += src[j];                          \
                } else {                                                                                               \
                    for (int64_t j = jlo; j < jhi; j++)                                                                \
                        dst[j * g->sw] += src[j];                                                                      \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* Copy (o x K) filters with each kh x kw plane reversed (to flip them, or back). */                               \
    static inline void sd_conv2d_flip_##SUF(const sd_conv2d_geom *g, const T *src, T *dst)                             \
    {                                                                                                                  \
        const int64_t plane = g->kh * g->kw, n = g->o * (g->c / g->groups);                                            \
        for (int64_t q = 0; q < n; q++)                                                                                \
            for (int64_t k = 0; k < plane; k++)                                                                        \
                dst[q * plane + k] = src[q * plane + plane - 1 - k];                                                   \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_forward_##SUF(const sd_conv2d_geom *g, const T *x, const T *w, T *y,                   \
                                              sd_conv_gemm_##SUF gemm, int threads)                                    \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t rows = sd_conv2d_tile_rows(g, K);                                                                \
        T *flipped = NULL;                                                                                             \
        if (g->flip) {                                                                                                 \
            flipped = (T *)malloc((size_t)(g->o * K) * sizeof(T));                                                     \
            if (!flipped)                                                                                              \
                return -1;                                                                                             \
            sd_conv2d_flip_##SUF(g, w, flipped);                                                                       \
            w = flipped;                                                                                               \
        }                                                                                                              \
        const int64_t batch = sd_conv2d_batch(g, rows, K), chunks = (g->n + batch - 1) / batch;                        \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1 && chunks > 1)")                                    \
        {                                                                                                              \
            T *col = (T *)malloc((size_t)(K * rows * g->ow * batch) * sizeof(T));                                      \
            T *out = batch > 1 ? (T *)malloc((size_t)(og * P * batch) * sizeof(T)) : NULL;                             \
            if (!col || (batch > 1 && !out)) {                                                                         \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t chunk = 0; chunk < chunks; chunk++)                       \
            {                                                                                                          \
                const int64_t n0 = chunk * batch, nb = n0 + batch < g->n ? batch : g->n - n0;                          \
                for (int64_t grp = 0; col && (batch == 1 || out) && grp < g->groups; grp++) {                          \
                    if (batch == 1) {                                                                                  \
                        for (int64_t i0 = 0; i0 < g->oh; i0 += rows) {                                                 \
                            const int64_t i1 = i0 + rows < g->oh ? i0 + rows : g->oh, tp = (i1 - i0) * g->ow;          \
                            sd_im2col_##SUF(g, x + (n0 * g->c + grp * cg) * g->h * g->w, i0, i1, col, tp);             \
                            gemm(0, 0, og, tp, K, w + grp * og * K, K, col, tp, 0,                                     \
                                 y + (n0 * g->o + grp * og) * P + i0 * g->ow, P);                                      \
                        }                                                                                              \
                        continue;                                                                                      \
                    }                                                                                                  \
                    /* whole small images side by side: one product of nb * P columns */                               \
                    for (int64_t b = 0; b < nb; b++)                                                                   \
                        sd_im2col_##SUF(g, x + ((n0 + b) * g->c + grp * cg) * g->h * g->w, 0, g->oh, col + b * P,      \
                                        nb * P);                                                                       \
                    gemm(0, 0, og, nb * P, K, w + grp * og * K, K, col, nb * P, 0, out, nb * P);                       \
                    for (int64_t b = 0; b < nb; b++)                                                                   \
                        for (int64_t r = 0; r < og; r++)                                                               \
                            memcpy(y + ((n0 + b) * g->o + grp * og + r) * P, out + r * nb * P + b * P,                 \
                                   (size_t)P * sizeof(T));                                                             \
                }                                                                                                      \
            }                                                                                                          \
            free(col);                                                                                                 \
            free(out);                                                                                                 \
        }                                                                                                              \
        free(flipped);                                                                                                 \
        return status;                                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_grad_input_##SUF(const sd_conv2d_geom *g, const T *w, const T *gy, T *gx,              \
                                                 sd_conv_gemm_##SUF gemm, int threads)                                 \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t rows = sd_conv2d_tile_rows(g, K);                                                                \
        T *flipped = NULL;                                                                                             \
        if (g->flip) {                                                                                                 \
            flipped = (T *)malloc((size_t)(g->o * K) * sizeof(T));                                                     \
            if (!flipped)                                                                                              \
                return -1;                                                                                             \
            sd_conv2d_flip_##SUF(g, w, flipped);                                                                       \
            w = flipped;                                                                                               \
        }                                                                                                              \
        const int64_t batch = sd_conv2d_batch(g, rows, K), chunks = (g->n + batch - 1) / batch;                        \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1 && chunks > 1)")                                    \
        {                                                                                                              \
            T *col = (T *)malloc((size_t)(K * rows * g->ow * batch) * sizeof(T));                                      \
            T *grads = batch > 1 ? (T *)malloc((size_t)(og * P * batch) * sizeof(T)) : NULL;                           \
            if (!col || (batch > 1 && !grads)) {                                                                       \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t chunk = 0; chunk < chunks; chunk++)                       \
            {                                                                                                          \
                const int64_t n0 = chunk * batch, nb = n0 + batch < g->n ? batch : g->n - n0;                          \
                memset(gx + n0 * g->c * g->h * g->w, 0, (size_t)(nb * g->c * g->h * g->w) * sizeof(T));                \
                for (int64_t grp = 0; col && (batch == 1 || grads) && grp < g->groups; grp++) {                        \
                    if (batch == 1) {                                                                                  \
                        T *image = gx + n0 * g->c * g->h * g->w;                                                       \
                        for (int64_t i0 = 0; i0 < g->oh; i0 += rows) {                                                 \
                            const int64_t i1 = i0 + rows < g->oh ? i0 + rows : g->oh, tp = (i1 - i0) * g->ow;          \
                            gemm(1, 0, K, tp, og, w + grp * og * K, K, gy + (n0 * g->o + grp * og) * P + i0 * g->ow,   \
                                 P, 0, col, tp);                                                                       \
                            sd_col2im_##SUF(g, col, i0, i1, image + grp * cg * g->h * g->w, tp);                       \
                        }                                                                                              \
                        continue;                                                                                      \
                    }                                                                                                  \
                    /* whole small images side by side: one product of nb * P columns */                               \
                    for (int64_t r = 0; r < og; r++)                                                                   \
                        for (int64_t b = 0; b < nb; b++)                                                               \
                            memcpy(grads + r * nb * P + b * P, gy + ((n0 + b) * g->o + grp * og + r) * P,              \
                                   (size_t)P * sizeof(T));                                                             \
                    gemm(1, 0, K, nb * P, og, w + grp * og * K, K, grads, nb * P, 0, col, nb * P);                     \
                    for (int64_t b = 0; b < nb; b++)                                                                   \
                        sd_col2im_##SUF(g, col + b * P, 0, g->oh, gx + ((n0 + b) * g->c + grp * cg) * g->h * g->w,     \
                                        nb * P);                                                                       \
                }                                                                                                      \
            }                                                                                                          \
            free(col);                                                                                                 \
            free(grads);                                                                                               \
        }                                                                                                              \
        free(flipped);                                                                                                 \
        return status;                                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_grad_weights_##SUF(const sd_conv2d_geom *g, const T *x, const T *gy, T *gw,            \
                                                   sd_conv_gemm_##SUF gemm, int threads)                               \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t rows = sd_conv2d_tile_rows(g, K);                                                                \
        const int nt = threads > 1 && g->n > 1 ? (g->n < threads ? (int)g->n : threads) : 1;                           \
        /* One (o x K) accumulator per thread, summed in thread order at the end. */                                   \
        T *acc = (T *)calloc((size_t)(nt * g->o * K), sizeof(T));                                                      \
        if (!acc)                                                                                                      \
            return -1;                                                                                                 \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(nt) if (nt > 1)")                                                            \
        {                                                                                                              \
            T *col = (T *)malloc((size_t)(K * rows * g->ow) * sizeof(T));                                              \
            T *mine = acc + (int64_t)sd_conv2d_thread_id() * g->o * K;                                                 \
            if (!col) {                                                                                                \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t n = 0; n < g->n; n++)                                     \
            {                                                                                                          \
                for (int64_t grp = 0; col && grp < g->groups; grp++)                                                   \
                    for (int64_t i0 = 0; i0 < g->oh; i0 += rows) {                                                     \
                        const int64_t i1 = i0 + rows < g->oh ? i0 + rows : g->oh, tp = (i1 - i0) * g->ow;              \
                        sd_im2col_##SUF(g, x + (n * g->c + grp * cg) * g->h * g->w, i0, i1, col, tp);                  \
                        gemm(0, 1, og, K, tp, gy + (n * g->o + grp * og) * P + i0 * g->ow, P, col, tp, 1,              \
                             mine + grp * og * K, K);                                                                  \
                    }                                                                                                  \
            }                                                                                                          \
            free(col);                                                                                                 \
        }                                                                                                              \
        for (int t = 1; t < nt; t++)                                                                                   \
            for (int64_t i = 0; i < g->o * K; i++)                                                                     \
                acc[i] += acc[t * g->o * K + i];                                                                       \
        if (g->flip)                                                                                                   \
            sd_conv2d_flip_##SUF(g, acc, gw);                                                                          \
        else                                                                                                           \
            memcpy(gw, acc, (size_t)(g->o * K) * sizeof(T));                                                           \
        free(acc);                                                                                                     \
        return status;                                                                                                 \
    }

SD_CONV2D_DEFINE(float, f32)
SD_CONV2D_DEFINE(double, f64)

#endif
