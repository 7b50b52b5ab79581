/* symdl C runtime: broadcasting elementwise iteration. An iteration over the output's shape with
 * one pointer and stride per operand, its dimensions coalesced, split among OpenMP threads when
 * the work is large; the elementwise entry point (generated kernels run here), and copies.
 */
#ifndef SYMDL_RUNTIME_ITER_H
#define SYMDL_RUNTIME_ITER_H

#include "runtime_values.h"

typedef struct {
    int nops, D;
    int64_t shape[SD_MAXDIM];
    int64_t st[SD_MAXDIM][64]; /* per dim, per operand, in elements */
    int isz[64];
    char *base[64];
} sd_iter;

/* Drop size-1 dimensions and merge dimensions that are contiguous for every operand. */
static void coalesce(sd_iter *it)
{
    int D = 0;
    for (int d = 0; d < it->D; d++) {
        if (it->shape[d] == 1)
            continue;
        if (D > 0) {
            int ok = 1;
            for (int k = 0; k < it->nops && ok; k++)
                ok = it->st[D - 1][k] == it->st[d][k] * it->shape[d];
            if (ok) {
                it->shape[D - 1] *= it->shape[d];
                for (int k = 0; k < it->nops; k++)
                    it->st[D - 1][k] = it->st[d][k];
                continue;
            }
        }
        it->shape[D] = it->shape[d];
        for (int k = 0; k < it->nops; k++)
            it->st[D][k] = it->st[d][k];
        D++;
    }
    if (D == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < it->nops; k++)
            it->st[0][k] = 0;
        D = 1;
    }
    it->D = D;
}

/* An input broadcast along the innermost dimension (stride 0: a (B, 1) column against (B, N))
 * keeps a generated kernel off its contiguous, vectorized path, and its transcendental functions
 * then run one element at a time (tanh(x) * column took 13x the time of tanh(x) * matrix). Where
 * every other operand is contiguous, such inputs are read from buffers filled with their value,
 * SD_WIDE elements at a time, and the kernel runs its vectorized path. */
#define SD_WIDE 256
#define SD_WIDE_MAX_OPERANDS 4
#define SD_WIDE_MIN_RUN 16

/* the operands of `it` to widen, among its first `inputs` (read-only ones): their count, 0 when
 * the runs are not of that kind */
static int widened_operands(const sd_iter *it, int inputs, int *wide)
{
    int last = it->D - 1, n = 0;
    if (inputs <= 0 || it->shape[last] < SD_WIDE_MIN_RUN)
        return 0;
    for (int k = 0; k < it->nops; k++) {
        int64_t stride = it->st[last][k];
        int size = it->isz[k];
        if (k < inputs && stride == 0 && (size == 1 || size == 2 || size == 4 || size == 8)) {
            if (n == SD_WIDE_MAX_OPERANDS)
                return 0;
            wide[n++] = k;
        } else if (stride != 1) {
            return 0;
        }
    }
    return n;
}

static void run_widened(const sd_iter *it, sd_kernel kernel, int64_t n, char *const *p, const int64_t *s,
                        const int *wide, int nwide)
{
    uint64_t buf[SD_WIDE_MAX_OPERANDS][SD_WIDE]; /* 8-byte aligned, any element size up to 8 */
    char *q[64];
    int64_t t[64];
    for (int k = 0; k < it->nops; k++) {
        q[k] = p[k];
        t[k] = s[k];
    }
    int64_t fill = n < SD_WIDE ? n : SD_WIDE;
    for (int w = 0; w < nwide; w++) {
        int k = wide[w];
        char *b = (char *)buf[w];
        switch (it->isz[k]) {
        case 1: memset(b, *(const uint8_t *)p[k], (size_t)fill); break;
        case 2: for (int64_t i = 0; i < fill; i++) ((uint16_t *)b)[i] = *(const uint16_t *)p[k]; break;
        case 4: for (int64_t i = 0; i < fill; i++) ((uint32_t *)b)[i] = *(const uint32_t *)p[k]; break;
        default: for (int64_t i = 0; i < fill; i++) ((uint64_t *)b)[i] = *(const uint64_t *)p[k]; break;
        }
        q[k] = b;
        t[k] = 1;
    }
    for (int64_t done = 0; done < n; done += SD_WIDE) {
        int64_t m = n - done < SD_WIDE ? n - done : SD_WIDE;
        kernel(m, q, t);
        for (int k = 0; k < it->nops; k++)
            q[k] += m * s[k] * it->isz[k]; /* the widened ones (stride 0) stay on their buffers */
    }
}

