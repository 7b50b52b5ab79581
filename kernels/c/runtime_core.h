/* symdl C runtime: what every part of it shares. The `Program` object (a loaded compiled
 * function: its slots, buffer pool and tables), the exceptions it raises, the thread count, and
 * small helpers on values (`sd_arr`): sizes, strides, byte ranges, errors naming the node.
 *
 * The runtime is one CPython extension built from symdl_runtime.c, which includes each part
 * (runtime_*.h, nnet_api.h); every part includes what it uses and compiles on its own.
 */
#ifndef SYMDL_RUNTIME_CORE_H
#define SYMDL_RUNTIME_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <omp.h>
#include <stddef.h>
#include <stdlib.h>

#include "symdl_rt.h"

static PyObject *ShapeError, *InputError, *NanGuardError, *LinAlgError;
static int sd_nthreads = 1;
/* work units (elements x cost) worth a parallel loop: below about 100 us of serial work, waking a
 * second thread costs more than it gains, and far more when the cores are shared */
static int64_t sd_par_threshold = 1 << 20;

/* Native work runs without the GIL, so that other Python threads (a data loader, say) progress
 * meanwhile: only stretches that touch no Python object (no allocation, reference count or
 * exception), on the thread that called the function (never inside an OpenMP region), and only
 * when the work is large (as many units as a parallel loop), since getting the GIL back can wait
 * for another thread's switch interval. Bookkeeping between stretches holds the GIL. */
static int64_t sd_nogil_threshold = 1 << 20;
static _Thread_local int sd_gil_released;

/* The GIL released for `work` units of native work: the token for sd_restore_gil (NULL when the
 * work is small or the GIL already released). */
static PyThreadState *sd_release_gil(int64_t work)
{
    if (work < sd_nogil_threshold || sd_gil_released)
        return NULL;
    sd_gil_released = 1;
    return PyEval_SaveThread();
}

static void sd_restore_gil(PyThreadState *token)
{
    if (!token)
        return;
    PyEval_RestoreThread(token);
    sd_gil_released = 0;
}

typedef struct {
    PyObject_HEAD
    sd_ctx ctx;
    void *handle;
    int (*run)(sd_ctx *);
    int nvars, nnodes, nin, nout, nconst;
    sd_arr *v;
    double *times;
    int *in_slots, *out_slots, *const_slots;
    int *slot_dtype, *slot_ndim;
    int64_t *slot_static; /* nvars * SD_MAXDIM, -1 where unknown */
    char *is_out;
    /* Outputs the caller borrows (symdl.Out(..., borrow=True)): per output position, and per slot
     * when every position of the slot is borrowed; such a slot overwrites its last array. */
    char *out_lent, *lent;
    PyObject *const_arrays; /* list */
    PyObject *labels;       /* list of str, one per node */
    PyObject *in_names;     /* list of str */
    PyObject *callbacks;    /* list: callable or None per node */
    PyObject *checker;      /* callable(node, inputs, outputs) or None */
    int nan_guard;
    long ncalls;
    /* One call at a time: the GIL is released while native code runs, so a second thread calling
     * the same function waits on `lock`; `owner` is the thread inside (a callback of the call that
     * calls the function again would wait on itself: it raises instead). */
    PyThread_type_lock lock;
    unsigned long owner;
    /* Per input, a 0-d array of the input's dtype that Python and NumPy scalars are written into
     * (reused while nothing else holds it). */
    PyObject **scalars;
    PyObject **pool;
    Py_ssize_t *pool_bytes;
    int npool, pool_cap;
    /* Output arrays of earlier calls, per slot: reused when the caller has dropped them (only
     * this cache still refers to one), which spares the page faults of fresh large arrays. */
    PyObject **recent; /* nvars * SD_RECENT */
    /* A granted claim (api_claim): the next new value of slot claim_out takes claim_src's buffer. */
    int claim_out, claim_src;
    /* Per slot, 1 + the slot whose memory its next new value is written into (api_target: a row
     * of a loop's store), or 0. */
    int *target;
} Program;

#define SD_RECENT 2
#define SD_RECENT_MIN_BYTES 65536

#define PROG(c) ((Program *)((char *)(c) - offsetof(Program, ctx)))

static const char *dtype_name(int t)
{
    PyArray_Descr *d = PyArray_DescrFromType(t);
    if (!d)
        return "?";
    const char *n = d->typeobj->tp_name;
    Py_DECREF(d);
    return n;
}

