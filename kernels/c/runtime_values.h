/* symdl C runtime: the slots' values. Memory for new values (fresh output arrays, the pool of
 * intermediate buffers, output arrays of earlier calls that the caller dropped, a shared
 * variable's own array when its update may overwrite it), NumPy views of slots, values coming in
 * from Python (inputs, results of Python code) and going out to it (the outputs).
 */
#ifndef SYMDL_RUNTIME_VALUES_H
#define SYMDL_RUNTIME_VALUES_H

#include "runtime_core.h"

static void api_release(sd_ctx *c, int slot)
{
    clear_slot(&c->v[slot]);
}

/* Memory for a new value of `slot`: outputs get a fresh NumPy array that the caller will own;
 * intermediates come from the pool when a dead buffer of a fitting size is there. */
static int new_value(Program *P, int node, int slot, int dtype, int ndim, const int64_t *shape)
{
    sd_arr *a = &P->v[slot];
    int isz = itemsize_of(dtype);
    int64_t n = 1;
    int empty = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return fail(P, node, ShapeError, "negative dimension %lld", (long long)shape[d]);
        empty |= shape[d] == 0;
    }
    for (int d = 0; d < ndim && !empty; d++) {
        if (n > INT64_MAX / (isz > 0 ? isz : 1) / shape[d]) {
            char text[SD_MAXDIM * 24 + 8];
            shape_text(text, sizeof text, ndim, shape);
            return fail(P, node, PyExc_MemoryError,
                        "an output of shape %s (%s) is too large: its size in bytes overflows the 64-bit address "
                        "space",
                        text, dtype_name(dtype));
        }
        n *= shape[d];
    }
    Py_ssize_t nbytes = (Py_ssize_t)(n * isz);
    clear_slot(a);
    a->ndim = ndim;
    a->dtype = dtype;
    memcpy(a->shape, shape, sizeof(int64_t) * ndim);
    set_c_strides(a);
    if (slot == P->claim_out) {
        const sd_arr *src = &P->v[P->claim_src];
        int fits = src->dtype == dtype && src->ndim == ndim;
        for (int d = 0; fits && d < ndim; d++)
            fits = src->shape[d] == shape[d];
        P->claim_out = -1;
        if (fits) { /* api_claim checked that src is C-contiguous, writeable and aliased by no other slot */
            Py_INCREF(src->obj);
            a->obj = src->obj;
            a->data = src->data;
            a->flags = SD_INPLACE;
            return 0;
        }
    }
    if (P->target[slot]) {
        int any_layout = P->target[slot] < 0; /* api_target_part */
        const sd_arr *t = &P->v[(any_layout ? -P->target[slot] : P->target[slot]) - 1];
        int fits = t->obj && t->dtype == dtype && t->ndim == ndim && (any_layout || is_c_contiguous(t));
        for (int d = 0; fits && d < ndim; d++)
            fits = t->shape[d] == shape[d];
        P->target[slot] = 0;
        if (fits) { /* api_target: a view of the row (or part of it) the loop stores this value in */
            Py_INCREF(t->obj);
            a->obj = t->obj;
            a->data = t->data;
            if (any_layout)
                memcpy(a->strides, t->strides, sizeof(int64_t) * ndim);
            a->flags = t->flags & (SD_BORROWED | SD_POOLED);
            return 0;
        }
    }
    if (P->lent[slot] && P->recent[(size_t)slot * SD_RECENT]) {
        /* the caller borrowed the last array: overwrite it unless it is among this call's values */
        PyArrayObject *o = (PyArrayObject *)P->recent[(size_t)slot * SD_RECENT];
        int fits = PyArray_TYPE(o) == dtype && PyArray_NDIM(o) == ndim && PyArray_ISWRITEABLE(o);
        for (int d = 0; fits && d < ndim; d++)
            fits = PyArray_DIM(o, d) == shape[d];
        const char *lo = PyArray_DATA(o), *hi = lo + PyArray_NBYTES(o); /* a C-contiguous array of ours */
        if (fits && !seen_by_a_slot(P, lo, hi, slot, -1)) {
            Py_INCREF(o);
            a->obj = (PyObject *)o;
            a->data = PyArray_DATA(o);
            a->flags = SD_FRESH;
            return 0;
        }
    }
    if (P->is_out[slot] && nbytes >= SD_RECENT_MIN_BYTES) {
        PyObject **recent = P->recent + (size_t)slot * SD_RECENT;
        for (int r = 0; r < SD_RECENT; r++) {
            PyArrayObject *o = (PyArrayObject *)recent[r];
            if (!o || Py_REFCNT(o) != 1 || PyArray_TYPE(o) != dtype || PyArray_NDIM(o) != ndim)
                continue;
            int same = 1;
            for (int d = 0; same && d < ndim; d++)
                same = PyArray_DIM(o, d) == shape[d];
            if (!same)
                continue;
            Py_INCREF(o);
            a->obj = (PyObject *)o;
            a->data = PyArray_DATA(o);
            a->flags = SD_FRESH;
            return 0;
        }
    }
    if (P->is_out[slot]) {
        npy_intp dims[SD_MAXDIM];
        for (int d = 0; d < ndim; d++)
            dims[d] = (npy_intp)shape[d];
        PyObject *arr = PyArray_SimpleNew(ndim, dims, dtype);
        if (!arr)
            return -1;
        a->obj = arr;
        a->data = PyArray_DATA((PyArrayObject *)arr);
        a->flags = SD_FRESH;
        return 0;
    }
    int best = -1;
    for (int i = 0; i < P->npool; i++) {
        if (Py_REFCNT(P->pool[i]) == 1 && P->pool_bytes[i] >= nbytes &&
            (P->pool_bytes[i] <= 2 * nbytes + 4096) && (best < 0 || P->pool_bytes[i] < P->pool_bytes[best]))
            best = i;
    }
    PyObject *buf;
    if (best >= 0) {
        buf = P->pool[best];
        Py_INCREF(buf);
    } else {
        npy_intp len = nbytes > 0 ? nbytes : 1;
        buf = PyArray_SimpleNew(1, &len, NPY_UINT8);
        if (!buf)
            return -1;
        if (P->npool < P->pool_cap) {
            Py_INCREF(buf);
            P->pool[P->npool] = buf;
            P->pool_bytes[P->npool] = len;
            P->npool++;
        }
    }
    a->obj = buf;
    a->data = PyArray_DATA((PyArrayObject *)buf);
    a->flags = SD_POOLED;
    return 0;
}

