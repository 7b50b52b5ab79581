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

/* The extent of window i along axis a for the average modes' divisor: truncated to the padded
 * input (and, excluding padding, to the input), as symdl.tensor.nnet.pool._Layout.divisor. */
static inline int64_t sd_poolnd_extent(const sd_poolnd_geom *g, int a, int64_t i)
{
    int64_t start = i * g->stride[a], end = start + g->ws[a];
    if (end > g->size[a] + 2 * g->pad[a])
        end = g->size[a] + 2 * g->pad[a];
    if (g->mode == SD_POOL_AVG_EXC) {
        start = start > g->pad[a] ? start : g->pad[a];
        end = end < g->size[a] + g->pad[a] ? end : g->size[a] + g->pad[a];
    }
    return end - start > 0 ? end - start : 0;
}

/* The window offset number `w` in row-major order. */
static inline void sd_poolnd_offset(const sd_poolnd_geom *g, int64_t w, int64_t *off)
{
    for (int a = g->nd - 1; a >= 0; a--) {
        off[a] = w % g->ws[a];
        w /= g->ws[a];
    }
}

/* The outputs are visited a row at a time (a row: every output along the last axis), the rows in
 * blocks (a block: every row along the axis before it), the index of a row along all axes but
 * the last in idx. For one window offset: whether a block reads the input (else only padding) and
 * where its input starts, in rows of the input (*base); sd_poolnd_next_block moves idx on. */
static inline int sd_poolnd_block_source(const sd_poolnd_geom *g, const int64_t *idx, const int64_t *off,
                                         int64_t *base)
{
    int64_t at = 0;
    for (int a = 0; a < g->nd - 2; a++) {
        int64_t pos = idx[a] * g->stride[a] + off[a] - g->pad[a];
        if (pos < 0 || pos >= g->size[a])
            return 0;
        at = at * g->size[a] + pos;
    }
    *base = g->nd >= 2 ? at * g->size[g->nd - 2] : 0;
    return 1;
}

/* idx to the next row (every axis but the last) or block (every axis but the last two). */
static inline void sd_poolnd_next(const sd_poolnd_geom *g, int64_t *idx, int axes)
{
    for (int a = axes - 1; a >= 0; a--) {
        if (++idx[a] < g->out[a])
            return;
        idx[a] = 0;
    }
}

/* The product of the row's extents along all axes but the last. */
static inline int64_t sd_poolnd_row_extent(const sd_poolnd_geom *g, const int64_t *idx)
{
    int64_t d = 1;
    for (int a = 0; a < g->nd - 1; a++)
        d *= sd_poolnd_extent(g, a, idx[a]);
    return d;
}

/* Outputs j of a row whose last-axis position j * stride + start lies in [0, size): [*lo, *hi). */
static inline void sd_poolnd_valid(int64_t out, int64_t stride, int64_t start, int64_t size, int64_t *lo, int64_t *hi)
{
    int64_t a = start >= 0 ? 0 : (-start + stride - 1) / stride;
    int64_t b = start >= size ? 0 : (size - start + stride - 1) / stride;
    b = b < out ? b : out;
    *lo = a < b ? a : b;
    *hi = b;
}

/* For each window offset w in row-major order, each row r of outputs: `lo`..`hi` the outputs that
 * read the input (the others read padding), output j reading input at + j * step: the statements
 * given. The loops of every kernel below. */