/* kernel over elements [start, end) of the iteration; its first `inputs` operands are read-only
 * inputs, which it may read widened (0: none, for accumulators and destinations) */
static void iter_range(const sd_iter *it, sd_kernel kernel, int64_t start, int64_t end, int inputs)
{
    int D = it->D, nops = it->nops;
    int wide[SD_WIDE_MAX_OPERANDS];
    int nwide = widened_operands(it, inputs, wide);
    int64_t idx[SD_MAXDIM];
    char *p[64];
    int64_t s[64];
    int64_t rem = start;
    for (int d = D - 1; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    for (int k = 0; k < nops; k++) {
        p[k] = it->base[k];
        for (int d = 0; d < D; d++)
            p[k] += idx[d] * it->st[d][k] * it->isz[k];
        s[k] = it->st[D - 1][k];
    }
    int64_t pos = start, inner = it->shape[D - 1];
    while (pos < end) {
        int64_t n = inner - idx[D - 1];
        if (n > end - pos)
            n = end - pos;
        if (nwide)
            run_widened(it, kernel, n, p, s, wide, nwide);
        else
            kernel(n, p, s);
        pos += n;
        if (pos >= end)
            break;
        idx[D - 1] += n;
        for (int k = 0; k < nops; k++)
            p[k] += n * s[k] * it->isz[k];
        int d = D - 1;
        while (d > 0 && idx[d] == it->shape[d]) {
            for (int k = 0; k < nops; k++)
                p[k] -= it->shape[d] * it->st[d][k] * it->isz[k];
            idx[d] = 0;
            d--;
            idx[d]++;
            for (int k = 0; k < nops; k++)
                p[k] += it->st[d][k] * it->isz[k];
        }
    }
}

static void iter_run(const sd_iter *it, sd_kernel kernel, int cost, int inputs)
{
    int64_t total = 1;
    for (int d = 0; d < it->D; d++)
        total *= it->shape[d];
    if (total == 0)
        return;
    PyThreadState *gil = sd_release_gil(total * (int64_t)cost);
    int nt = sd_nthreads;
    if (nt > 1 && total * (int64_t)cost >= sd_par_threshold) {
        int64_t chunks = total * (int64_t)cost / (sd_par_threshold / 2);
        if (chunks < nt)
            nt = (int)chunks;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = total * t / T, hi = total * (t + 1) / T;
            if (T > 1 && it->D == 1) { /* keep chunk edges on cache lines */
                lo = t ? (lo + 15) & ~(int64_t)15 : 0;
                hi = t == T - 1 ? total : (hi + 15) & ~(int64_t)15;
            }
            if (lo < hi)
                iter_range(it, kernel, lo, hi, inputs);
        }
    } else {
        iter_range(it, kernel, 0, total, inputs);
    }
    sd_restore_gil(gil);
}

/* operand k of an iteration over `shape` (D dims): strides, with 0 along broadcast dims */
static void iter_operand(sd_iter *it, int k, const sd_arr *a)
{
    int off = it->D - a->ndim;
    for (int d = 0; d < it->D; d++) {
        int ad = d - off;
        it->st[d][k] = (ad < 0 || a->shape[ad] == 1) ? 0 : a->strides[ad];
    }
    it->base[k] = a->data;
    it->isz[k] = itemsize_of(a->dtype);
}

static int broadcast_shapes(Program *P, int node, int n, sd_arr **arrs, int ndim, int64_t *shape)
{
    for (int d = 0; d < ndim; d++)
        shape[d] = 1;
    for (int i = 0; i < n; i++) {
        sd_arr *a = arrs[i];
        int off = ndim - a->ndim;
        if (off < 0)
            return fail(P, node, ShapeError, "input %d has %d dimensions, more than the %d of the output", i,
                        a->ndim, ndim);
        for (int d = 0; d < a->ndim; d++) {
            int64_t dim = a->shape[d];
            if (dim == 1)
                continue;
            if (shape[off + d] == 1)
                shape[off + d] = dim;
            else if (shape[off + d] != dim) {
                char buf[1024];
                size_t k = 0;
                for (int j = 0; j < n; j++) {
                    char s[256];
                    shape_text(s, sizeof s, arrs[j]->ndim, arrs[j]->shape);
                    k += snprintf(buf + k, sizeof buf - k, j ? " and %s" : "%s", s);
                    if (k >= sizeof buf)
                        break;
                }
                return fail(P, node, ShapeError, "shapes %s cannot broadcast (axis %d: %lld vs %lld)", buf,
                            d - a->ndim, (long long)shape[off + d], (long long)dim);
            }
        }
    }
    return 0;
}

