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
 * Parallel over planes with OpenMP (up to `threads`). Entry points:
 *     sd_pool2d_forward_{f32,f64}(geom, x, y, threads)         y  (planes, oh, ow)
 *     sd_pool2d_backward_{f32,f64}(geom, x, gy, gx, threads)   gx (planes, h, w); x is read only for 'max'
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

/* Whether every window of a row covers kw whole input columns (no padding or truncation at the
 * sides): then a row of outputs is computed by branch-free loops over the outputs. */
static inline int sd_pool2d_full_columns(const sd_pool2d_geom *g)
{
    return g->pw == 0 && (g->ow - 1) * g->sw + g->kw <= g->w && g->ow <= 4096;
}

/* The common case of CNNs, 2x2 max windows at stride 2 that all lie inside the input: each
 * output reads its own four inputs, so a row of outputs is one branch-free, vectorizable loop,
 * and the gradient writes every covered input exactly once (no zeroing pass). */
static inline int sd_pool2d_is_max2x2(const sd_pool2d_geom *g)
{
    return g->mode == SD_POOL_MAX && g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 &&
           g->pw == 0 && 2 * g->oh <= g->h && 2 * g->ow <= g->w;
}

/* No `omp simd` here: GCC vectorizes these loops with permutes for the pairs of columns, where
 * `omp simd` made it gather (about 7x slower, measured), and it vectorizes the selects of values
 * below but not an index of the winner. Rows are short (12 outputs after a 24-wide layer), too
 * short for a vector loop over a run-time length: blocks of 8 outputs have a length the compiler
 * knows and vectorizes whole (4x faster than the plain loop, measured), then a scalar tail. */
#define SD_POOL2X2_DEFINE(T, SUF)                                                                                      \
    static inline void sd_pool2x2_forward_one_##SUF(const T *restrict x0, const T *restrict x1, T *restrict o,         \
                                                    int64_t j)                                                         \
    {                                                                                                                  \
        /* as np.maximum: a NaN anywhere in the window wins */                                                         \
        T m = x0[2 * j], v = x0[2 * j + 1];                                                                            \
        m = (v > m || v != v) && m == m ? v : m;                                                                       \
        v = x1[2 * j];                                                                                                 \
        m = (v > m || v != v) && m == m ? v : m;                                                                       \
        v = x1[2 * j + 1];                                                                                             \
        m = (v > m || v != v) && m == m ? v : m;                                                                       \
        o[j] = m;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_pool2x2_backward_one_##SUF(const T *restrict x0, const T *restrict x1,                       \
                                                     const T *restrict gz, T *restrict d0, T *restrict d1, int64_t j)  \
    {                                                                                                                  \
        /* The first maximum in row-major order takes the gradient; a NaN never does unless it comes                   \
           first: the first maximum of each row, then the bottom one only where strictly greater. */                   \
        const T a = x0[2 * j], b = x0[2 * j + 1], c = x1[2 * j], d = x1[2 * j + 1];                                    \
        const int right_top = b > a, right_bottom = d > c || c != c;                                                   \
        const T top = right_top ? b : a, bottom = right_bottom ? d : c;                                                \
        const T gj = gz[j], g_top = bottom > top ? (T)0 : gj, g_bottom = bottom > top ? gj : (T)0;                    \
        d0[2 * j] = right_top ? (T)0 : g_top;                                                                          \
        d0[2 * j + 1] = right_top ? g_top : (T)0;                                                                      \
        d1[2 * j] = right_bottom ? (T)0 : g_bottom;                                                                    \
        d1[2 * j + 1] = right_bottom ? g_bottom : (T)0;                                                                \
    }                                                                                                                  \
                                                                                                                       \
    /* ow outputs from the input rows x0 and x1 */                                                                     \
    static inline void sd_pool2x2_forward_row_##SUF(const T *restrict x0, const T *restrict x1, T *restrict o,         \
                                                    int64_t ow)                                                        \
    {                                                                                                                  \
        int64_t j = 0;                                                                                                 \
        for (; j + 8 <= ow; j += 8)                                                                                    \
            for (int u = 0; u < 8; u++)                                                                                \
                sd_pool2x2_forward_one_##SUF(x0, x1, o, j + u);                                                        \
        for (; j < ow; j++)                                                                                            \
            sd_pool2x2_forward_one_##SUF(x0, x1, o, j);                                                                \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_pool2x2_forward_plane_##SUF(const sd_pool2d_geom *g, const T *restrict plane,                \
                                                      T *restrict out)                                                 \
    {                                                                                                                  \
        const int64_t w = g->w, oh = g->oh, ow = g->ow;                                                                \
        for (int64_t i = 0; i < oh; i++)                                                                               \
            sd_pool2x2_forward_row_##SUF(plane + 2 * i * w, plane + (2 * i + 1) * w, out + i * ow, ow);                \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_pool2x2_backward_plane_##SUF(const sd_pool2d_geom *g, const T *restrict plane,               \
                                                       const T *restrict grad, T *restrict out)                        \
    {                                                                                                                  \
        const int64_t w = g->w, oh = g->oh, ow = g->ow;                                                                \
        if (2 * oh != g->h || 2 * ow != w) /* rows or columns that no window covers */                                 \
            memset(out, 0, (size_t)(g->h * w) * sizeof(T));                                                            \
        for (int64_t i = 0; i < oh; i++) {                                                                             \
            const T *restrict x0 = plane + 2 * i * w, *restrict x1 = x0 + w, *restrict gz = grad + i * ow;             \
            T *restrict d0 = out + 2 * i * w, *restrict d1 = d0 + w;                                                   \
            int64_t j = 0;                                                                                             \
            for (; j + 8 <= ow; j += 8)                                                                                \
                for (int u = 0; u < 8; u++)                                                                            \
                    sd_pool2x2_backward_one_##SUF(x0, x1, gz, d0, d1, j + u);                                          \
            for (; j < ow; j++)                                                                                        \
                sd_pool2x2_backward_one_##SUF(x0, x1, gz, d0, d1, j);                                                  \
        }                                                                                                              \
    }

