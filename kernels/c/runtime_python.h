/* symdl C runtime: nodes without C code run their Python `perform` through a callback; DEBUG
 * mode compares each C node with its Python result, and nan_guard checks outputs for NaN/inf.
 */
#ifndef SYMDL_RUNTIME_PYTHON_H
#define SYMDL_RUNTIME_PYTHON_H

#include "runtime_values.h"

static PyObject *slot_list(Program *P, int n, const int *slots)
{
    PyObject *list = PyList_New(n);
    if (!list)
        return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *arr = as_ndarray(&P->v[slots[i]], 0);
        if (!arr) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, arr);
    }
    return list;
}

static int api_py(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs)
{
    Program *P = PROG(c);
    PyObject *args = slot_list(P, nin, ins);
    if (!args)
        return -1;
    PyObject *fn = PyList_GET_ITEM(P->callbacks, node);
    PyObject *res = PyObject_CallOneArg(fn, args);
    Py_DECREF(args);
    if (!res)
        return -1;
    PyObject *seq = PySequence_Fast(res, "perform must return a list");
    Py_DECREF(res);
    if (!seq)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != nout) {
        Py_DECREF(seq);
        return fail(P, node, PyExc_ValueError, "perform returned %zd values, expected %d",
                    PySequence_Fast_GET_SIZE(seq), nout);
    }
    for (int o = 0; o < nout; o++) {
        if (set_result(P, node, outs[o], PySequence_Fast_GET_ITEM(seq, o))) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

static int has_nonfinite(const sd_arr *a)
{
    if (a->dtype != NPY_FLOAT32 && a->dtype != NPY_FLOAT64)
        return 0;
    int64_t total = size_of(a);
    int64_t idx[SD_MAXDIM] = {0};
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0, rem = k;
        for (int d = a->ndim - 1; d >= 0; d--) {
            idx[d] = rem % a->shape[d];
            rem /= a->shape[d];
            off += idx[d] * a->strides[d];
        }
        double v = a->dtype == NPY_FLOAT32 ? ((const float *)a->data)[off] : ((const double *)a->data)[off];
        if (!isfinite(v))
            return 1;
    }
    return 0;
}

static int api_check(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs)
{
    Program *P = PROG(c);
    if (P->checker != Py_None) {
        PyObject *a = slot_list(P, nin, ins);
        PyObject *b = a ? slot_list(P, nout, outs) : NULL;
        PyObject *r = b ? PyObject_CallFunction(P->checker, "iOO", node, a, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
    if (P->nan_guard) {
        for (int o = 0; o < nout; o++)
            if (has_nonfinite(&P->v[outs[o]]))
                return fail(P, node, NanGuardError, "output %d holds NaN or inf (nan_guard)", o);
    }
    return 0;
}

#endif
