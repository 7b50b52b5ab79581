/* symdl C runtime: reductions (sum, prod, max, min, all, any) over any axes, argmax/argmin, and
 * reductions fused into an elementwise program (its kernel accumulates into its last operand).
 */
#ifndef SYMDL_RUNTIME_REDUCE_H
#define SYMDL_RUNTIME_REDUCE_H

#include "runtime_iter.h"
#include "symdl_math.h"

#define RED_ROW(T, A, OP, SIMD)                                                                         \
    if (OS == 0) {                                                                                      \
        A s_ = acc[0];                                                                                  \
        if (XS == 1) {                                                                                  \
            SIMD for (int64_t i = 0; i < N; i++) { s_ = OP(s_, (A)x[i]); }                              \
        } else {                                                                                        \
            for (int64_t i = 0; i < N; i++) { s_ = OP(s_, (A)x[i * XS]); }                              \
        }                                                                                               \
        acc[0] = s_;                                                                                    \
    } else if (XS == 1 && OS == 1) {                                                                    \
        _Pragma("omp simd") for (int64_t i = 0; i < N; i++) { acc[i] = OP(acc[i], (A)x[i]); }           \
    } else {                                                                                            \
        for (int64_t i = 0; i < N; i++) { acc[i * OS] = OP(acc[i * OS], (A)x[i * XS]); }                \
    }

/* reduce over dims 0..D-1 of x (strides xs) into acc (strides os, 0 along reduced dims),
 * restricted to indices [lo, hi) of dim 0 */
#define DEF_RED(NAME, T, A, OP, SIMD)                                                                   \
    static void NAME(int D, const int64_t *n, const int64_t *xs, const int64_t *os, const char *xp,      \
                     char *ap, int64_t lo, int64_t hi)                                                  \
    {                                                                                                   \
        int64_t idx[SD_MAXDIM] = {0};                                                                   \
        const int64_t N0 = D == 1 ? hi - lo : n[D - 1];                                                 \
        const int64_t XS = xs[D - 1], OS = os[D - 1];                                                   \
        int64_t xo = lo * xs[0], oo = lo * os[0];                                                       \
        idx[0] = lo;                                                                                    \
        if (lo >= hi)                                                                                   \
            return;                                                                                     \
        for (;;) {                                                                                      \
            const T *x = (const T *)xp + xo;                                                            \
            A *acc = (A *)ap + oo;                                                                      \
            const int64_t N = N0;                                                                       \
            RED_ROW(T, A, OP, SIMD)                                                                     \
            if (D == 1)                                                                                 \
                return;                                                                                 \
            int d = D - 2;                                                                              \
            for (;;) {                                                                                  \
                idx[d]++;                                                                               \
                xo += xs[d];                                                                            \
                oo += os[d];                                                                            \
                if (d == 0 ? idx[0] < hi : idx[d] < n[d])                                               \
                    break;                                                                              \
                if (d == 0)                                                                             \
                    return;                                                                             \
                xo -= idx[d] * xs[d];                                                                   \
                oo -= idx[d] * os[d];                                                                   \
                idx[d] = 0;                                                                             \
                d--;                                                                                    \
            }                                                                                           \
        }                                                                                               \
    }

#define OP_ADD(a, b) ((a) + (b))
#define OP_MUL(a, b) ((a) * (b))
#define OP_AND(a, b) ((a) && (b))
#define OP_OR(a, b) ((a) || (b))
#define SIMD_ADD _Pragma("omp simd reduction(+ : s_)")
#define SIMD_MUL _Pragma("omp simd reduction(* : s_)")
#define SIMD_NONE

typedef void (*red_fn)(int, const int64_t *, const int64_t *, const int64_t *, const char *, char *, int64_t, int64_t);