/* A NumPy array showing the value in a slot (a read-only view unless the slot owns it exactly). */
static PyObject *as_ndarray(sd_arr *a, int writeable)
{
    if (a->obj && PyArray_Check(a->obj)) {
        PyArrayObject *o = (PyArrayObject *)a->obj;
        int same = PyArray_DATA(o) == a->data && PyArray_NDIM(o) == a->ndim && PyArray_TYPE(o) == a->dtype;
        for (int d = 0; same && d < a->ndim; d++)
            same = PyArray_DIM(o, d) == a->shape[d] &&
                   (a->shape[d] < 2 || PyArray_STRIDE(o, d) == a->strides[d] * PyArray_ITEMSIZE(o));
        if (same && !(a->flags & SD_POOLED)) {
            Py_INCREF(a->obj);
            return a->obj;
        }
    }
    npy_intp dims[SD_MAXDIM], strides[SD_MAXDIM];
    int isz = itemsize_of(a->dtype);
    for (int d = 0; d < a->ndim; d++) {
        dims[d] = (npy_intp)a->shape[d];
        strides[d] = (npy_intp)(a->strides[d] * isz);
    }
    PyArray_Descr *descr = PyArray_DescrFromType(a->dtype);
    if (!descr)
        return NULL;
    PyObject *view = PyArray_NewFromDescr(&PyArray_Type, descr, a->ndim, dims, strides, a->data,
                                          NPY_ARRAY_ALIGNED | (writeable ? NPY_ARRAY_WRITEABLE : 0), NULL);
    if (!view)
        return NULL;
    if (a->obj) {
        Py_INCREF(a->obj);
        if (PyArray_SetBaseObject((PyArrayObject *)view, a->obj) < 0) {
            Py_DECREF(view);
            return NULL;
        }
    }
    return view;
}

