/* symdl: 2-d convolution kernels (NCHW input, OIHW filters, contiguous arrays).
 *
 * The semantics are symdl.tensor.nnet.conv's (Theano's conv2d): padding top/bottom/left/right,
 * stride, dilation, groups, and `flip` (1: true convolution, the filters flipped in both spatial
 * axes; 0: cross-correlation).
 *
 * Method: im2col + GEMM. Images are processed in chunks: the windows of a chunk of images are
 * unrolled into a (K = channels/groups * kh * kw) x (chunk * out_rows * out_cols) matrix, so each
 * group needs one large matrix product per chunk (threads come from the BLAS), and the
 * unrolling/rolling loops are parallel with OpenMP (over matrix rows, or over input planes for
 * the scatter-add of the input gradient, so no two threads write the same element).
 *
 * The matrix product is the caller's: `sd_conv_gemm_f32` / `_f64` compute, row-major,
 *     C[M, N] = op(A)[M, K] @ op(B)[K, N] + beta * C
 * with op(X) = X^T when its flag is set (the runtime passes a BLAS wrapper).
 *
 * Entry points (each returns 0, or -1 when a work buffer cannot be allocated):
 *     sd_conv2d_forward_{f32,f64}(geom, x, w, y, gemm)         y  (n, o, oh, ow)
 *     sd_conv2d_grad_input_{f32,f64}(geom, w, gy, gx, gemm)    gx (n, c, h, w)
 *     sd_conv2d_grad_weights_{f32,f64}(geom, x, gy, gw, gemm)  gw (o, c / groups, kh, kw)
 */
#ifndef SYMDL_CONV_H
#define SYMDL_CONV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Images per chunk: about 2M elements of unrolled windows, at least one image. */
static inline int64_t sd_conv2d_chunk(const sd_conv2d_geom *g)
{
    int64_t per_image = (g->c / g->groups) * g->kh * g->kw * g->oh * g->ow;
    int64_t chunk = per_image > 0 ? ((int64_t)1 << 21) / per_image : g->n;
    if (chunk < 1)
        chunk = 1;
    return chunk < g->n ? chunk : g->n;
}

