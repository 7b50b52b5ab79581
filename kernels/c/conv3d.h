/* symdl: 3-d convolution kernels (NCDHW input, OIDHW filters, contiguous arrays), with the
 * semantics of symdl.tensor.nnet.conv_nd (Theano's conv3d): padding before and after each axis,
 * stride, dilation, groups, and `flip` (1: a true convolution, the filters reversed along the
 * three axes; 0: cross-correlation).
 *
 * Method: conv.h's, with one more axis: im2col + GEMM one image at a time, in tiles of output
 * depth planes so that the unrolled windows of a tile (K = channels/groups * kd * kh * kw rows,
 * planes * out_rows * out_cols columns) stay near SD_CONV3D_TILE_ELEMENTS elements. With
 * `threads` > 1 the images are shared among OpenMP threads, each with its own buffer (the caller
 * passes a single-threaded GEMM); the filter gradient is accumulated per thread and summed in
 * thread order, so results do not depend on timing. The GEMM is conv.h's sd_conv_gemm_{f32,f64}.
 *
 * Entry points (0, or -1 when a work buffer cannot be allocated):
 *     sd_conv3d_forward_{f32,f64}(geom, x, w, y, gemm, threads)         y  (n, o, od, oh, ow)
 *     sd_conv3d_grad_input_{f32,f64}(geom, w, gy, gx, gemm, threads)    gx (n, c, d, h, w)
 *     sd_conv3d_grad_weights_{f32,f64}(geom, x, gy, gw, gemm, threads)  gw (o, c / groups, kd, kh, kw)
 */
#ifndef SYMDL_CONV3D_H
#define SYMDL_CONV3D_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"

typedef struct {
    int64_t n, c, size[3]; /* input: batch, channels, depth, rows, cols */
    int64_t o, k[3];       /* filters: (o, c / groups, kd, kh, kw) */
    int64_t groups;
    int64_t pad[3];        /* padding before each axis (the output size accounts for the padding after) */
    int64_t stride[3], dilation[3];
    int64_t out[3];        /* output depth, rows, cols */
    int flip;
} sd_conv3d_geom;

#ifndef SD_CONV3D_TILE_ELEMENTS
#define SD_CONV3D_TILE_ELEMENTS 1048576
#endif

/* Output depth planes per tile: the tile's unrolled windows (K x planes * oh * ow) stay near
 * SD_CONV3D_TILE_ELEMENTS elements. */
static inline int64_t sd_conv3d_tile_planes(const sd_conv3d_geom *g, int64_t K)
{
    int64_t per_plane = K * g->out[1] * g->out[2];
    int64_t planes = per_plane > 0 ? SD_CONV3D_TILE_ELEMENTS / per_plane : g->out[0];
    if (planes < 1)
        planes = 1;
    return planes < g->out[0] ? planes : (g->out[0] > 0 ? g->out[0] : 1);
}

