/* symdl: row-wise softmax, log-softmax and softmax cross-entropy (symdl.tensor.nnet's Softmax,
 * LogSoftmax and SoftmaxCrossentropyWithLogits over the last axis) on contiguous
 * (rows x classes) arrays, one pass per row after taking its maximum, parallel over rows.
 *
 *     sd_softmax_rows_{f32,f64}(rows, n, x, y, take_log)       y = softmax(x) or log_softmax(x)
 *     sd_softmax_xent_{f32,f64}_{i32,i64}(rows, n, x, labels, loss)
 *         loss[r] = logsumexp(x[r]) - x[r, labels[r]]; returns the first bad row + 1, or 0
 *     sd_softmax_xent_grad_{f32,f64}_{i32,i64}(rows, n, x, labels, gloss, gx)
 *         gx[r] = gloss[r] * (softmax(x[r]) - onehot(labels[r]))
 *
 * A row's maximum is replaced by 0 when it is not finite (as the NumPy implementation), so a
 * row of -inf gives NaN rather than an exception.
 */
#ifndef SYMDL_SOFTMAX_H
#define SYMDL_SOFTMAX_H

#include <math.h>
#include <stdint.h>

#define SD_SOFTMAX_DEFINE(T, SUF, EXP, LOG)                                                                            \
    static inline T sd_row_max_##SUF(int64_t n, const T *x)                                                            \
    {                                                                                                                  \
        T m = -(T)INFINITY;                                                                                            \
        for (int64_t j = 0; j < n; j++)                                                                                \
            m = x[j] > m ? x[j] : m;                                                                                   \
        return isfinite(m) ? m : (T)0;                                                                                 \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_softmax_rows_##SUF(int64_t rows, int64_t n, const T *x, T *y, int take_log)                  \
    {                                                                                                                  \
        _Pragma("omp parallel for schedule(static) if (rows * n > 65536)") for (int64_t r = 0; r < rows; r++)          \
        {                                                                                                              \
            const T *xr = x + r * n;                                                                                   \
            T *yr = y + r * n;                                                                                         \
            const T m = sd_row_max_##SUF(n, xr);                                                                       \
            T total = 0;                                                                                               \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                const T e = EXP(xr[j] - m);                                                                            \
                total += e;                                                                                            \
                if (!take_log)                                                                                         \
                    yr[j] = e;                                                                                         \
            }                                                                                                          \
            if (take_log) {                                                                                            \
                const T lse = LOG(total);                                                                              \
                for (int64_t j = 0; j < n; j++)                                                                        \
                    yr[j] = (xr[j] - m) - lse;                                                                         \
            } else {                                                                                                   \
                const T inv = (T)1 / total;                                                                            \
                for (int64_t j = 0; j < n; j++)                                                                        \
                    yr[j] *= inv;                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }

#define SD_SOFTMAX_XENT_DEFINE(T, SUF, L, LSUF, EXP, LOG)                                                              \
    static inline int64_t sd_softmax_xent_##SUF##_##LSUF(int64_t rows, int64_t n, const T *x, const L *labels, T *loss) \
    {                                                                                                                  \
        int64_t bad = 0;                                                                                               \
        for (int64_t r = 0; r < rows; r++)                                                                             \
            if (labels[r] < 0 || (int64_t)labels[r] >= n) {                                                            \
                bad = r + 1;                                                                                           \
                break;                                                                                                 \
            }                                                                                                          \
        if (bad)                                                                                                       \
            return bad;                                                                                                \
        _Pragma("omp parallel for schedule(static) if (rows * n > 65536)") for (int64_t r = 0; r < rows; r++)          \
        {                                                                                                              \
            const T *xr = x + r * n;                                                                                   \
            const T m = sd_row_max_##SUF(n, xr);                                                                       \
            T total = 0;                                                                                               \
            for (int64_t j = 0; j < n; j++)                                                                            \
                total += EXP(xr[j] - m);                                                                               \
            loss[r] = LOG(total) - (xr[labels[r]] - m);                                                                \
        }                                                                                                              \
        return 0;                                                                                                      \
    }                                                                                                                  \
                                                                                                                       \
    static inline void sd_softmax_xent_grad_##SUF##_##LSUF(int64_t rows, int64_t n, const T *x, const L *labels,       \
                                                    const T *gloss, T *gx)                                             \
    {                                                                                                                  \
        _Pragma("omp parallel for schedule(static) if (rows * n > 65536)") for (int64_t r = 0; r < rows; r++)          \
        {                                                                                                              \
            const T *xr = x + r * n;                                                                                   \
            T *gr = gx + r * n;                                                                                        \
            const T m = sd_row_max_##SUF(n, xr);                                                                       \
            T total = 0;                                                                                               \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                gr[j] = EXP(xr[j] - m);                                                                                \
                total += gr[j];                                                                                        \
            }                                                                                                          \
            const T scale = gloss[r] / total;                                                                          \
            for (int64_t j = 0; j < n; j++)                                                                            \
                gr[j] *= scale;                                                                                        \
            gr[labels[r]] -= gloss[r];                                                                                 \
        }                                                                                                              \
    }

SD_SOFTMAX_DEFINE(float, f32, expf, logf)
SD_SOFTMAX_DEFINE(double, f64, exp, log)
SD_SOFTMAX_XENT_DEFINE(float, f32, int32_t, i32, expf, logf)
SD_SOFTMAX_XENT_DEFINE(float, f32, int64_t, i64, expf, logf)
SD_SOFTMAX_XENT_DEFINE(double, f64, int32_t, i32, exp, log)
SD_SOFTMAX_XENT_DEFINE(double, f64, int64_t, i64, exp, log)

#endif