#define SD_POOLND_EACH_ROW(g, no, ...)                                                                                 \
    do {                                                                                                               \
        const int last = (g)->nd - 1, two = (g)->nd >= 2;                                                              \
        const int64_t ol = (g)->out[last], step = (g)->stride[last], windows = sd_poolnd_count((g)->nd, (g)->ws);      \
        const int64_t per_block = two ? (g)->out[last - 1] : 1, blocks = ol * per_block ? (no) / (ol * per_block) : 0; \
        int64_t off[SD_POOLND_MAXDIM], idx[SD_POOLND_MAXDIM];                                                          \
        for (int64_t w = 0; w < windows; w++) {                                                                        \
            sd_poolnd_offset((g), w, off);                                                                             \
            const int64_t start = off[last] - (g)->pad[last];                                                          \
            const int64_t row_start = two ? off[last - 1] - (g)->pad[last - 1] : 0;                                    \
            const int64_t row_step = two ? (g)->stride[last - 1] : 0, rows_in = two ? (g)->size[last - 1] : 1;         \
            int64_t lo_all, hi_all, ilo, ihi;                                                                          \
            sd_poolnd_valid(ol, step, start, (g)->size[last], &lo_all, &hi_all);                                       \
            sd_poolnd_valid(per_block, row_step ? row_step : 1, row_start, rows_in, &ilo, &ihi);                       \
            memset(idx, 0, sizeof idx);                                                                                \
            for (int64_t blk = 0; blk < blocks; blk++, sd_poolnd_next((g), idx, (g)->nd - 2)) {                        \
                int64_t base = 0;                                                                                      \
                const int block_reads = sd_poolnd_block_source((g), idx, off, &base);                                  \
                for (int64_t i = 0; i < per_block; i++) {                                                              \
                    const int64_t r = blk * per_block + i;                                                             \
                    const int reads = block_reads && i >= ilo && i < ihi;                                              \
                    const int64_t lo = reads ? lo_all : ol, hi = reads ? hi_all : ol;                                  \
                    const int64_t at = reads ? (base + i * row_step + row_start) * (g)->size[last] + start : 0;        \
                    __VA_ARGS__                                                                                        \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

#define SD_POOLND_DEFINE(T, SUF)                                                                                       \
    /* as np.maximum: a NaN wins */                                                                                    \
    static inline T sd_poolnd_max_##SUF(T m, T v) { return (v > m || v != v) && m == m ? v : m; }                      \
                                                                                                                       \
    /* the pooled plane y (outputs `no`) of the input plane x */                                                       \
    static inline void sd_poolnd_forward_plane_##SUF(const sd_poolnd_geom *g, const T *x, T *y, int64_t no)            \
    {                                                                                                                  \
        const int max = g->mode == SD_POOL_MAX;                                                                        \
        const T fill = max ? (T)-INFINITY : (T)0;                                                                      \
        SD_POOLND_EACH_ROW(g, no, {                                                                                    \
            T *restrict yr = y + r * ol;                                                                               \
            const T *restrict xr = x + at;                                                                             \
            if (w == 0) {                                                                                              \
                for (int64_t j = 0; j < ol; j++)                                                                       \
                    yr[j] = j >= lo && j < hi ? xr[j * step] : fill;                                                   \
            } else if (max) { /* the padding (-inf) changes no maximum */                                              \
                _Pragma("omp simd") for (int64_t j = lo; j < hi; j++)                                                  \
                    yr[j] = sd_poolnd_max_##SUF(yr[j], xr[j * step]);                                                  \
            } else {                                                                                                   \
                for (int64_t j = 0; j < lo; j++) /* + 0 from the padding: -0.0 becomes 0.0, as in NumPy */             \
                    yr[j] += fill;                                                                                     \
                for (int64_t j = lo; j < hi; j++)                                                                      \
                    yr[j] += xr[j * step];                                                                             \
                for (int64_t j = hi; j < ol; j++)                                                                      \
                    yr[j] += fill;                                                                                     \
            }                                                                                                          \
        });                                                                                                            \
        if (g->mode == SD_POOL_AVG_INC || g->mode == SD_POOL_AVG_EXC) {                                                \
            int64_t idx[SD_POOLND_MAXDIM] = {0};                                                                       \
            const int last = g->nd - 1;                                                                                \
            for (int64_t r = 0; g->out[last] && r < no / g->out[last]; r++, sd_poolnd_next(g, idx, g->nd - 1)) {             \
                const int64_t outer = sd_poolnd_row_extent(g, idx);                                                    \
                for (int64_t j = 0; j < g->out[last]; j++)                                                             \
                    y[r * g->out[last] + j] /= (T)(outer * sd_poolnd_extent(g, last, j));                              \
            }                                                                                                          \
        }                                                                                                              \
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
    /* the gradient plane gx of the input plane x (read for 'max') given the output gradient plane gy; `share`: \
       scratch of `no` values, `taken` of `no` flags */                                                                \
    static inline void sd_poolnd_backward_plane_##SUF(const sd_poolnd_geom *g, const T *x, const T *gy, T *gx,         \
                                                      int64_t ni, int64_t no, T *share, char *taken)                   \
    {                                                                                                                  \
        const int last = g->nd - 1;                                                                                    \
        memset(gx, 0, sizeof(T) * (size_t)ni);                                                                         \
        if (g->mode == SD_POOL_MAX) {                                                                                  \
            sd_poolnd_forward_plane_##SUF(g, x, share, no); /* each window's maximum */                                \
            memset(taken, 0, (size_t)no);                                                                              \
            /* the first maximum of each window, padding included, takes the gradient; the others add it times 0, as  \
               the perform does (a NaN gradient spreads) */                                                            \
            SD_POOLND_EACH_ROW(g, no, {                                                                                \
                const T *best = share + r * ol, *gr = gy + r * ol;                                                     \
                char *done = taken + r * ol;                                                                           \
                for (int64_t j = 0; j < ol; j++) {                                                                     \
                    const int inside = j >= lo && j < hi;                                                              \
                    const T v = inside ? x[at + j * step] : (T)-INFINITY;                                              \
                    const int hit = !done[j] && v == best[j];                                                          \
                    done[j] |= hit;                                                                                    \
                    if (inside)                                                                                        \
                        gx[at + j * step] += gr[j] * (T)hit;                                                           \
                }                                                                                                      \
            });                                                                                                        \
            return;                                                                                                    \
        }                                                                                                              \
        /* the averages spread the gradient divided by the divisor, the sum spreads it as it is */                     \
        int64_t idx[SD_POOLND_MAXDIM] = {0};                                                                           \
        const int average = g->mode != SD_POOL_SUM;                                                                    \
        for (int64_t r = 0; g->out[last] && r < no / g->out[last]; r++, sd_poolnd_next(g, idx, g->nd - 1)) {                 \
            const int64_t outer = average ? sd_poolnd_row_extent(g, idx) : 1;                                          \
            for (int64_t j = 0; j < g->out[last]; j++) {                                                               \
                const int64_t k = r * g->out[last] + j;                                                                \
                share[k] = average ? gy[k] / (T)(outer * sd_poolnd_extent(g, last, j)) : gy[k];                        \
            }                                                                                                          \
        }                                                                                                              \
        SD_POOLND_EACH_ROW(g, no, {                                                                                    \
            const T *gr = share + r * ol;                                                                              \
            for (int64_t j = lo; j < hi; j++)                                                                          \
                gx[at + j * step] += gr[j];                                                                            \
        });                                                                                                            \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_poolnd_backward_##SUF(const sd_poolnd_geom *g, const T *x, const T *gy, T *gx, int threads)   \
    {                                                                                                                  \
        const int64_t ni = sd_poolnd_count(g->nd, g->size), no = sd_poolnd_count(g->nd, g->out);                       \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                                  \
        {                                                                                                              \
            T *share = (T *)malloc(sizeof(T) * (size_t)(no + 1));                                                      \
            char *taken = (char *)malloc((size_t)(no + 1));                                                            \
            if (!share || !taken) {                                                                                    \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t p = 0; p < g->planes; p++)                                \
            {                                                                                                          \
                if (share && taken)                                                                                    \
                    sd_poolnd_backward_plane_##SUF(g, x + p * ni, gy + p * no, gx + p * ni, ni, no, share, taken);     \
            }                                                                                                          \
            free(share);                                                                                               \
            free(taken);                                                                                               \
        }                                                                                                              \
        return status;                                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    /* y: ggx at the first strictly greatest position of each window (padding: -inf, its ggx 0) */                     \
    static inline void sd_poolnd_select_plane_##SUF(const sd_poolnd_geom *g, const T *x, const T *ggx, T *y,          \
                                                    int64_t no, T *best)                                               \
    {                                                                                                                  \
        SD_POOLND_EACH_ROW(g, no, {                                                                                    \
            T *br = best + r * ol, *yr = y + r * ol;                                                                   \
            for (int64_t j = 0; j < ol; j++) {                                                                         \
                const int inside = j >= lo && j < hi;                                                                  \
                const T v = inside ? x[at + j * step] : (T)-INFINITY, gv = inside ? ggx[at + j * step] : (T)0;         \
                if (w == 0 || v > br[j]) {                                                                             \
                    br[j] = v;                                                                                         \
                    yr[j] = gv;                                                                                        \
                }                                                                                                      \
            }                                                                                                          \
        });                                                                                                            \
    }                                                                                                                  \
                                                                                                                       \
    static inline int sd_poolnd_select_##SUF(const sd_poolnd_geom *g, const T *x, const T *ggx, T *y, int threads)     \
    {                                                                                                                  \
        const int64_t ni = sd_poolnd_count(g->nd, g->size), no = sd_poolnd_count(g->nd, g->out);                       \
        int status = 0;                                                                                                \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                                  \
        {                                                                                                              \
            T *best = (T *)malloc(sizeof(T) * (size_t)(no + 1));                                                       \
            if (!best) {                                                                                               \
                _Pragma("omp atomic write") status = -1;                                                               \
            }                                                                                                          \
            _Pragma("omp for schedule(static)") for (int64_t p = 0; p < g->planes; p++)                                \
            {                                                                                                          \
                if (best)                                                                                              \
                    sd_poolnd_select_plane_##SUF(g, x + p * ni, ggx + p * ni, y + p * no, no, best);                   \
            }                                                                                                          \
            free(best);                                                                                                \
        }                                                                                                              \
        return status;                                                                                                 \
    }

SD_POOLND_DEFINE(float, f32)
SD_POOLND_DEFINE(double, f64)

#endif
