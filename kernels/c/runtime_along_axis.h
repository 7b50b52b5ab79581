/* symdl C runtime: ops that combine the values along one axis, and batched lookups:
 *
 *   api_window_sum(ctx, node, in, out, axis, size)     symdl.tensor.nnet.lrn.WindowSum
 *       out[.., i, ..] = the sum of in[.., j, ..] for |j - i| <= size / 2 along `axis` (zeros past the ends)
 *   api_cumulate(ctx, node, in, out, axis, mul, out_dtype)   symdl.tensor.extra_ops.CumOp
 *       np.cumsum (mul = 0) or np.cumprod (1) along `axis`, accumulated in out_dtype
 *   api_batch_gather(ctx, node, x, idx, out)           symdl.tensor.nnet.sampling.BatchGather
 *       out[b, c, k] = x[b, c, idx[b, k]]
 *   api_batch_scatter_add(ctx, node, g, idx, n, out)   symdl.tensor.nnet.sampling.BatchScatterAdd
 *       out[b, c, idx[b, k]] += g[b, c, k] into zeros of shape (batch, channels, n)
 *
 * Each adds in the order of the op's NumPy perform, so results are equal to the last bit (the
 * window sum adds the shifted rows from the lowest offset up; the cumulative ops go along the
 * axis; the scatter-add sums in float64, as np.bincount, then rounds). Errors (indices out of
 * range, mismatched batches) say what the performs say.
 */
#ifndef SYMDL_RUNTIME_ALONG_AXIS_H
#define SYMDL_RUNTIME_ALONG_AXIS_H

#include "runtime_iter.h"

/* A value seen as (outer, length, inner) around `axis`: `length` along the axis, `inner` the
 * product of the dimensions after it. */
static void along_axis(const sd_arr *a, int axis, int64_t *outer, int64_t *length, int64_t *inner)
{
    *outer = 1, *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= a->shape[d];
    *length = a->shape[axis];
    for (int d = axis + 1; d < a->ndim; d++)
        *inner *= a->shape[d];
}

/* `v` C-contiguous: itself, or a copy in `tmp` (then *owned is set; release with Py_DECREF). */
static const sd_arr *along_contiguous(const sd_arr *v, sd_arr *tmp, int *owned)
{
    *owned = 0;
    if (is_c_contiguous(v))
        return v;
    if (contiguous_copy(tmp, v))
        return NULL;
    *owned = 1;
    return tmp;
}

/* Threads for `rows` independent rows of `work` units in all: all of them when the work pays. */
static int along_threads(int64_t rows, int64_t work)
{
    return work >= sd_par_threshold && rows > 1 ? (rows < sd_nthreads ? (int)rows : sd_nthreads) : 1;
}

#define SD_WINDOW_SUM_DEFINE(T, SUF)                                                                             \
    static void window_sum_##SUF(const T *x, T *y, int64_t outer, int64_t length, int64_t inner, int64_t half,   \
                                 int threads)                                                                    \
    {                                                                                                            \
        _Pragma("omp parallel for num_threads(threads) if (threads > 1) schedule(static)")                     \
        for (int64_t row = 0; row < outer * length; row++) {                                                     \
            const int64_t i = row % length;                                                                      \
            T *dst = y + row * inner;                                                                            \
            for (int64_t e = 0; e < inner; e++)                                                                  \
                dst[e] = 0;                                                                                      \
            for (int64_t off = -half; off <= half; off++) {                                                      \
                if (i + off < 0 || i + off >= length)                                                            \
                    continue;                                                                                    \
                const T *src = x + (row + off) * inner;                                                          \
                _Pragma("omp simd") for (int64_t e = 0; e < inner; e++) dst[e] += src[e];                        \
            }                                                                                                    \
        }                                                                                                        \
    }

SD_WINDOW_SUM_DEFINE(float, f32)
SD_WINDOW_SUM_DEFINE(double, f64)
SD_WINDOW_SUM_DEFINE(int32_t, i32)
SD_WINDOW_SUM_DEFINE(int64_t, i64)

static int api_window_sum(sd_ctx *c, int node, int in, int out, int axis, int64_t size)
{
    Program *P = PROG(c);
    const sd_arr *X = &c->v[in];
    if (axis < 0 || axis >= X->ndim)
        return fail(P, node, ShapeError, "window_sum: axis %d is out of range for a %d-d value", axis, X->ndim);
    sd_arr tmp;
    int owned;
    const sd_arr *x = along_contiguous(X, &tmp, &owned);
    if (!x || new_value(P, node, out, X->dtype, X->ndim, X->shape)) {
        if (x && owned)
            Py_DECREF(tmp.obj);
        return -1;
    }
    int64_t outer, length, inner;
    along_axis(X, axis, &outer, &length, &inner);
    int64_t work = outer * length * inner * size;
    int threads = along_threads(outer * length, work);
    char *y = c->v[out].data;
    int status = 0;
    PyThreadState *gil = sd_release_gil(work);
    switch (X->dtype) {
    case NPY_FLOAT32: window_sum_f32((const float *)x->data, (float *)y, outer, length, inner, size / 2, threads); break;
    case NPY_FLOAT64: window_sum_f64((const double *)x->data, (double *)y, outer, length, inner, size / 2, threads); break;
    case NPY_INT32: window_sum_i32((const int32_t *)x->data, (int32_t *)y, outer, length, inner, size / 2, threads); break;
    case NPY_INT64: window_sum_i64((const int64_t *)x->data, (int64_t *)y, outer, length, inner, size / 2, threads); break;
    default: status = 1;
    }
    sd_restore_gil(gil);
    if (owned)
        Py_DECREF(tmp.obj);
    if (status)
        return fail(P, node, PyExc_TypeError, "window_sum: no C code for %s", dtype_name(X->dtype));
    return 0;
}

