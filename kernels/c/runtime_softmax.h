/* symdl C runtime: softmax, log-softmax and softmax cross-entropy (integer labels or
 * probability targets) along one axis.
 */
#ifndef SYMDL_RUNTIME_SOFTMAX_H
#define SYMDL_RUNTIME_SOFTMAX_H

#include "runtime_values.h"
#include "symdl_math.h"

#define DEF_SOFTMAX(T, sfx, EXP, LOG)                                                                      \
    /* one line of n values, stride s: out (stride so) gets softmax (kind 0) or log-softmax (1);      \
     * kinds 2 and 3 return the cross-entropy term instead, with label `lab` or targets t (stride ts) */ \
    static double softmax_line_##sfx(int kind, const T *x, int64_t n, int64_t s, T *out, int64_t so,       \
                                     int64_t lab, const T *t, int64_t ts)                                  \
    {                                                                                                      \
        T m = x[0];                                                                                        \
        for (int64_t i = 1; i < n; i++)                                                                    \
            m = SD_FMAX(m, x[i * s]);                                                                      \
        if (!isfinite(m))                                                                                  \
            m = 0;                                                                                         \
        double sum = 0;                                                                                    \
        for (int64_t i = 0; i < n; i++)                                                                    \
            sum += (double)EXP((T)(x[i * s] - m));                                                         \
        if (kind == 0) {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                                \
                out[i * so] = (T)(EXP((T)(x[i * s] - m)) / (T)sum);                                        \
            return 0;                                                                                      \
        }                                                                                                  \
        T logsum = (T)LOG((T)sum);                                                                         \
        if (kind == 1) {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                                \
                out[i * so] = (T)((T)(x[i * s] - m) - logsum);                                             \
            return 0;                                                                                      \
        }                                                                                                  \
        if (kind == 2)                                                                                     \
            return -(double)((T)(x[lab * s] - m) - logsum);                                                \
        double acc = 0;                                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                                  \
            T ti = t[i * ts];                                                                              \
            if (ti != 0)                                                                                   \
                acc += (double)(T)(ti * (T)((T)(x[i * s] - m) - logsum));                                  \
        }                                                                                                  \
        return -acc;                                                                                       \
    }
DEF_SOFTMAX(float, f32, sd_expf, logf)
DEF_SOFTMAX(double, f64, exp, log)

static int api_softmax(sd_ctx *c, int node, int kind, int in, int target, int out, int axis)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    int dtype = x->dtype;
    if (dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64)
        return fail(P, node, PyExc_TypeError, "C softmax needs float32 or float64");
    if (kind >= 2)
        axis = x->ndim - 1;
    if (axis < 0 || axis >= x->ndim)
        return fail(P, node, ShapeError, "axis %d out of range", axis);
    int64_t n = x->shape[axis], s = x->strides[axis];
    sd_arr *t = kind >= 2 ? &c->v[target] : NULL;
    int64_t oshape[SD_MAXDIM], ishape[SD_MAXDIM], istr[SD_MAXDIM], tstr[SD_MAXDIM];
    int no = 0, ni = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (kind < 2 || d != axis)
            oshape[no++] = x->shape[d];
        if (d != axis) {
            ishape[ni] = x->shape[d];
            istr[ni] = x->strides[d];
            ni++;
        }
    }
    if (t) {
        int want = kind == 2 ? x->ndim - 1 : x->ndim;
        int ok = t->ndim == want;
        for (int d = 0; ok && d < want; d++)
            ok = t->shape[d] == x->shape[d];
        if (!ok) {
            char a[256], b[256];
            shape_text(a, sizeof a, x->ndim, x->shape);
            shape_text(b, sizeof b, t->ndim, t->shape);
            return fail(P, node, ShapeError, "targets of shape %s do not fit predictions of shape %s", b, a);
        }
        if (kind == 3 && t->dtype != dtype)
            return fail(P, node, PyExc_TypeError, "probability targets must have the predictions' dtype");
        for (int d = 0; d < ni; d++)
            tstr[d] = t->strides[d];
    }
    int64_t rows = 1;
    for (int d = 0; d < ni; d++)
        rows *= ishape[d];
    if (kind == 2 && n == 0 && rows > 0)
        return fail(P, node, PyExc_IndexError, "softmax_crossentropy_with_logits: no classes");
    /* labels are checked before any output is made */
    if (kind == 2) {
        for (int64_t r = 0; r < rows; r++) {
            int64_t rem = r, toff = 0, lab;
            for (int d = ni - 1; d >= 0; d--) {
                toff += (rem % ishape[d]) * tstr[d];
                rem /= ishape[d];
            }
            sd_arr one = *t;
            one.data = t->data + toff * itemsize_of(t->dtype);
            one.ndim = 0;
            if (read_int(&one, 0, &lab))
                return fail(P, node, PyExc_TypeError, "labels must be integers");
            if (lab < 0 || lab >= n)
                return fail(P, node, PyExc_IndexError,
                            "softmax_crossentropy_with_logits: label %lld is out of range for %lld classes",
                            (long long)lab, (long long)n);
        }
    }
    if (new_value(P, node, out, dtype, no, oshape))
        return -1;
    sd_arr *o = &c->v[out];
    int isz = itemsize_of(dtype);
    PyThreadState *gil = sd_release_gil(rows * n * 8); /* an exp per element */
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, xoff = 0, toff = 0, ooff = 0, lab = 0;
        for (int d = ni - 1; d >= 0; d--) {
            int64_t i = rem % ishape[d];
            rem /= ishape[d];
            xoff += i * istr[d];
            if (t)
                toff += i * tstr[d];
        }
        if (kind < 2) { /* output has x's shape: its offset follows the same index */
            int64_t rem2 = r;
            for (int d = x->ndim - 1, k = ni - 1; d >= 0; d--) {
                if (d == axis)
                    continue;
                ooff += (rem2 % ishape[k]) * o->strides[d];
                rem2 /= ishape[k];
                k--;
            }
        }
        const char *tp = NULL;
        if (kind == 2) {
            sd_arr one = *t;
            one.data = t->data + toff * itemsize_of(t->dtype);
            one.ndim = 0;
            read_int(&one, 0, &lab);
        } else if (kind == 3) {
            tp = t->data + toff * isz;
        }
        int64_t so = kind < 2 ? o->strides[axis] : 0;
        int64_t ts = kind == 3 ? t->strides[t->ndim - 1] : 0;
        if (dtype == NPY_FLOAT32) {
            double v = softmax_line_f32(kind, (const float *)x->data + xoff, n, s, (float *)o->data + ooff, so, lab,
                                        (const float *)tp, ts);
            if (kind >= 2)
                ((float *)o->data)[r] = (float)v;
        } else {
            double v = softmax_line_f64(kind, (const double *)x->data + xoff, n, s, (double *)o->data + ooff, so,
                                        lab, (const double *)tp, ts);
            if (kind >= 2)
                ((double *)o->data)[r] = v;
        }
    }
    sd_restore_gil(gil);
    return 0;
}

#endif