SD_POOL2X2_DEFINE(float, f32)
SD_POOL2X2_DEFINE(double, f64)

#define SD_POOL2D_DEFINE(T, SUF)                                                                                       \
    /* One row of outputs, every window covering kw whole columns (sd_pool2d_full_columns). */                         \
    static inline void sd_pool2d_row_##SUF(const sd_pool2d_geom *g, const T *plane, int64_t r0, int64_t r1,            \
                                           int64_t er, T *o)                                                           \
    {                                                                                                                  \
        const int64_t ow = g->ow, sw = g->sw;                                                                          \
        if (g->mode == SD_POOL_MAX && g->kw == 2 && sw == 2 && r1 - r0 == 2) { /* the common 2x2 window */             \
            sd_pool2x2_forward_row_##SUF(plane + r0 * g->w, plane + (r0 + 1) * g->w, o, ow);                           \
            return;                                                                                                    \
        }                                                                                                              \
        if (g->mode == SD_POOL_MAX) {                                                                                  \
            for (int64_t j = 0; j < ow; j++)                                                                           \
                o[j] = -(T)__builtin_inf();                                                                            \
            for (int64_t r = r0; r < r1; r++)                                                                          \
                for (int64_t c = 0; c < g->kw; c++) {                                                                  \
                    const T *src = plane + r * g->w + c;                                                               \
                    /* np.maximum's NaN propagation, without branches */                                               \
                    _Pragma("omp simd") for (int64_t j = 0; j < ow; j++)                                               \
                    {                                                                                                  \
                        const T v = src[j * sw], m = o[j];                                                             \
                        o[j] = (v > m || v != v) ? v : m;                                                              \
                    }                                                                                                  \
                }                                                                                                      \
            return;                                                                                                    \
        }                                                                                                              \
        for (int64_t j = 0; j < ow; j++)                                                                               \
            o[j] = 0;                                                                                                  \
        for (int64_t r = r0; r < r1; r++)                                                                              \
            for (int64_t c = 0; c < g->kw; c++) {                                                                      \
                const T *src = plane + r * g->w + c;                                                                   \
                _Pragma("omp simd") for (int64_t j = 0; j < ow; j++) o[j] += src[j * sw];                              \
            }                                                                                                          \
        if (g->mode != SD_POOL_SUM) {                                                                                  \
            const T inv = (T)1 / (T)(er * g->kw);                                                                      \
            for (int64_t j = 0; j < ow; j++)                                                                           \
                o[j] *= inv;                                                                                           \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_pool2d_forward_##SUF(const sd_pool2d_geom *g, const T *x, T *y, int threads)                 \
    {                                                                                                                  \
        const int nt = threads > 1 && g->planes * g->h * g->w > 16384 ? threads : 1;                                   \
        const int full = sd_pool2d_full_columns(g), max2x2 = sd_pool2d_is_max2x2(g);                                  \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")                                       \
        for (int64_t p = 0; p < g->planes; p++) {                                                                      \
            const T *plane = x + p * g->h * g->w;                                                                      \
            T *out = y + p * g->oh * g->ow;                                                                            \
            if (max2x2) {                                                                                              \
                sd_pool2x2_forward_plane_##SUF(g, plane, out);                                                         \
                continue;                                                                                              \
            }                                                                                                          \
            for (int64_t i = 0; i < g->oh; i++) {                                                                      \
                int64_t r0, r1, er;                                                                                    \
                sd_pool2d_window(i, g->sh, g->kh, g->ph, g->h, g->mode, &r0, &r1, &er);                                \
                if (full) {                                                                                            \
                    sd_pool2d_row_##SUF(g, plane, r0, r1, er, out + i * g->ow);                                        \
                    continue;                                                                                          \
                }                                                                                                      \
                for (int64_t j = 0; j < g->ow; j++) {                                                                  \
                    int64_t c0, c1, ec;                                                                                \
                    sd_pool2d_window(j, g->sw, g->kw, g->pw, g->w, g->mode, &c0, &c1, &ec);                            \
                    T acc;                                                                                             \
                    if (g->mode == SD_POOL_MAX) {                                                                      \
                        acc = -(T)__builtin_inf();                                                                     \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++) {                                                        \
                                const T v = plane[r * g->w + c];                                                       \
                                acc = (v > acc || v != v) && acc == acc ? v : acc;                                     \
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
    static inline void sd_pool2d_backward_##SUF(const sd_pool2d_geom *g, const T *x, const T *gy, T *gx,               \
                                                 int threads)                                                          \
    {                                                                                                                  \
        const int nt = threads > 1 && g->planes * g->h * g->w > 16384 ? threads : 1;                                   \
        const int full = sd_pool2d_full_columns(g), max2x2 = sd_pool2d_is_max2x2(g);                                  \
        const int64_t ow = g->ow, sw = g->sw;                                                                          \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")                                       \
        for (int64_t p = 0; p < g->planes; p++) {                                                                      \
            const T *plane = x + p * g->h * g->w, *grad = gy + p * g->oh * g->ow;                                      \
            T *out = gx + p * g->h * g->w;                                                                             \
            if (max2x2) {                                                                                              \
                sd_pool2x2_backward_plane_##SUF(g, plane, grad, out);                                                  \
                continue;                                                                                              \
            }                                                                                                          \
            memset(out, 0, (size_t)(g->h * g->w) * sizeof(T));                                                         \
            for (int64_t i = 0; i < g->oh; i++) {                                                                      \
                int64_t r0, r1, er;                                                                                    \
                sd_pool2d_window(i, g->sh, g->kh, g->ph, g->h, g->mode, &r0, &r1, &er);                                \
                const T *gz = grad + i * ow;                                                                           \
                if (full && g->mode == SD_POOL_MAX && r1 > r0) {                                                       \
                    /* first maximum in row-major order: start from each window's first element */                     \
                    T best[ow];                                                                                        \
                    int64_t at[ow];                                                                                    \
                    for (int64_t j = 0; j < ow; j++) {                                                                 \
                        best[j] = plane[r0 * g->w + j * sw];                                                           \
                        at[j] = r0 * g->w + j * sw;                                                                    \
                    }                                                                                                  \
                    for (int64_t r = r0; r < r1; r++)                                                                  \
                        for (int64_t c = r == r0 ? 1 : 0; c < g->kw; c++) {                                            \
                            const int64_t base = r * g->w + c;                                                         \
                            _Pragma("omp simd") for (int64_t j = 0; j < ow; j++)                                       \
                            {                                                                                          \
                                const T v = plane[base + j * sw];                                                      \
                                const int take = v > best[j];                                                          \
                                best[j] = take ? v : best[j];                                                          \
                                at[j] = take ? base + j * sw : at[j];                                                  \
                            }                                                                                          \
                        }                                                                                              \
                    for (int64_t j = 0; j < ow; j++)                                                                   \
                        out[at[j]] += gz[j];                                                                           \
                    continue;                                                                                          \
                }                                                                                                      \
                if (full && g->mode != SD_POOL_MAX) {                                                                  \
                    const T scale = g->mode == SD_POOL_SUM ? (T)1 : (T)1 / (T)(er * g->kw);                            \
                    for (int64_t r = r0; r < r1; r++)                                                                  \
                        for (int64_t c = 0; c < g->kw; c++) {                                                          \
                            T *dst = out + r * g->w + c;                                                               \
                            _Pragma("omp simd") for (int64_t j = 0; j < ow; j++) dst[j * sw] += gz[j] * scale;         \
                        }                                                                                              \
                    continue;                                                                                          \
                }                                                                                                      \
                for (int64_t j = 0; j < ow; j++) {                                                                     \
                    int64_t c0, c1, ec;                                                                                \
                    sd_pool2d_window(j, g->sw, g->kw, g->pw, g->w, g->mode, &c0, &c1, &ec);                            \
                    if (g->mode == SD_POOL_MAX) {                                                                      \
                        int64_t at = -1;                                                                               \
                        T m = 0;                                                                                       \
                        for (int64_t r = r0; r < r1; r++)                                                              \
                            for (int64_t c = c0; c < c1; c++) {                                                        \
                                const T v = plane[r * g->w + c];                                                       \
                                if (at < 0 || v > m) {                                                                 \
                                    m = v;                                                                             \
                                    at = r * g->w + c;                                                                 \
                                }                                                                                      \
                            }                                                                                          \
                        if (at >= 0)                                                                                   \
                            out[at] += gz[j];                                                                          \
                    } else {                                                                                           \
                        const T share = g->mode == SD_POOL_SUM ? gz[j] : gz[j] / (T)(er * ec);                         \
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