/* First and one-past-last output column whose input column j * stride - pad + offset is inside [0, size). */
static inline void sd_conv2d_valid_range(int64_t out, int64_t stride, int64_t start, int64_t size, int64_t *lo,
                                         int64_t *hi)
{
    /* start + j * stride >= 0  and  start + j * stride < size */
    int64_t a = start >= 0 ? 0 : (-start + stride - 1) / stride;
    int64_t b = start >= size ? 0 : (size - start + stride - 1) / stride;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

#define SD_CONV2D_DEFINE(T, SUF)                                                                                       \
    /* Unroll images [n0, n0 + nb) of group grp into col (K x nb * P); row (c * kh + a) * kw + b. */                   \
    static inline void sd_im2col_##SUF(const sd_conv2d_geom *g, const T *x, int64_t n0, int64_t nb, int64_t grp,       \
                                       T *col)                                                                         \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow, ld = nb * P;                   \
        _Pragma("omp parallel for schedule(static) if (K * ld > 32768)") for (int64_t row = 0; row < K; row++)         \
        {                                                                                                              \
            const int64_t c = row / (g->kh * g->kw), a = (row / g->kw) % g->kh, b = row % g->kw;                       \
            int64_t jlo, jhi;                                                                                          \
            sd_conv2d_valid_range(g->ow, g->sw, b * g->dw - g->pl, g->w, &jlo, &jhi);                                  \
            for (int64_t m = 0; m < nb; m++) {                                                                         \
                const T *plane = x + ((n0 + m) * g->c + grp * cg + c) * g->h * g->w;                                   \
                T *dst = col + row * ld + m * P;                                                                       \
                for (int64_t i = 0; i < g->oh; i++, dst += g->ow) {                                                    \
                    const int64_t r = i * g->sh - g->pt + a * g->dh;                                                   \
                    if (r < 0 || r >= g->h) {                                                                          \
                        memset(dst, 0, (size_t)g->ow * sizeof(T));                                                     \
                        continue;                                                                                      \
                    }                                                                                                  \
                    const T *src = plane + r * g->w + (b * g->dw - g->pl);                                             \
                    for (int64_t j = 0; j < jlo; j++)                                                                  \
                        dst[j] = 0;                                                                                    \
                    if (g->sw == 1)                                                                                    \
                        memcpy(dst + jlo, src + jlo, (size_t)(jhi - jlo) * sizeof(T));                                 \
                    else                                                                                               \
                        for (int64_t j = jlo; j < jhi; j++)                                                            \
                            dst[j] = src[j * g->sw];                                                                   \
                    for (int64_t j = jhi; j < g->ow; j++)                                                              \
                        dst[j] = 0;                                                                                    \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* Add col (K x nb * P) back into the input planes of images [n0, n0 + nb), group grp. */                          \
    static inline void sd_col2im_##SUF(const sd_conv2d_geom *g, const T *col, int64_t n0, int64_t nb, int64_t grp,     \
                                       T *gx)                                                                          \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, P = g->oh * g->ow, ld = nb * P;                                           \
        _Pragma("omp parallel for collapse(2) schedule(static) if (cg * g->kh * g->kw * ld > 32768)")                  \
        for (int64_t m = 0; m < nb; m++)                                                                               \
            for (int64_t c = 0; c < cg; c++) {                                                                         \
                T *plane = gx + ((n0 + m) * g->c + grp * cg + c) * g->h * g->w;                                        \
                for (int64_t a = 0; a < g->kh; a++)                                                                    \
                    for (int64_t b = 0; b < g->kw; b++) {                                                              \
                        const T *src = col + ((c * g->kh + a) * g->kw + b) * ld + m * P;                               \
                        int64_t jlo, jhi;                                                                              \
                        sd_conv2d_valid_range(g->ow, g->sw, b * g->dw - g->pl, g->w, &jlo, &jhi);                      \
                        for (int64_t i = 0; i < g->oh; i++, src += g->ow) {                                            \
                            const int64_t r = i * g->sh - g->pt + a * g->dh;                                           \
                            if (r < 0 || r >= g->h)                                                                    \
                                continue;                                                                              \
                            T *dst = plane + r * g->w + (b * g->dw - g->pl);                                           \
                            if (g->sw == 1) {                                                                          \
                                _Pragma("omp simd") for (int64_t j = jlo; j < jhi; j++) dst[j] += src[j];              \
                            } else {                                                                                   \
                                for (int64_t j = jlo; j < jhi; j++)                                                    \
                                    dst[j * g->sw] += src[j];                                                          \
                            }                                                                                          \
                        }                                                                                              \
                    }                                                                                                  \
            }                                                                                                          \
    }                                                                                                                  \
                                                                                                                       \
    /* The filters as an (o x K) matrix, flipped when g->flip (a copy), else w itself. */                              \
    static inline const T *sd_conv2d_filters_##SUF(const sd_conv2d_geom *g, const T *w, T **owned)                     \
    {                                                                                                                  \
        *owned = NULL;                                                                                                 \
        if (!g->flip)                                                                                                  \
            return w;                                                                                                  \
        const int64_t plane = g->kh * g->kw, n = g->o * (g->c / g->groups);                                            \
        T *f = (T *)malloc((size_t)(n * plane) * sizeof(T));                                                           \
        if (!f)                                                                                                        \
            return NULL;                                                                                               \
        for (int64_t q = 0; q < n; q++)                                                                                \
            for (int64_t k = 0; k < plane; k++)                                                                        \
                f[q * plane + k] = w[q * plane + plane - 1 - k];                                                       \
        *owned = f;                                                                                                    \
        return f;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    /* Copy the (og x nb * P) rows of group grp between a gemm buffer and the (n, o, P) tensor. */                     \
    static inline void sd_conv2d_rows_##SUF(const sd_conv2d_geom *g, T *buf, T *tensor, int64_t n0, int64_t nb,        \
                                            int64_t grp, int to_tensor)                                                \
    {                                                                                                                  \
        const int64_t og = g->o / g->groups, P = g->oh * g->ow;                                                        \
        _Pragma("omp parallel for collapse(2) schedule(static) if (og * nb * P > 65536)")                              \
        for (int64_t f = 0; f < og; f++)                                                                               \
            for (int64_t m = 0; m < nb; m++) {                                                                         \
                T *t = tensor + ((n0 + m) * g->o + grp * og + f) * P, *q = buf + (f * nb + m) * P;                     \
                if (to_tensor)                                                                                         \
                    memcpy(t, q, (size_t)P * sizeof(T));                                                               \
                else                                                                                                   \
                    memcpy(q, t, (size_t)P * sizeof(T));                                                               \
            }                                                                                                          \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_forward_##SUF(const sd_conv2d_geom *g, const T *x, const T *w, T *y,                   \
                                       sd_conv_gemm_##SUF gemm)                                                        \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t chunk = sd_conv2d_chunk(g);                                                                      \
        T *owned;                                                                                                      \
        const T *wm = sd_conv2d_filters_##SUF(g, w, &owned);                                                           \
        T *col = (T *)malloc((size_t)(K * chunk * P) * sizeof(T));                                                     \
        T *tmp = chunk > 1 ? (T *)malloc((size_t)(og * chunk * P) * sizeof(T)) : NULL;                                 \
        if (!wm || !col || (chunk > 1 && !tmp)) {                                                                      \
            free(owned), free(col), free(tmp);                                                                         \
            return -1;                                                                                                 \
        }                                                                                                              \
        for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {                                                                 \
            const int64_t nb = g->n - n0 < chunk ? g->n - n0 : chunk;                                                  \
            for (int64_t grp = 0; grp < g->groups; grp++) {                                                            \
                sd_im2col_##SUF(g, x, n0, nb, grp, col);                                                               \
                if (nb == 1) {                                                                                         \
                    gemm(0, 0, og, P, K, wm + grp * og * K, K, col, P, 0, y + (n0 * g->o + grp * og) * P, P);          \
                } else {                                                                                               \
                    gemm(0, 0, og, nb * P, K, wm + grp * og * K, K, col, nb * P, 0, tmp, nb * P);                      \
                    sd_conv2d_rows_##SUF(g, tmp, y, n0, nb, grp, 1);                                                   \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        free(owned), free(col), free(tmp);                                                                             \
        return 0;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_grad_input_##SUF(const sd_conv2d_geom *g, const T *w, const T *gy, T *gx,              \
                                          sd_conv_gemm_##SUF gemm)                                                     \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t chunk = sd_conv2d_chunk(g);                                                                      \
        T *owned;                                                                                                      \
        const T *wm = sd_conv2d_filters_##SUF(g, w, &owned);                                                           \
        T *col = (T *)malloc((size_t)(K * chunk * P) * sizeof(T));                                                     \
        T *tmp = chunk > 1 ? (T *)malloc((size_t)(og * chunk * P) * sizeof(T)) : NULL;                                 \
        if (!wm || !col || (chunk > 1 && !tmp)) {                                                                      \
            free(owned), free(col), free(tmp);                                                                         \
            return -1;                                                                                                 \
        }                                                                                                              \
        memset(gx, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof(T));                                                \
        for (int64_t n0 = 0; n0 < g->n; n0 += chunk) {                                                                 \
            const int64_t nb = g->n - n0 < chunk ? g->n - n0 : chunk;                                                  \
            for (int64_t grp = 0; grp < g->groups; grp++) {                                                            \
                const T *rows = gy + (n0 * g->o + grp * og) * P;                                                       \
                if (nb > 1) {                                                                                          \
                    sd_conv2d_rows_##SUF(g, tmp, (T *)gy, n0, nb, grp, 0);                                             \
                    rows = tmp;                                                                                        \
                }                                                                                                      \
                gemm(1, 0, K, nb * P, og, wm + grp * og * K, K, rows, nb * P, 0, col, nb * P);                         \
                sd_col2im_##SUF(g, col, n0, nb, grp, gx);                                                              \
            }                                                                                                          \
        }                                                                                                              \
        free(owned), free(col), free(tmp);                                                                             \
        return 0;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv2d_grad_weights_##SUF(const sd_conv2d_geom *g, const T *x, const T *gy, T *gw,            \
                                            sd_conv_gemm_##SUF gemm)                                                   \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->kh * g->kw, P = g->oh * g->ow;         \
        const int64_t chunk = sd_conv2d_chunk(g);                                                                      \
        T *col = (T *)malloc((size_t)(K * chunk * P) * sizeof(T));                                                     \
        T *tmp = chunk > 1 ? (T *)malloc((size_t)(og * chunk * P) * sizeof(T)) : NULL;                                 \
        T *acc = g->flip ? (T *)malloc((size_t)(g->o * K) * sizeof(T)) : gw;                                           \
        if (!col || (chunk > 1 && !tmp) || !acc) {                                                                     \
            free(col), free(tmp);                                                                                      \
            if (acc != gw)                                                                                             \
                free(acc);                                                                                             \
            return -1;                                                                                                 \
        }                                                                                                              \
        if (g->n == 0 || P == 0)                                                                                       \
            memset(acc, 0, (size_t)(g->o * K) * sizeof(T));                                                            \
        for (int64_t n0 = 0; n0 < g->n && P > 0; n0 += chunk) {                                                        \
            const int64_t nb = g->n - n0 < chunk ? g->n - n0 : chunk;                                                  \
            for (int64_t grp = 0; grp < g->groups; grp++) {                                                            \
                const T *rows = gy + (n0 * g->o + grp * og) * P;                                                       \
                if (nb > 1) {                                                                                          \
                    sd_conv2d_rows_##SUF(g, tmp, (T *)gy, n0, nb, grp, 0);                                             \
                    rows = tmp;                                                                                        \
                }                                                                                                      \
                sd_im2col_##SUF(g, x, n0, nb, grp, col);                                                               \
                gemm(0, 1, og, K, nb * P, rows, nb * P, col, nb * P, n0 ? 1 : 0, acc + grp * og * K, K);               \
            }                                                                                                          \
        }                                                                                                              \
        if (acc != gw) {                                                                                               \
            const int64_t plane = g->kh * g->kw, n = g->o * cg;                                                        \
            for (int64_t q = 0; q < n; q++)                                                                            \
                for (int64_t k = 0; k < plane; k++)                                                                    \
                    gw[q * plane + k] = acc[q * plane + plane - 1 - k];                                                \
            free(acc);                                                                                                 \
        }                                                                                                              \
        free(col), free(tmp);                                                                                          \
        return 0;                                                                                                      \
    }

SD_CONV2D_DEFINE(float, f32)
SD_CONV2D_DEFINE(double, f64)

#endif