#define SD_CUMULATE_DEFINE(TI, TO, SUF)                                                                          \
    static void cumulate_##SUF(const TI *x, TO *y, int64_t outer, int64_t length, int64_t inner, int mul,        \
                               int threads)                                                                      \
    {                                                                                                            \
        _Pragma("omp parallel for num_threads(threads) if (threads > 1) schedule(static)")                     \
        for (int64_t o = 0; o < outer; o++) {                                                                    \
            const TI *src = x + o * length * inner;                                                              \
            TO *dst = y + o * length * inner;                                                                    \
            for (int64_t e = 0; e < inner && length > 0; e++)                                                    \
                dst[e] = (TO)src[e];                                                                             \
            for (int64_t i = 1; i < length; i++) {                                                               \
                const TI *s = src + i * inner;                                                                   \
                TO *d = dst + i * inner;                                                                         \
                if (mul) {                                                                                       \
                    _Pragma("omp simd") for (int64_t e = 0; e < inner; e++) d[e] = d[e - inner] * (TO)s[e];      \
                } else {                                                                                         \
                    _Pragma("omp simd") for (int64_t e = 0; e < inner; e++) d[e] = d[e - inner] + (TO)s[e];      \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }

SD_CUMULATE_DEFINE(float, float, f32)
SD_CUMULATE_DEFINE(double, double, f64)
SD_CUMULATE_DEFINE(int64_t, int64_t, i64)
SD_CUMULATE_DEFINE(int32_t, int64_t, i32_i64)

static int api_cumulate(sd_ctx *c, int node, int in, int out, int axis, int mul, int out_dtype)
{
    Program *P = PROG(c);
    const char *name = mul ? "cumprod" : "cumsum";
    const sd_arr *X = &c->v[in];
    if (axis < 0 || axis >= X->ndim)
        return fail(P, node, ShapeError, "%s: axis %d is out of range for a %d-d value", name, axis, X->ndim);
    int pair = X->dtype == out_dtype && (out_dtype == NPY_FLOAT32 || out_dtype == NPY_FLOAT64 || out_dtype == NPY_INT64);
    if (!pair && !(X->dtype == NPY_INT32 && out_dtype == NPY_INT64))
        return fail(P, node, PyExc_TypeError, "%s: no C code from %s to %s", name, dtype_name(X->dtype),
                    dtype_name(out_dtype));
    sd_arr tmp;
    int owned;
    const sd_arr *x = along_contiguous(X, &tmp, &owned);
    if (!x || new_value(P, node, out, out_dtype, X->ndim, X->shape)) {
        if (x && owned)
            Py_DECREF(tmp.obj);
        return -1;
    }
    int64_t outer, length, inner;
    along_axis(X, axis, &outer, &length, &inner);
    int64_t work = outer * length * inner;
    int threads = along_threads(outer, work);
    char *y = c->v[out].data;
    PyThreadState *gil = sd_release_gil(work);
    if (X->dtype == NPY_FLOAT32)
        cumulate_f32((const float *)x->data, (float *)y, outer, length, inner, mul, threads);
    else if (X->dtype == NPY_FLOAT64)
        cumulate_f64((const double *)x->data, (double *)y, outer, length, inner, mul, threads);
    else if (X->dtype == NPY_INT64)
        cumulate_i64((const int64_t *)x->data, (int64_t *)y, outer, length, inner, mul, threads);
    else
        cumulate_i32_i64((const int32_t *)x->data, (int64_t *)y, outer, length, inner, mul, threads);
    sd_restore_gil(gil);
    if (owned)
        Py_DECREF(tmp.obj);
    return 0;
}

/* The (batch, k) integer indices of a batched lookup as int64, each checked to lie in [0, n):
 * a new buffer (free it), or NULL after raising IndexError with the perform's message. */
static int64_t *batch_indices(Program *P, int node, const char *name, const sd_arr *idx, int64_t n)
{
    int64_t rows = idx->shape[0], k = idx->shape[1];
    int64_t *out = malloc(sizeof(int64_t) * (size_t)(rows * k + 1));
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    int isz = itemsize_of(idx->dtype);
    for (int64_t b = 0; b < rows; b++)
        for (int64_t j = 0; j < k; j++) {
            const char *p = idx->data + (b * idx->strides[0] + j * idx->strides[1]) * isz;
            int64_t v;
            switch (idx->dtype) {
            case NPY_INT8: v = *(const int8_t *)p; break;
            case NPY_INT16: v = *(const int16_t *)p; break;
            case NPY_INT32: v = *(const int32_t *)p; break;
            case NPY_UINT8: v = *(const uint8_t *)p; break;
            case NPY_UINT16: v = *(const uint16_t *)p; break;
            case NPY_UINT32: v = *(const uint32_t *)p; break;
            default: v = *(const int64_t *)p; break; /* int64; uint64 beyond INT64_MAX reads negative: refused */
            }
            out[b * k + j] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    if (rows * k && (lo < 0 || hi >= n)) {
        free(out);
        fail(P, node, PyExc_IndexError, "%s: indices must lie in [0, %lld), got [%lld, %lld]", name, (long long)n,
             (long long)lo, (long long)hi);
        return NULL;
    }
    return out;
}

static int api_batch_gather(sd_ctx *c, int node, int ix, int iidx, int out)
{
    Program *P = PROG(c);
    const sd_arr *x = &c->v[ix], *idx = &c->v[iidx];
    if (x->ndim != 3 || idx->ndim != 2)
        return fail(P, node, ShapeError, "batch_gather: x must be 3-d and the indices 2-d");
    if (x->shape[0] != idx->shape[0])
        return fail(P, node, ShapeError, "batch_gather: %lld images but indices for %lld", (long long)x->shape[0],
                    (long long)idx->shape[0]);
    int64_t *at = batch_indices(P, node, "batch_gather", idx, x->shape[2]);
    if (!at)
        return -1;
    int64_t batch = x->shape[0], channels = x->shape[1], k = idx->shape[1];
    int64_t shape[3] = {batch, channels, k};
    if (new_value(P, node, out, x->dtype, 3, shape)) {
        free(at);
        return -1;
    }
    int isz = itemsize_of(x->dtype);
    char *y = c->v[out].data;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t ch = 0; ch < channels; ch++) {
            const char *src = x->data + (b * x->strides[0] + ch * x->strides[1]) * isz;
            char *dst = y + (b * channels + ch) * k * isz;
            const int64_t *row = at + b * k, step = x->strides[2] * isz;
            switch (isz) {
            case 4:
                for (int64_t j = 0; j < k; j++)
                    ((uint32_t *)dst)[j] = *(const uint32_t *)(src + row[j] * step);
                break;
            case 8:
                for (int64_t j = 0; j < k; j++)
                    ((uint64_t *)dst)[j] = *(const uint64_t *)(src + row[j] * step);
                break;
            default:
                for (int64_t j = 0; j < k; j++)
                    memcpy(dst + j * isz, src + row[j] * step, (size_t)isz);
            }
        }
    free(at);
    return 0;
}

static int api_batch_scatter_add(sd_ctx *c, int node, int ig, int iidx, int in, int out)
{
    Program *P = PROG(c);
    const sd_arr *g = &c->v[ig], *idx = &c->v[iidx];
    int64_t n;
    if (g->ndim != 3 || idx->ndim != 2 || read_int(&c->v[in], 0, &n))
        return fail(P, node, ShapeError, "batch_scatter_add: g must be 3-d, the indices 2-d, n an integer");
    if (g->dtype != NPY_FLOAT32 && g->dtype != NPY_FLOAT64)
        return fail(P, node, PyExc_TypeError, "batch_scatter_add: no C code for %s", dtype_name(g->dtype));
    int64_t batch = g->shape[0], channels = g->shape[1], k = g->shape[2];
    if (idx->shape[0] != batch || idx->shape[1] != k) {
        char gs[256], is[256];
        shape_text(gs, sizeof gs, g->ndim, g->shape);
        shape_text(is, sizeof is, idx->ndim, idx->shape);
        return fail(P, node, ShapeError, "batch_scatter_add: values of shape %s for indices of shape %s", gs, is);
    }
    if (n < 0)
        return fail(P, node, PyExc_ValueError, "batch_scatter_add: n must be non-negative, got %lld", (long long)n);
    int64_t *at = batch_indices(P, node, "batch_scatter_add", idx, n);
    if (!at)
        return -1;
    int64_t shape[3] = {batch, channels, n};
    double *sums = calloc((size_t)(batch * channels * n + 1), sizeof(double));
    if (!sums || new_value(P, node, out, g->dtype, 3, shape)) {
        free(at);
        free(sums);
        return sums ? -1 : (PyErr_NoMemory(), -1);
    }
    int f32 = g->dtype == NPY_FLOAT32;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t ch = 0; ch < channels; ch++) {
            double *dst = sums + (b * channels + ch) * n;
            const int64_t base = b * g->strides[0] + ch * g->strides[1], *row = at + b * k;
            for (int64_t j = 0; j < k; j++) {
                int64_t e = base + j * g->strides[2];
                dst[row[j]] += f32 ? (double)((const float *)g->data)[e] : ((const double *)g->data)[e];
            }
        }
    char *y = c->v[out].data;
    for (int64_t e = 0; e < batch * channels * n; e++) {
        if (f32)
            ((float *)y)[e] = (float)sums[e];
        else
            ((double *)y)[e] = sums[e];
    }
    free(at);
    free(sums);
    return 0;
}

#endif
