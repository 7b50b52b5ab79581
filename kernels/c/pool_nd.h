/* symdl: pooling over the last `nd` axes of contiguous arrays (any leading shape, flattened into
 * `planes`), with the semantics of symdl.tensor.nnet.pool_nd (Theano's Pool op): the window,
 * stride and padding of each axis, the modes of pool.h (SD_POOL_MAX, _SUM, _AVG_INC, _AVG_EXC).
 *
 * The loops follow the op's NumPy perform: for each offset inside the window, in row-major
 * order, a pass over every output; a position outside the input reads the padding (-inf for
 * 'max', 0 otherwise). So the results are equal to the perform's to the last bit, ties and NaN
 * included: 'max' propagates NaN as np.maximum, its gradient goes to the first position (in that
 * order) equal to the window's maximum, and the gradient-of-gradient ('select') takes the value of
 * the first strictly greater one.
 *
 * Parallel over planes with OpenMP (up to `threads`). Entry points (0, or -1 when a work buffer
 * cannot be allocated):
 *     sd_poolnd_forward_{f32,f64}(geom, x, y, threads)          y  (planes, *out)
 *     sd_poolnd_backward_{f32,f64}(geom, x, gy, gx, threads)    gx (planes, *size); x read for 'max' only
 *     sd_poolnd_select_{f32,f64}(geom, x, ggx, y, threads)      y  (planes, *out): ggx at each window's maximum
 */
#ifndef SYMDL_POOL_ND_H
#define SYMDL_POOL_ND_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define SD_POOLND_MAXDIM 16

typedef struct {
    int nd;
    int64_t planes;
    int64_t size[SD_POOLND_MAXDIM], out[SD_POOLND_MAXDIM]; /* input and output lengths of the pooled axes */
    int64_t ws[SD_POOLND_MAXDIM], stride[SD_POOLND_MAXDIM], pad[SD_POOLND_MAXDIM];
    int mode; /* SD_POOL_* */
} sd_poolnd_geom;

static inline int64_t sd_poolnd_count(int nd, const int64_t *dims)
{
    int64_t n = 1;
    for (int a = 0; a < nd; a++)
        n *= dims[a];
    return n;
}

/* Where offset `off` of the window of output `k` reads: the flat input index, or -1 in the padding. */
static inline int64_t sd_poolnd_source(const sd_poolnd_geom *g, int64_t k, const int64_t *off)
{
    int64_t at = 0, step = 1;
    for (int a = g->nd - 1; a >= 0; a--) {
        int64_t i = k % g->out[a];
        k /= g->out[a];
        int64_t pos = i * g->stride[a] + off[a] - g->pad[a];
        if (pos < 0 || pos >= g->size[a])
            return -1;
        at += pos * step;
        step *= g->size[a];
    }
    return at;
}

/* The average modes' divisor of output `k`: its window's extent, truncated to the padded input
 * (and, excluding padding, to the input), as symdl.tensor.nnet.pool._Layout.divisor. */
static inline int64_t sd_poolnd_divisor(const sd_poolnd_geom *g, int64_t k)
{
    int64_t d = 1;
    for (int a = g->nd - 1; a >= 0; a--) {
        int64_t i = k % g->out[a];
        k /= g->out[a];
        int64_t start = i * g->stride[a], end = start + g->ws[a];
        if (end > g->size[a] + 2 * g->pad[a])
            end = g->size[a] + 2 * g->pad[a];
        if (g->mode == SD_POOL_AVG_EXC) {
            start = start > g->pad[a] ? start : g->pad[a];
            end = end < g->size[a] + g->pad[a] ? end : g->size[a] + g->pad[a];
        }
        d *= end - start > 0 ? end - start : 0;
    }
    return d;
}

/* The window offset number `w` in row-major order. */
static inline void sd_poolnd_offset(const sd_poolnd_geom *g, int64_t w, int64_t *off)
{
    for (int a = g->nd - 1; a >= 0; a--) {
        off[a] = w % g->ws[a];
        w /= g->ws[a];
    }
}