/* Put a NumPy array (a reference the slot takes over) into a slot after checking its shape
 * against the slot's type; its dtype is the slot's, its data aligned and in native byte order.
 * A mismatch raises InputError naming input `node` (is_input) or ShapeError naming node `node`. */
static int fill_slot(Program *P, int node, int slot, PyArrayObject *arr, int is_input)
{
    sd_arr *a = &P->v[slot];
    int want = P->slot_dtype[slot], ndim = P->slot_ndim[slot];
    int isz = (int)PyArray_ITEMSIZE(arr);
    for (int d = 0; d < PyArray_NDIM(arr) && d < SD_MAXDIM; d++) {
        if (PyArray_STRIDE(arr, d) % isz) { /* strides are counted in elements */
            PyObject *copy = PyArray_NewCopy(arr, NPY_CORDER);
            Py_DECREF(arr);
            if (!copy)
                return -1;
            arr = (PyArrayObject *)copy;
            break;
        }
    }
    const int64_t *st = P->slot_static + (size_t)slot * SD_MAXDIM;
    char got[256], exp[256];
    if (PyArray_NDIM(arr) != ndim) {
        shape_text(got, sizeof got, PyArray_NDIM(arr) > SD_MAXDIM ? 0 : PyArray_NDIM(arr),
                   (const int64_t *)PyArray_DIMS(arr));
        Py_DECREF(arr);
        if (is_input)
            return fail(P, -1, InputError, "input %d (%s) expects a %d-d array, got shape %s", node,
                        PyUnicode_AsUTF8(PyList_GET_ITEM(P->in_names, node)), ndim, got);
        return fail(P, node, ShapeError, "Python code returned a %d-d array %s where a %d-d one was expected",
                    PyArray_NDIM(arr), got, ndim);
    }
    for (int d = 0; d < ndim; d++) {
        if (st[d] >= 0 && st[d] != PyArray_DIM(arr, d)) {
            shape_text(got, sizeof got, ndim, (const int64_t *)PyArray_DIMS(arr));
            int64_t e[SD_MAXDIM];
            for (int k = 0; k < ndim; k++)
                e[k] = st[k];
            shape_text(exp, sizeof exp, ndim, e);
            Py_DECREF(arr);
            if (is_input)
                return fail(P, -1, InputError, "input %d (%s) expects shape %s (-1: any), got %s (axis %d)", node,
                            PyUnicode_AsUTF8(PyList_GET_ITEM(P->in_names, node)), exp, got, d);
            return fail(P, node, ShapeError, "produced shape %s, but its type says %s", got, exp);
        }
    }
    clear_slot(a);
    a->obj = (PyObject *)arr;
    a->data = PyArray_DATA(arr);
    a->ndim = ndim;
    a->dtype = want;
    a->flags = is_input ? SD_BORROWED : 0;
    for (int d = 0; d < ndim; d++) {
        a->shape[d] = PyArray_DIM(arr, d);
        a->strides[d] = PyArray_STRIDE(arr, d) / isz;
    }
    return 0;
}

/* A value that Python code (a node's perform) computed, cast to the slot's dtype as NumPy casts,
 * copied where it is misaligned or byte-swapped. */
static int set_result(Program *P, int node, int slot, PyObject *value)
{
    int want = P->slot_dtype[slot];
    PyArrayObject *arr;
    if (PyArray_Check(value) && PyArray_TYPE((PyArrayObject *)value) == want &&
        PyArray_ISALIGNED((PyArrayObject *)value) && PyArray_ISNOTSWAPPED((PyArrayObject *)value)) {
        Py_INCREF(value);
        arr = (PyArrayObject *)value;
    } else {
        arr = (PyArrayObject *)PyArray_FROM_OTF(value, want, NPY_ARRAY_ALIGNED | NPY_ARRAY_NOTSWAPPED |
                                                              NPY_ARRAY_FORCECAST);
        if (!arr)
            return -1;
    }
    return fill_slot(P, node, slot, arr, 0);
}

