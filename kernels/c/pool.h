/* symdl: 2-d pooling kernels over the last two axes of contiguous arrays (any leading shape,
 * flattened into `planes`), with symdl.tensor.nnet.pool's (Theano's pool_2d) semantics:
 *
 *   - window i of an axis covers padded positions [i * stride, i * stride + ws), truncated to the
 *     padded length (size + 2 * pad); the output length comes from the caller (sd_pool2d_geom.oh/ow);
 *   - 'max' ignores padding (it is -inf), propagates NaN as np.maximum, and its gradient goes to
 *     the first maximum of the window in row-major order;
 *   - 'sum'; 'average_inc_pad' divides by the truncated window's area, padding included;
 *     'average_exc_pad' by the number of input elements in the window.
 *
 * Parallel over planes with OpenMP. Entry points:
 *     sd_pool2d_forward_{f32,f64}(geom, x, y)          y  (planes, oh, ow)
 *     sd_pool2d_backward_{f32,f64}(geom, x, gy, gx)    gx (planes, h, w); x is read only for 'max'
 */
#ifndef SYMDL_POOL_H
#define SYMDL_POOL_H

#include <stdint.h>
#include <string.h>

enum { SD_POOL_MAX = 0, SD_POOL_SUM = 1, SD_POOL_AVG_INC = 2, SD_POOL_AVG_EXC = 3 };

typedef struct {
    int64_t planes, h, w; /* input: planes of h x w */
    int64_t oh, ow;       /* output */
    int64_t kh, kw;       /* window */
    int64_t sh, sw;       /* stride */
    int64_t ph, pw;       /* padding on each side */
    int mode;             /* SD_POOL_* */
} sd_pool2d_geom;

/* The window of output index i along one axis: input range [lo, hi) and the divisor's extent. */
static inline void sd_pool2d_window(int64_t i, int64_t stride, int64_t ws, int64_t pad, int64_t size, int mode,
                                    int64_t *lo, int64_t *hi, int64_t *extent)
{
    int64_t start = i * stride, end = start + ws;
    if (end > size + 2 * pad)
        end = size + 2 * pad;
    int64_t a = start - pad, b = end - pad; /* input coordinates */
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
    if (*hi < *lo)
        *hi = *lo;
    *extent = mode == SD_POOL_AVG_EXC ? *hi - *lo : end - start;
}

#define SD_POOL2D_DEFINE(T, SUF)                                                                                       \
    static inline void sd_pool2d_forward_##SUF(const sd_pool2d_geom *g, const T *x, T *y)                              \
    {                                                                                                                  \
        _Pragma("omp parallel for schedule(static) if (g->planes * g->h * g->w > 16384)")                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                                      \
            const T *plane = x + p * g->h * g->w;                                                                      \
            T *out = y + p * g->oh * g->ow;                                                                            \
            for (int64_t i = 0; i < g->oh; i++) {                                                                      \
                int64_t r0, r1, er;                                                                                    \
                sd_pool2d_window(i, g->sh, g->kh, g->ph, g->h, g->mode, &r0, &r1, &er);                                \
                for (int64_t j = 0; j < g->ow; j++) {                                                                  \
                    int64_t c0, c1, ec;                                                                                \
                    sd_pool2d_window(j, g->sw, g->kw, g->pw, g->w, g->mode, &c0, &c1, &ec);                            \
                    T acc;                                                                                             \
                    if (g->mode == SD_POOL_MAX) {                                                                      \
                        acc = -(T)__builtin_inf();                                                                     \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++) {                                                        \
                                const T v = plane[r * g->w + c];                                                       \
                                if (v > acc || v != v)                                                                 \
                                    acc = acc != acc ? acc : v;                                                        \
                            }                                                                                          \
                    } else {                                                                                           \
                        acc = 0;                                                                                       \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++)                                                          \
                                acc += plane[r * g->w + c];                                                            \
                        if (g->mode != SD_POOL_SUM)                                                                    \
                            acc /= (T)(er * ec);                                                                       \
                    }                                                                                                  \
                    out[i * g->ow + j] = acc;                                                                          \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_pool2d_backward_##SUF(const sd_pool2d_geom *g, const T *x, const T *gy, T *gx)               \
    {                                                                                                                  \
        _Pragma("omp parallel for schedule(static) if (g->planes * g->h * g->w > 16384)")                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                                      \
            const T *plane = x + p * g->h * g->w, *grad = gy + p * g->oh * g->ow;                                      \
            T *out = gx + p * g->h * g->w;                                                                             \
            memset(out, 0, (size_t)(g->h * g->w) * sizeof(T));                                                         \
            for (int64_t i = 0; i < g->oh; i++) {                                                                      \
                int64_t r0, r1, er;                                                                                    \
                sd_pool2d_window(i, g->sh, g->kh, g->ph, g->h, g->mode, &r0, &r1, &er);                                \
                for (int64_t j = 0; j < g->ow; j++) {                                                                  \
                    int64_t c0, c1, ec;                                                                                \
                    sd_pool2d_window(j, g->sw, g->kw, g->pw, g->w, g->mode, &c0, &c1, &ec);                            \
                    const T gz = grad[i * g->ow + j];                                                                  \
                    if (g->mode == SD_POOL_MAX) {                                                                      \
                        int64_t best = -1;                                                                             \
                        T m = 0;                                                                                       \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++) {                                                        \
                                const T v = plane[r * g->w + c];                                                       \
                                if (best < 0 || v > m) {                                                               \
                                    m = v;                                                                             \
                                    best = r * g->w + c;                                                               \
                                }                                                                                      \
                            }                                                                                          \
                        if (best >= 0)                                                                                 \
                            out[best] += gz;                                                                           \
                    } else {                                                                                           \
                        const T share = g->mode == SD_POOL_SUM ? gz : gz / (T)(er * ec);                               \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++)                                                          \
                                out[r * g->w + c] += share;                                                            \
                    }                                                                                                  \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }

SD_POOL2D_DEFINE(float, f32)
SD_POOL2D_DEFINE(double, f64)

#endif