#define SD_POOLND_DEFINE(T, SUF)                                                                                       \
    /* the pooled plane y (outputs `no`) of the input plane x; as np.maximum, a NaN wins */                          \
    static inline void sd_poolnd_forward_plane_##SUF(const sd_poolnd_geom *g, const T *x, T *y, int64_t no)            \
    {                                                                                                                  \
        const T fill = g->mode == SD_POOL_MAX ? (T)-INFINITY : (T)0;                                                   \
        const int64_t windows = sd_poolnd_count(g->nd, g->ws);                                                         \
        int64_t off[SD_POOLND_MAXDIM];                                                                                 \
        for (int64_t w = 0; w < windows; w++) {                                                                        \
            sd_poolnd_offset(g, w, off);                                                                               \
            for (int64_t k = 0; k < no; k++) {                                                                         \
                const int64_t at = sd_poolnd_source(g, k, off);                                                        \
                const T v = at >= 0 ? x[at] : fill;                                                                    \
                if (w == 0)                                                                                            \
                    y[k] = v;                                                                                          \
                else if (g->mode == SD_POOL_MAX)                                                                       \
                    y[k] = (v > y[k] || v != v) && y[k] == y[k] ? v : y[k];                                            \
                else                                                                                                   \
                    y[k] += v;                                                                                         \
            }                                                                                                          \
        }                                                                                                              \
        if (g->mode == SD_POOL_AVG_INC || g->mode == SD_POOL_AVG_EXC)                                                  \
            for (int64_t k = 0; k < no; k++)                                                                           \
                y[k] /= (T)sd_poolnd_divisor(g, k);                                                                    \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_poolnd_forward_##SUF(const sd_poolnd_geom *g, const T *x, T *y, int threads)                  \
    {                                                                                                                  \
        const int64_t ni = sd_poolnd_count(g->nd, g->size), no = sd_poolnd_count(g->nd, g->out);                       \
        _Pragma("omp parallel for num_threads(threads) if (threads > 1) schedule(static)")                            \
        for (int64_t p = 0; p < g->planes; p++)                                                                        \
            sd_poolnd_forward_plane_##SUF(g, x + p * ni, y + p * no, no);                                              \
        return 0;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_poolnd_backward_##SUF(const sd_poolnd_geom *g, const T *x, const T *gy, T *gx, int threads)   \
    {                                                                                                                  \
        const int64_t ni = sd_poolnd_count(g->nd, g->size), no = sd_poolnd_count(g->nd, g->out);                       \
        const int64_t windows = sd_poolnd_count(g->nd, g->ws);                                                         \
        const int average = g->mode == SD_POOL_AVG_INC || g->mode == SD_POOL_AVG_EXC;                                  \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                                  \
        {                                                                                                              \
            /* per thread: the window maxima and which windows gave their gradient ('max'), or the                     \
               output gradient divided by the divisors (averages) */                                                   \
            T *best = (T *)malloc(sizeof(T) * (size_t)(no + 1));                                                       \
            char *taken = (char *)malloc((size_t)(no + 1));                                                            \
            if (!best || !taken) {                                                                                     \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            int64_t off[SD_POOLND_MAXDIM];                                                                             \
            _Pragma("omp for schedule(static)") for (int64_t p = 0; p < g->planes; p++)                                \
            {                                                                                                          \
                if (!best || !taken)                                                                                   \
                    continue;                                                                                          \
                const T *xp = x + p * ni, *gp = gy + p * no;                                                           \
                T *dp = gx + p * ni;                                                                                   \
                memset(dp, 0, sizeof(T) * (size_t)ni);                                                                 \
                if (g->mode == SD_POOL_MAX) {                                                                          \
                    sd_poolnd_forward_plane_##SUF(g, xp, best, no);                                                    \
                    memset(taken, 0, (size_t)no);                                                                      \
                } else {                                                                                               \
                    for (int64_t k = 0; k < no; k++)                                                                   \
                        best[k] = average ? gp[k] / (T)sd_poolnd_divisor(g, k) : gp[k];                                \
                }                                                                                                      \
                for (int64_t w = 0; w < windows; w++) {                                                                \
                    sd_poolnd_offset(g, w, off);                                                                       \
                    for (int64_t k = 0; k < no; k++) {                                                                 \
                        const int64_t at = sd_poolnd_source(g, k, off);                                                \
                        if (g->mode != SD_POOL_MAX) {                                                                  \
                            if (at >= 0)                                                                               \
                                dp[at] += best[k];                                                                     \
                            continue;                                                                                  \
                        }                                                                                              \
                        /* the first maximum of the window, padding included, takes the gradient; the        \
                           others add it times 0, as the perform does (a NaN gradient spreads) */            \
                        const T v = at >= 0 ? xp[at] : (T)-INFINITY;                                                   \
                        const int hit = !taken[k] && v == best[k];                                                     \
                        taken[k] |= hit;                                                                               \
                        if (at >= 0)                                                                                   \
                            dp[at] += gp[k] * (T)hit;                                                                  \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
            free(best);                                                                                                \
            free(taken);                                                                                               \
        }                                                                                                              \
        return status;                                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_poolnd_select_##SUF(const sd_poolnd_geom *g, const T *x, const T *ggx, T *y, int threads)     \
    {                                                                                                                  \
        const int64_t ni = sd_poolnd_count(g->nd, g->size), no = sd_poolnd_count(g->nd, g->out);                       \
        const int64_t windows = sd_poolnd_count(g->nd, g->ws);                                                         \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                                  \
        {                                                                                                              \
            T *best = (T *)malloc(sizeof(T) * (size_t)(no + 1));                                                       \
            if (!best) {                                                                                               \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            int64_t off[SD_POOLND_MAXDIM];                                                                             \
            _Pragma("omp for schedule(static)") for (int64_t p = 0; p < g->planes; p++)                                \
            {                                                                                                          \
                if (!best)                                                                                             \
                    continue;                                                                                          \
                const T *xp = x + p * ni, *gp = ggx + p * ni;                                                          \
                T *yp = y + p * no;                                                                                    \
                for (int64_t w = 0; w < windows; w++) {                                                                \
                    sd_poolnd_offset(g, w, off);                                                                       \
                    for (int64_t k = 0; k < no; k++) {                                                                 \
                        const int64_t at = sd_poolnd_source(g, k, off);                                                \
                        const T v = at >= 0 ? xp[at] : (T)-INFINITY, gv = at >= 0 ? gp[at] : (T)0;                     \
                        if (w == 0 || v > best[k]) {                                                                   \
                            best[k] = v;                                                                               \
                            yp[k] = gv;                                                                                \
                        }                                                                                              \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
            free(best);                                                                                                \
        }                                                                                                              \
        return status;                                                                                                 \
    }

SD_POOLND_DEFINE(float, f32)
SD_POOLND_DEFINE(double, f64)

#endif