#define DEF_ARITH(T, A, sfx)                                  \
    DEF_RED(red_sum_##sfx, T, A, OP_ADD, SIMD_ADD)            \
    DEF_RED(red_prod_##sfx, T, A, OP_MUL, SIMD_MUL)
#define DEF_CMP(T, sfx, MX, MN)                               \
    DEF_RED(red_max_##sfx, T, T, MX, SIMD_NONE)               \
    DEF_RED(red_min_##sfx, T, T, MN, SIMD_NONE)
DEF_ARITH(int8_t, int8_t, i8)
DEF_ARITH(int16_t, int16_t, i16)
DEF_ARITH(int32_t, int32_t, i32)
DEF_ARITH(int64_t, int64_t, i64)
DEF_ARITH(uint8_t, uint8_t, u8)
DEF_ARITH(uint16_t, uint16_t, u16)
DEF_ARITH(uint32_t, uint32_t, u32)
DEF_ARITH(uint64_t, uint64_t, u64)
DEF_ARITH(float, double, f32)
DEF_ARITH(double, double, f64)
DEF_CMP(uint8_t, b, SD_IMAX, SD_IMIN)
DEF_CMP(int8_t, i8, SD_IMAX, SD_IMIN)
DEF_CMP(int16_t, i16, SD_IMAX, SD_IMIN)
DEF_CMP(int32_t, i32, SD_IMAX, SD_IMIN)
DEF_CMP(int64_t, i64, SD_IMAX, SD_IMIN)
DEF_CMP(uint8_t, u8, SD_IMAX, SD_IMIN)
DEF_CMP(uint16_t, u16, SD_IMAX, SD_IMIN)
DEF_CMP(uint32_t, u32, SD_IMAX, SD_IMIN)
DEF_CMP(uint64_t, u64, SD_IMAX, SD_IMIN)
DEF_CMP(float, f32, SD_FMAX, SD_FMIN)
DEF_CMP(double, f64, SD_FMAX, SD_FMIN)
DEF_RED(red_all_b, uint8_t, uint8_t, OP_AND, SIMD_NONE)
DEF_RED(red_any_b, uint8_t, uint8_t, OP_OR, SIMD_NONE)

static red_fn pick_reducer(int kind, int dtype, int *acc_dtype)
{
    *acc_dtype = dtype;
#define CASE_ARITH(t, sfx) \
    case t: return kind == SD_SUM ? red_sum_##sfx : red_prod_##sfx;
#define CASE_CMP(t, sfx) \
    case t: return kind == SD_MAX ? red_max_##sfx : red_min_##sfx;
    if (kind == SD_SUM || kind == SD_PROD) {
        switch (dtype) {
            CASE_ARITH(NPY_INT8, i8)
            CASE_ARITH(NPY_INT16, i16)
            CASE_ARITH(NPY_INT32, i32)
            CASE_ARITH(NPY_INT64, i64)
            CASE_ARITH(NPY_UINT8, u8)
            CASE_ARITH(NPY_UINT16, u16)
            CASE_ARITH(NPY_UINT32, u32)
            CASE_ARITH(NPY_UINT64, u64)
            CASE_ARITH(NPY_FLOAT64, f64)
        case NPY_FLOAT32:
            *acc_dtype = NPY_FLOAT64;
            return kind == SD_SUM ? red_sum_f32 : red_prod_f32;
        }
    } else if (kind == SD_MAX || kind == SD_MIN) {
        switch (dtype) {
            CASE_CMP(NPY_BOOL, b)
            CASE_CMP(NPY_INT8, i8)
            CASE_CMP(NPY_INT16, i16)
            CASE_CMP(NPY_INT32, i32)
            CASE_CMP(NPY_INT64, i64)
            CASE_CMP(NPY_UINT8, u8)
            CASE_CMP(NPY_UINT16, u16)
            CASE_CMP(NPY_UINT32, u32)
            CASE_CMP(NPY_UINT64, u64)
            CASE_CMP(NPY_FLOAT32, f32)
            CASE_CMP(NPY_FLOAT64, f64)
        }
    } else if (dtype == NPY_BOOL) {
        return kind == SD_ALL ? red_all_b : red_any_b;
    }
    return NULL;
#undef CASE_ARITH
#undef CASE_CMP
}

static void fill_identity(char *p, int64_t n, int kind, int dtype)
{
#define FILL(T, val)                          \
    {                                         \
        T *q = (T *)p;                        \
        T v_ = (val);                         \
        for (int64_t i = 0; i < n; i++)       \
            q[i] = v_;                        \
        return;                               \
    }
#define LIMITS(T, lo, hi) FILL(T, kind == SD_MAX ? (lo) : kind == SD_MIN ? (hi) : (T)(kind == SD_PROD || kind == SD_ALL))
    switch (dtype) {
    case NPY_FLOAT64: LIMITS(double, -INFINITY, INFINITY)
    case NPY_FLOAT32: LIMITS(float, -INFINITY, INFINITY)
    case NPY_BOOL: LIMITS(uint8_t, 0, 1)
    case NPY_INT8: LIMITS(int8_t, INT8_MIN, INT8_MAX)
    case NPY_UINT8: LIMITS(uint8_t, 0, UINT8_MAX)
    case NPY_INT16: LIMITS(int16_t, INT16_MIN, INT16_MAX)
    case NPY_UINT16: LIMITS(uint16_t, 0, UINT16_MAX)
    case NPY_INT32: LIMITS(int32_t, INT32_MIN, INT32_MAX)
    case NPY_UINT32: LIMITS(uint32_t, 0, UINT32_MAX)
    case NPY_INT64: LIMITS(int64_t, INT64_MIN, INT64_MAX)
    default: LIMITS(uint64_t, 0, UINT64_MAX)
    }
#undef LIMITS
#undef FILL
}

/* x (dtype of out already) reduced over `mask` dims into out (allocated, with out_stride per x dim) */
static int reduce_into(Program *P, int node, int kind, const sd_arr *x, const char *mask, sd_arr *out,
                       const int64_t *ostride)
{
    int acc_dtype;
    red_fn fn = pick_reducer(kind, x->dtype, &acc_dtype);
    if (!fn)
        return fail(P, node, PyExc_TypeError, "no C reduction for dtype %s", dtype_name(x->dtype));
    int64_t outsize = size_of(out);
    /* geometry: dims with size != 1, in decreasing |x stride| order */
    int D = 0;
    int64_t n[SD_MAXDIM], xs[SD_MAXDIM], os[SD_MAXDIM];
    int64_t total = 1;
    for (int d = 0; d < x->ndim; d++) {
        total *= x->shape[d];
        if (x->shape[d] == 1)
            continue;
        n[D] = x->shape[d];
        xs[D] = x->strides[d];
        os[D] = mask[d] ? 0 : ostride[d];
        D++;
    }
    for (int i = 1; i < D; i++) { /* insertion sort, stable */
        for (int j = i; j > 0 && llabs(xs[j]) > llabs(xs[j - 1]); j--) {
            int64_t t;
            t = n[j], n[j] = n[j - 1], n[j - 1] = t;
            t = xs[j], xs[j] = xs[j - 1], xs[j - 1] = t;
            t = os[j], os[j] = os[j - 1], os[j - 1] = t;
        }
    }
    int E = 0;
    for (int d = 0; d < D; d++) {
        if (E > 0 && xs[E - 1] == xs[d] * n[d] && os[E - 1] == os[d] * n[d]) {
            n[E - 1] *= n[d];
            xs[E - 1] = xs[d];
            os[E - 1] = os[d];
            continue;
        }
        n[E] = n[d], xs[E] = xs[d], os[E] = os[d];
        E++;
    }
    D = E;
    if (D == 0) {
        n[0] = 1, xs[0] = 0, os[0] = 0;
        D = 1;
    }
    char *acc = out->data;
    PyObject *tmp = NULL;
    if (acc_dtype != out->dtype) {
        npy_intp len = (npy_intp)outsize;
        tmp = PyArray_SimpleNew(1, &len, acc_dtype);
        if (!tmp)
            return -1;
        acc = PyArray_DATA((PyArrayObject *)tmp);
    }
    int isz = itemsize_of(acc_dtype);
    fill_identity(acc, outsize, kind, acc_dtype);
    int nt = sd_nthreads, oom = 0;
    PyThreadState *gil = sd_release_gil(total);
    if (total == 0) {
        /* nothing to combine */
    } else if (nt > 1 && total >= sd_par_threshold && n[0] >= 2 && os[0] != 0) {
        /* outer dim kept: threads own disjoint outputs */
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            fn(D, n, xs, os, x->data, acc, n[0] * t / T, n[0] * (t + 1) / T);
        }
    } else if (nt > 1 && total >= sd_par_threshold && n[0] >= 2 && outsize <= 65536) {
        /* outer dim reduced: per-thread partial results, combined in order */
        char *part = malloc((size_t)outsize * isz * nt);
        if (!part) {
            oom = 1;
        } else {
            for (int t = 0; t < nt; t++)
                fill_identity(part + (size_t)t * outsize * isz, outsize, kind, acc_dtype);
#pragma omp parallel num_threads(nt)
            {
                int t = omp_get_thread_num(), T = omp_get_num_threads();
                fn(D, n, xs, os, x->data, part + (size_t)t * outsize * isz, n[0] * t / T, n[0] * (t + 1) / T);
            }
            int dummy;
            red_fn combine = acc_dtype == x->dtype ? fn : pick_reducer(kind, acc_dtype, &dummy);
            int64_t nn[1] = {outsize}, unit[1] = {1};
            for (int t = 0; t < nt; t++)
                combine(1, nn, unit, unit, part + (size_t)t * outsize * isz, acc, 0, outsize);
            free(part);
        }
    } else {
        fn(D, n, xs, os, x->data, acc, 0, n[0]);
    }
    sd_restore_gil(gil);
    if (oom) {
        Py_XDECREF(tmp);
        PyErr_NoMemory();
        return -1;
    }
    if (tmp) {
        sd_arr src = *out, dst = *out;
        src.obj = NULL;
        src.data = acc;
        src.dtype = acc_dtype;
        set_c_strides(&src);
        PyObject *sv = as_ndarray(&src, 0);
        PyObject *dv = as_ndarray(&dst, 1);
        int rc = (sv && dv) ? PyArray_CopyInto((PyArrayObject *)dv, (PyArrayObject *)sv) : -1;
        Py_XDECREF(sv);
        Py_XDECREF(dv);
        Py_DECREF(tmp);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* a value cast to dtype through NumPy (its casting rules), as a temporary sd_arr */
static int cast_value(sd_arr *dst, const sd_arr *src, int dtype)
{
    PyObject *view = as_ndarray((sd_arr *)src, 0);
    if (!view)
        return -1;
    PyArray_Descr *descr = PyArray_DescrFromType(dtype);
    PyObject *arr = PyArray_CastToType((PyArrayObject *)view, descr, 0);
    Py_DECREF(view);
    if (!arr)
        return -1;
    *dst = *src;
    dst->obj = arr;
    dst->data = PyArray_DATA((PyArrayObject *)arr);
    dst->dtype = dtype;
    dst->flags = 0;
    int isz = itemsize_of(dtype);
    for (int d = 0; d < dst->ndim; d++)
        dst->strides[d] = PyArray_STRIDE((PyArrayObject *)arr, d) / isz;
    return 0;
}

static int api_reduce(sd_ctx *c, int node, int kind, int in, int out, int naxes, const int *axes, int keepdims,
                      int out_dtype)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    char mask[SD_MAXDIM] = {0};
    for (int i = 0; i < naxes; i++)
        mask[axes[i]] = 1;
    int64_t shape[SD_MAXDIM];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mask[d] && x->shape[d] == 0 && (kind == SD_MAX || kind == SD_MIN)) {
            return fail(P, node, PyExc_ValueError,
                        "zero-size array to reduction operation %s which has no identity",
                        kind == SD_MAX ? "maximum" : "minimum");
        }
        if (!mask[d])
            shape[nd++] = x->shape[d];
        else if (keepdims)
            shape[nd++] = 1;
    }
    int src_dtype = (kind == SD_ALL || kind == SD_ANY) ? NPY_BOOL : out_dtype;
    sd_arr conv;
    const sd_arr *src = x;
    int converted = 0;
    if (x->dtype != src_dtype) {
        if (cast_value(&conv, x, src_dtype))
            return -1;
        src = &conv;
        converted = 1;
    }
    if (new_value(P, node, out, out_dtype, nd, shape)) {
        if (converted)
            Py_DECREF(conv.obj);
        return -1;
    }
    sd_arr *o = &c->v[out];
    int64_t ostride[SD_MAXDIM] = {0};
    for (int d = 0, k = 0; d < x->ndim; d++) {
        if (!mask[d])
            ostride[d] = o->strides[k++];
        else {
            ostride[d] = 0;
            if (keepdims)
                k++;
        }
    }
    int rc = reduce_into(P, node, kind, src, mask, o, ostride);
    if (converted)
        Py_DECREF(conv.obj);
    return rc;
}

#define DEF_ARG(NAME, T, BETTER)                                                                        \
    static int64_t NAME(const char *p, int64_t n, int64_t s)                                            \
    {                                                                                                   \
        const T *x = (const T *)p;                                                                      \
        int64_t best = 0;                                                                               \
        T bv = x[0];                                                                                    \
        if (bv != bv)                                                                                   \
            return 0;                                                                                   \
        for (int64_t i = 1; i < n; i++) {                                                               \
            T v = x[i * s];                                                                             \
            if (v != v)                                                                                 \
                return i;                                                                               \
            if (BETTER(v, bv)) {                                                                        \
                bv = v;                                                                                 \
                best = i;                                                                               \
            }                                                                                           \
        }                                                                                               \
        return best;                                                                                    \
    }
#define GT(a, b) ((a) > (b))
#define LT(a, b) ((a) < (b))
typedef int64_t (*arg_fn)(const char *, int64_t, int64_t);
#define DEF_ARGS(T, sfx) DEF_ARG(argmax_##sfx, T, GT) DEF_ARG(argmin_##sfx, T, LT)
DEF_ARGS(uint8_t, u8)
DEF_ARGS(int8_t, i8)
DEF_ARGS(int16_t, i16)
DEF_ARGS(uint16_t, u16)
DEF_ARGS(int32_t, i32)
DEF_ARGS(uint32_t, u32)
DEF_ARGS(int64_t, i64)
DEF_ARGS(uint64_t, u64)
DEF_ARGS(float, f32)
DEF_ARGS(double, f64)

static int api_argreduce(sd_ctx *c, int node, int kind, int in, int out, int axis, int keepdims)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    arg_fn fn = NULL;
    int mx = kind == SD_ARGMAX;
    switch (x->dtype) {
    case NPY_BOOL: case NPY_UINT8: fn = mx ? argmax_u8 : argmin_u8; break;
    case NPY_INT8: fn = mx ? argmax_i8 : argmin_i8; break;
    case NPY_INT16: fn = mx ? argmax_i16 : argmin_i16; break;
    case NPY_UINT16: fn = mx ? argmax_u16 : argmin_u16; break;
    case NPY_INT32: fn = mx ? argmax_i32 : argmin_i32; break;
    case NPY_UINT32: fn = mx ? argmax_u32 : argmin_u32; break;
    case NPY_INT64: fn = mx ? argmax_i64 : argmin_i64; break;
    case NPY_UINT64: fn = mx ? argmax_u64 : argmin_u64; break;
    case NPY_FLOAT32: fn = mx ? argmax_f32 : argmin_f32; break;
    case NPY_FLOAT64: fn = mx ? argmax_f64 : argmin_f64; break;
    default: return fail(P, node, PyExc_TypeError, "no C argmax for %s", dtype_name(x->dtype));
    }
    const char *name = mx ? "argmax" : "argmin";
    int isz = itemsize_of(x->dtype);
    if (axis < 0) {
        int64_t n = size_of(x);
        if (n == 0)
            return fail(P, node, ShapeError, "attempt to get %s of an empty sequence", name);
        int64_t shape[SD_MAXDIM];
        for (int d = 0; d < x->ndim; d++)
            shape[d] = 1;
        if (new_value(P, node, out, NPY_INT64, keepdims ? x->ndim : 0, shape))
            return -1;
        sd_arr tmp;
        const sd_arr *src = x;
        if (!is_c_contiguous(x)) {
            if (contiguous_copy(&tmp, x))
                return -1;
            src = &tmp;
        }
        PyThreadState *gil = sd_release_gil(n);
        *(int64_t *)c->v[out].data = fn(src->data, n, 1);
        sd_restore_gil(gil);
        if (src != x)
            Py_DECREF(tmp.obj);
        return 0;
    }
    if (x->shape[axis] == 0)
        return fail(P, node, ShapeError, "attempt to get %s of an empty sequence", name);
    int64_t shape[SD_MAXDIM], ishape[SD_MAXDIM], istr[SD_MAXDIM];
    int nd = 0, ni = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == axis) {
            if (keepdims)
                shape[nd++] = 1;
            continue;
        }
        shape[nd++] = x->shape[d];
        ishape[ni] = x->shape[d];
        istr[ni++] = x->strides[d];
    }
    if (new_value(P, node, out, NPY_INT64, nd, shape))
        return -1;
    int64_t *o = (int64_t *)c->v[out].data;
    int64_t total = 1;
    for (int d = 0; d < ni; d++)
        total *= ishape[d];
    int64_t n = x->shape[axis], s = x->strides[axis];
    PyThreadState *gil = sd_release_gil(total * n);
    for (int64_t k = 0; k < total; k++) {
        int64_t rem = k, off = 0;
        for (int d = ni - 1; d >= 0; d--) {
            off += (rem % ishape[d]) * istr[d];
            rem /= ishape[d];
        }
        o[k] = fn(x->data + off * isz, n, s);
    }
    sd_restore_gil(gil);
    return 0;
}