/* Node `node` may write its output `out` into the buffer of input `src` (a shared variable that
 * `out` is the update of; codegen scheduled every other reader of `src` before this node). Granted
 * only when no other live slot can see that buffer (a view of it still to be read or returned, a
 * caller's array or another shared variable on the same memory), the buffer is the whole of a
 * writeable C-contiguous array, and no check will read the node's inputs after it ran. Declining
 * is always correct: the output then gets a new buffer. */
static int api_claim(sd_ctx *c, int node, int src, int out)
{
    Program *P = PROG(c);
    P->claim_out = -1;
    const sd_arr *s = &c->v[src];
    if (c->checking || !s->obj || !PyArray_Check(s->obj) || !is_c_contiguous(s) || size_of(s) == 0)
        return 0;
    PyArrayObject *o = (PyArrayObject *)s->obj;
    if (!PyArray_ISWRITEABLE(o) || PyArray_DATA(o) != s->data || PyArray_NBYTES(o) != size_of(s) * itemsize_of(s->dtype))
        return 0;
    const char *lo, *hi;
    byte_range(s, &lo, &hi);
    if (seen_by_a_slot(P, lo, hi, src, out))
        return 0;
    P->claim_out = out;
    P->claim_src = src;
    (void)node;
    return 0;
}

static void release_all(Program *P)
{
    P->claim_out = -1;
    for (int s = 0; s < P->nvars; s++) {
        P->target[s] = 0;
        if (P->v[s].obj)
            clear_slot(&P->v[s]);
    }
}

static int is_recent(Program *P, int slot, PyObject *obj)
{
    PyObject **recent = P->recent + (size_t)slot * SD_RECENT;
    for (int r = 0; r < SD_RECENT; r++)
        if (recent[r] == obj)
            return 1;
    return 0;
}

static void remember(Program *P, int slot, PyObject *obj)
{
    if ((PyArray_NBYTES((PyArrayObject *)obj) < SD_RECENT_MIN_BYTES && !P->lent[slot]) || is_recent(P, slot, obj))
        return;
    PyObject **recent = P->recent + (size_t)slot * SD_RECENT;
    Py_XDECREF(recent[SD_RECENT - 1]);
    memmove(recent + 1, recent, sizeof(PyObject *) * (SD_RECENT - 1));
    Py_INCREF(obj);
    recent[0] = obj;
}

static PyObject *program_output(Program *P, int slot, int lent)
{
    sd_arr *a = &P->v[slot];
    if (lent && P->lent[slot] && (a->flags & SD_FRESH)) { /* the caller borrows it, held or not */
        Py_INCREF(a->obj);
        remember(P, slot, a->obj);
        return a->obj;
    }
    if (a->flags & SD_INPLACE) { /* a shared variable's new value, in its own array */
        Py_INCREF(a->obj);
        return a->obj;
    }
    Py_ssize_t owners = 1 + (a->obj && is_recent(P, slot, a->obj));
    if (a->obj && PyArray_Check(a->obj) && Py_REFCNT(a->obj) == owners &&
        !(a->flags & (SD_POOLED | SD_BORROWED))) {
        PyArrayObject *o = (PyArrayObject *)a->obj;
        int same = PyArray_BASE(o) == NULL && PyArray_DATA(o) == a->data && PyArray_NDIM(o) == a->ndim &&
                   PyArray_ISWRITEABLE(o) && PyArray_IS_C_CONTIGUOUS(o);
        for (int d = 0; same && d < a->ndim; d++)
            same = PyArray_DIM(o, d) == a->shape[d] &&
                   (a->shape[d] < 2 || PyArray_STRIDE(o, d) == a->strides[d] * PyArray_ITEMSIZE(o));
        if (same) {
            Py_INCREF(a->obj);
            if (a->flags & SD_FRESH)
                remember(P, slot, a->obj);
            return a->obj;
        }
    }
    PyObject *view = as_ndarray(a, 0);
    if (!view)
        return NULL;
    PyObject *copy = PyArray_NewCopy((PyArrayObject *)view, NPY_CORDER);
    Py_DECREF(view);
    return copy;
}

#endif