#define SD_CONV3D_DEFINE(T, SUF)                                                                                       \
    /* Unroll the windows of output planes [p0, p1) of one image's channel group into col (K rows `ld` apart, a   \
     * column per output); matrix row ((c * kd + a) * kh + b) * kw + e. With add, add col back instead (col2im). */    \
    static void sd_vol2col_##SUF(const sd_conv3d_geom *g, T *image, int64_t p0, int64_t p1, T *col, int64_t ld,        \
                                 int add)                                                                              \
    {                                                                                                                  \
        const int64_t kd = g->k[0], kh = g->k[1], kw = g->k[2], K = (g->c / g->groups) * kd * kh * kw;                 \
        const int64_t D = g->size[0], H = g->size[1], W = g->size[2], oh = g->out[1], ow = g->out[2];                  \
        for (int64_t row = 0; row < K; row++) {                                                                        \
            const int64_t ch = row / (kd * kh * kw), a = (row / (kh * kw)) % kd, b = (row / kw) % kh, e = row % kw;    \
            T *plane = image + ch * D * H * W;                                                                         \
            T *dst = col + row * ld;                                                                                   \
            int64_t jlo, jhi;                                                                                          \
            const int64_t x0 = e * g->dilation[2] - g->pad[2];                                                         \
            sd_conv2d_valid_range(ow, g->stride[2], x0, W, &jlo, &jhi);                                                \
            for (int64_t p = p0; p < p1; p++) {                                                                        \
                const int64_t z = p * g->stride[0] - g->pad[0] + a * g->dilation[0];                                   \
                for (int64_t i = 0; i < oh; i++, dst += ow) {                                                          \
                    const int64_t y = i * g->stride[1] - g->pad[1] + b * g->dilation[1];                               \
                    const int inside = z >= 0 && z < D && y >= 0 && y < H;                                             \
                    T *src = inside ? plane + (z * H + y) * W + x0 : NULL;                                             \
                    if (add) {                                                                                         \
                        for (int64_t j = jlo; inside && j < jhi; j++)                                                  \
                            src[j * g->stride[2]] += dst[j];                                                           \
                        continue;                                                                                      \
                    }                                                                                                  \
                    if (!inside) {                                                                                     \
                        memset(dst, 0, sizeof(T) * (size_t)ow);                                                        \
                        continue;                                                                                      \
                    }                                                                                                  \
                    for (int64_t j = 0; j < jlo; j++)                                                                  \
                        dst[j] = 0;                                                                                    \
                    for (int64_t j = jlo; j < jhi; j++)                                                                \
                        dst[j] = src[j * g->stride[2]];                                                                \
                    for (int64_t j = jhi; j < ow; j++)                                                                 \
                        dst[j] = 0;                                                                                    \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* (o x K) filters with each kd x kh x kw block reversed: flipped, or back */                                      \
    static inline void sd_conv3d_flip_##SUF(const sd_conv3d_geom *g, const T *src, T *dst)                             \
    {                                                                                                                  \
        const int64_t block = g->k[0] * g->k[1] * g->k[2], n = g->o * (g->c / g->groups);                              \
        for (int64_t q = 0; q < n; q++)                                                                                \
            for (int64_t i = 0; i < block; i++)                                                                        \
                dst[q * block + i] = src[q * block + block - 1 - i];                                                   \
    }                                                                                                                  \
                                                                                                                       \
    /* kind 0: y = conv(x, w); 1: gx = the input gradient of gy (x unused, gx written); 2: gw accumulated from x, gy */ \
    static int sd_conv3d_run_##SUF(const sd_conv3d_geom *g, int kind, const T *x, const T *w, const T *gy, T *out,      \
                                   sd_conv_gemm_##SUF gemm, int threads)                                               \
    {                                                                                                                  \
        const int64_t cg = g->c / g->groups, og = g->o / g->groups, K = cg * g->k[0] * g->k[1] * g->k[2];              \
        const int64_t plane = g->out[1] * g->out[2], P = g->out[0] * plane;                                            \
        const int64_t volume = g->size[0] * g->size[1] * g->size[2];                                                   \
        const int64_t tile = sd_conv3d_tile_planes(g, K);                                                              \
        const int nt = threads > 1 && g->n > 1 ? (g->n < threads ? (int)g->n : threads) : 1;                           \
        T *flipped = NULL, *acc = NULL;                                                                                \
        if (g->flip && kind != 2) {                                                                                    \
            if (!(flipped = (T *)malloc(sizeof(T) * (size_t)(g->o * K + 1))))                                          \
                return -1;                                                                                             \
            sd_conv3d_flip_##SUF(g, w, flipped);                                                                       \
            w = flipped;                                                                                               \
        }                                                                                                              \
        if (kind == 2 && !(acc = (T *)calloc((size_t)(nt * g->o * K + 1), sizeof(T))))                                 \
            return -1;                                                                                                 \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(nt) if (nt > 1)")                                                            \
        {                                                                                                              \
            T *col = (T *)malloc(sizeof(T) * (size_t)(K * tile * plane + 1));                                         \
            T *mine = acc ? acc + (int64_t)sd_conv2d_thread_id() * g->o * K : NULL;                                    \
            if (!col) {                                                                                                \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t n = 0; n < g->n; n++)                                     \
            {                                                                                                          \
                if (kind == 1)                                                                                         \
                    memset(out + n * g->c * volume, 0, sizeof(T) * (size_t)(g->c * volume));                           \
                for (int64_t grp = 0; col && grp < g->groups; grp++) {                                                 \
                    T *image = (T *)(kind == 1 ? out : x) + (n * g->c + grp * cg) * volume;                            \
                    const T *filters = w ? w + grp * og * K : NULL;                                                    \
                    for (int64_t p0 = 0; p0 < g->out[0]; p0 += tile) {                                                 \
                        const int64_t p1 = p0 + tile < g->out[0] ? p0 + tile : g->out[0], tp = (p1 - p0) * plane;      \
                        const int64_t at = (n * g->o + grp * og) * P + p0 * plane;                                     \
                        if (kind == 1) {                                                                               \
                            gemm(1, 0, K, tp, og, filters, K, gy + at, P, 0, col, tp);                                 \
                            sd_vol2col_##SUF(g, image, p0, p1, col, tp, 1);                                            \
                            continue;                                                                                  \
                        }                                                                                              \
                        sd_vol2col_##SUF(g, image, p0, p1, col, tp, 0);                                                \
                        if (kind == 0)                                                                                 \
                            gemm(0, 0, og, tp, K, filters, K, col, tp, 0, out + at, P);                                \
                        else                                                                                           \
                            gemm(0, 1, og, K, tp, gy + at, P, col, tp, 1, mine + grp * og * K, K);                     \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
            free(col);                                                                                                 \
        }                                                                                                              \
        if (kind == 2) {                                                                                               \
            for (int t = 1; t < nt; t++)                                                                               \
                for (int64_t i = 0; i < g->o * K; i++)                                                                 \
                    acc[i] += acc[t * g->o * K + i];                                                                   \
            if (g->flip)                                                                                               \
                sd_conv3d_flip_##SUF(g, acc, out);                                                                     \
            else                                                                                                       \
                memcpy(out, acc, sizeof(T) * (size_t)(g->o * K));                                                      \
        }                                                                                                              \
        free(flipped);                                                                                                 \
        free(acc);                                                                                                     \
        return status;                                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_conv3d_forward_##SUF(const sd_conv3d_geom *g, const T *x, const T *w, T *y,                   \
                                              sd_conv_gemm_##SUF gemm, int threads)                                    \
    {                                                                                                                  \
        return sd_conv3d_run_##SUF(g, 0, x, w, NULL, y, gemm, threads);                                                \
    }                                                                                                                  \
    static inline int sd_conv3d_grad_input_##SUF(const sd_conv3d_geom *g, const T *w, const T *gy, T *gx,              \
                                                 sd_conv_gemm_##SUF gemm, int threads)                                 \
    {                                                                                                                  \
        return sd_conv3d_run_##SUF(g, 1, NULL, w, gy, gx, gemm, threads);                                              \
    }                                                                                                                  \
    static inline int sd_conv3d_grad_weights_##SUF(const sd_conv3d_geom *g, const T *x, const T *gy, T *gw,            \
                                                   sd_conv_gemm_##SUF gemm, int threads)                               \
    {                                                                                                                  \
        return sd_conv3d_run_##SUF(g, 2, x, NULL, gy, gw, gemm, threads);                                              \
    }

SD_CONV3D_DEFINE(float, f32)
SD_CONV3D_DEFINE(double, f64)

#endif