/* ------------------------------------------------------------------ fused elementwise reductions */
static int api_elemwise_reduce(sd_ctx *c, int node, int kind, int nin, const int *ins, int out, int out_dtype,
                               int acc_dtype, int elem_ndim, int naxes, const int *axes, int keepdims,
                               sd_kernel kernel, int cost)
{
    Program *P = PROG(c);
    sd_arr *arrs[64];
    int64_t shape[SD_MAXDIM];
    if (nin + 1 > 64)
        return fail(P, node, PyExc_ValueError, "too many operands");
    for (int i = 0; i < nin; i++)
        arrs[i] = &c->v[ins[i]];
    if (broadcast_shapes(P, node, nin, arrs, elem_ndim, shape))
        return -1;
    char mask[SD_MAXDIM] = {0};
    for (int i = 0; i < naxes; i++)
        mask[axes[i]] = 1;
    int64_t oshape[SD_MAXDIM];
    int nd = 0;
    for (int d = 0; d < elem_ndim; d++) {
        if (mask[d] && shape[d] == 0 && (kind == SD_MAX || kind == SD_MIN))
            return fail(P, node, PyExc_ValueError, "zero-size array to reduction operation %s which has no identity",
                        kind == SD_MAX ? "maximum" : "minimum");
        if (!mask[d])
            oshape[nd++] = shape[d];
        else if (keepdims)
            oshape[nd++] = 1;
    }
    if (new_value(P, node, out, out_dtype, nd, oshape))
        return -1;
    sd_arr *o = &c->v[out];
    int64_t outsize = size_of(o);
    char *acc = o->data;
    PyObject *tmp = NULL;
    if (acc_dtype != out_dtype) {
        npy_intp len = (npy_intp)(outsize > 0 ? outsize : 1);
        tmp = PyArray_SimpleNew(1, &len, acc_dtype);
        if (!tmp)
            return -1;
        acc = PyArray_DATA((PyArrayObject *)tmp);
    }
    int isz = itemsize_of(acc_dtype);
    fill_identity(acc, outsize, kind, acc_dtype);
    /* the accumulator as an operand of the elementwise shape: stride 0 along reduced axes */
    sd_arr accv = *o;
    accv.obj = NULL;
    accv.data = acc;
    accv.dtype = acc_dtype;
    accv.ndim = elem_ndim;
    for (int d = 0, k = 0; d < elem_ndim; d++) {
        accv.shape[d] = mask[d] ? 1 : shape[d];
        if (!mask[d])
            accv.strides[d] = o->strides[keepdims ? d : k++];
        else
            accv.strides[d] = 0;
    }
    sd_iter it;
    it.nops = nin + 1;
    it.D = elem_ndim;
    memcpy(it.shape, shape, sizeof(int64_t) * elem_ndim);
    for (int i = 0; i < nin; i++)
        iter_operand(&it, i, arrs[i]);
    iter_operand(&it, nin, &accv);
    for (int d = 0; d < elem_ndim; d++) /* iter_operand broadcasts size-1 dims; reduced dims are 0 too */
        it.st[d][nin] = mask[d] ? 0 : accv.strides[d];
    coalesce(&it);
    int64_t total = 1;
    for (int d = 0; d < it.D; d++)
        total *= it.shape[d];
    int nt = sd_nthreads, oom = 0;
    PyThreadState *gil = sd_release_gil(total * (int64_t)cost);
    if (total == 0) {
    } else if (nt > 1 && total * (int64_t)cost >= sd_par_threshold && it.shape[0] >= 2 && it.st[0][nin] != 0) {
        /* outer dim kept: threads own disjoint outputs */
        int64_t inner = total / it.shape[0];
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = it.shape[0] * t / T, hi = it.shape[0] * (t + 1) / T;
            if (lo < hi)
                iter_range(&it, kernel, lo * inner, hi * inner, 0); /* the accumulator: no widening */
        }
    } else if (nt > 1 && total * (int64_t)cost >= sd_par_threshold && outsize <= 65536) {
        /* per-thread partial accumulators, combined in order */
        char *part = malloc((size_t)outsize * isz * nt);
        if (!part) {
            oom = 1;
        } else {
            for (int t = 0; t < nt; t++)
                fill_identity(part + (size_t)t * outsize * isz, outsize, kind, acc_dtype);
#pragma omp parallel num_threads(nt)
            {
                int t = omp_get_thread_num(), T = omp_get_num_threads();
                sd_iter mine = it;
                mine.base[nin] = part + (size_t)t * outsize * isz;
                int64_t lo = total * t / T, hi = total * (t + 1) / T;
                if (lo < hi)
                    iter_range(&mine, kernel, lo, hi, 0);
            }
            int dummy;
            red_fn combine = pick_reducer(kind, acc_dtype, &dummy);
            int64_t nn[1] = {outsize}, unit[1] = {1};
            for (int t = 0; t < nt; t++)
                combine(1, nn, unit, unit, part + (size_t)t * outsize * isz, acc, 0, outsize);
            free(part);
        }
    } else {
        iter_range(&it, kernel, 0, total, 0);
    }
    sd_restore_gil(gil);
    if (oom) {
        Py_XDECREF(tmp);
        PyErr_NoMemory();
        return -1;
    }
    if (tmp) {
        sd_arr src = *o;
        src.obj = NULL;
        src.data = acc;
        src.dtype = acc_dtype;
        set_c_strides(&src);
        PyObject *sv = as_ndarray(&src, 0);
        PyObject *dv = as_ndarray(o, 1);
        int rc = (sv && dv) ? PyArray_CopyInto((PyArrayObject *)dv, (PyArrayObject *)sv) : -1;
        Py_XDECREF(sv);
        Py_XDECREF(dv);
        Py_DECREF(tmp);
        if (rc < 0)
            return -1;
    }
    return 0;
}

#endif