static int api_elemwise(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs, const int *out_dtypes,
                        int out_ndim, sd_kernel kernel, int cost)
{
    Program *P = PROG(c);
    sd_arr *arrs[64];
    int64_t shape[SD_MAXDIM];
    if (nin + nout > 64)
        return fail(P, node, PyExc_ValueError, "too many operands");
    for (int i = 0; i < nin; i++)
        arrs[i] = &c->v[ins[i]];
    if (broadcast_shapes(P, node, nin, arrs, out_ndim, shape))
        return -1;
    for (int o = 0; o < nout; o++)
        if (new_value(P, node, outs[o], out_dtypes[o], out_ndim, shape))
            return -1;
    sd_iter it;
    it.nops = nin + nout;
    it.D = out_ndim;
    memcpy(it.shape, shape, sizeof(int64_t) * out_ndim);
    for (int i = 0; i < nin; i++)
        iter_operand(&it, i, arrs[i]);
    for (int o = 0; o < nout; o++)
        iter_operand(&it, nin + o, &c->v[outs[o]]);
    coalesce(&it);
    iter_run(&it, kernel, cost, nin);
    return 0;
}

#define COPY_KERNEL(N, T)                                          \
    static void copy_##N(int64_t n, char **p, const int64_t *s)    \
    {                                                              \
        const T *restrict a = (const T *)p[0];                     \
        T *restrict b = (T *)p[1];                                 \
        if (s[0] == 1 && s[1] == 1) {                              \
            memcpy(b, a, n * sizeof(T));                           \
        } else {                                                   \
            for (int64_t i = 0; i < n; i++)                        \
                b[i * s[1]] = a[i * s[0]];                         \
        }                                                          \
    }
COPY_KERNEL(1, uint8_t)
COPY_KERNEL(2, uint16_t)
COPY_KERNEL(4, uint32_t)
COPY_KERNEL(8, uint64_t)
typedef struct {
    uint64_t a, b;
} sd_u128;
COPY_KERNEL(16, sd_u128)

static sd_kernel copy_iter(sd_iter *it, const sd_arr *dst, const sd_arr *src)
{
    it->nops = 2;
    it->D = dst->ndim;
    memcpy(it->shape, dst->shape, sizeof(int64_t) * dst->ndim);
    iter_operand(it, 0, src);
    iter_operand(it, 1, dst);
    coalesce(it);
    switch (itemsize_of(dst->dtype)) {
    case 1: return copy_1;
    case 2: return copy_2;
    case 4: return copy_4;
    case 16: return copy_16;
    default: return copy_8;
    }
}

/* dst[...] = src broadcast to dst's shape (same dtype) */
static void copy_into(const sd_arr *dst, const sd_arr *src)
{
    sd_iter it;
    sd_kernel k = copy_iter(&it, dst, src);
    iter_run(&it, k, 1, 0);
}

/* copy_into on the calling thread alone (inside a parallel region: no GIL, no threads of its own) */
static void copy_into_here(const sd_arr *dst, const sd_arr *src)
{
    sd_iter it;
    sd_kernel k = copy_iter(&it, dst, src);
    int64_t total = 1;
    for (int d = 0; d < it.D; d++)
        total *= it.shape[d];
    if (total > 0)
        iter_range(&it, k, 0, total, 0);
}

/* a C-contiguous copy of a value, in a temporary slot-less sd_arr owning a NumPy array */
static int contiguous_copy(sd_arr *dst, const sd_arr *src)
{
    npy_intp dims[SD_MAXDIM];
    for (int d = 0; d < src->ndim; d++)
        dims[d] = (npy_intp)src->shape[d];
    PyObject *arr = PyArray_SimpleNew(src->ndim, dims, src->dtype);
    if (!arr)
        return -1;
    *dst = *src;
    dst->obj = arr;
    dst->data = PyArray_DATA((PyArrayObject *)arr);
    dst->flags = 0;
    set_c_strides(dst);
    copy_into(dst, src);
    return 0;
}

#endif