static int itemsize_of(int t)
{
    switch (t) {
    case NPY_BOOL: case NPY_INT8: case NPY_UINT8: return 1;
    case NPY_INT16: case NPY_UINT16: case NPY_FLOAT16: return 2;
    case NPY_INT32: case NPY_UINT32: case NPY_FLOAT32: return 4;
    case NPY_INT64: case NPY_UINT64: case NPY_FLOAT64: case NPY_COMPLEX64: return 8;
    case NPY_COMPLEX128: return 16;
    default: {
        PyArray_Descr *d = PyArray_DescrFromType(t);
        int s = d ? (int)PyDataType_ELSIZE(d) : 1;
        Py_XDECREF(d);
        return s;
    }
    }
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += snprintf(buf + k, cap - k, "(");
    for (int d = 0; d < ndim && k < cap; d++)
        k += snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
}

static int fail(Program *P, int node, PyObject *type, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node >= 0 && node < PyList_GET_SIZE(P->labels))
        PyErr_Format(type, "%U: %s", PyList_GET_ITEM(P->labels, node), msg);
    else
        PyErr_SetString(type, msg);
    return -1;
}

static int64_t size_of(const sd_arr *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        n *= a->shape[d];
    return n;
}

static void set_c_strides(sd_arr *a)
{
    int64_t s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        a->strides[d] = s;
        s *= a->shape[d] > 0 ? a->shape[d] : 1;
    }
}

static int is_c_contiguous(const sd_arr *a)
{
    int64_t s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        if (a->shape[d] != 1 && a->strides[d] != s)
            return 0;
        s *= a->shape[d];
    }
    return 1;
}

/* whether `a` and `b` are the same elements in the same places: a value made where it is wanted
 * (in place, or in its row or part of a loop's store), which needs no copy there */
static int same_view(const sd_arr *a, const sd_arr *b)
{
    int same = a->data == b->data && a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++)
        same = a->shape[d] == b->shape[d] && (a->shape[d] < 2 || a->strides[d] == b->strides[d]);
    return same;
}

static void clear_slot(sd_arr *a)
{
    Py_CLEAR(a->obj);
    a->data = NULL;
    a->flags = 0;
}

/* bytes [lo, hi) that a value may touch; lo == hi when it is empty */
static void byte_range(const sd_arr *a, const char **lo, const char **hi)
{
    int64_t first = 0, last = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 0) {
            *lo = *hi = a->data;
            return;
        }
        int64_t span = (a->shape[d] - 1) * a->strides[d];
        if (span < 0)
            first += span;
        else
            last += span;
    }
    int isz = itemsize_of(a->dtype);
    *lo = a->data + first * isz;
    *hi = a->data + (last + 1) * isz;
}

/* whether a live slot other than `skip1` and `skip2` may touch bytes [lo, hi) */
static int seen_by_a_slot(Program *P, const char *lo, const char *hi, int skip1, int skip2)
{
    for (int k = 0; k < P->nvars; k++) {
        const sd_arr *a = &P->v[k];
        if (k == skip1 || k == skip2 || !a->data)
            continue;
        const char *alo, *ahi;
        byte_range(a, &alo, &ahi);
        if (alo < hi && lo < ahi)
            return 1;
    }
    return 0;
}

/* entry k of an integer vector (or the value of a 0-d one) as int64; -1 if not an integer dtype */
static int read_int(const sd_arr *a, int64_t k, int64_t *value)
{
    const char *p = a->data + k * a->strides[0] * itemsize_of(a->dtype);
    if (a->ndim == 0)
        p = a->data;
    switch (a->dtype) {
    case NPY_INT8: *value = *(const int8_t *)p; return 0;
    case NPY_INT16: *value = *(const int16_t *)p; return 0;
    case NPY_INT32: *value = *(const int32_t *)p; return 0;
    case NPY_INT64: *value = *(const int64_t *)p; return 0;
    case NPY_UINT8: case NPY_BOOL: *value = *(const uint8_t *)p; return 0;
    case NPY_UINT16: *value = *(const uint16_t *)p; return 0;
    case NPY_UINT32: *value = *(const uint32_t *)p; return 0;
    case NPY_UINT64: *value = (int64_t) * (const uint64_t *)p; return 0;
    }
    return -1;
}

#endif
