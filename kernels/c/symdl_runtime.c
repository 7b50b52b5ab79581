/* symdl's C runtime: a CPython extension compiled once per machine and cached.
 *
 * It owns everything that touches Python or NumPy, so that the code generated for each
 * function graph stays small and compiles fast:
 *   - `Program`: a loaded compiled function. Calling it checks the inputs, fills the slots,
 *     runs the generated driver `sd_run` and hands back fresh output arrays.
 *   - the API table the driver calls: broadcasting elementwise iteration (parallel with
 *     OpenMP), reductions, BLAS products, views, joins, and the fallback to Python.
 *   - a pool of intermediate buffers, reused across nodes and calls when their values are dead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <dlfcn.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>

#include "sgemm_avx512.h"
#include "symdl_math.h"
#include "symdl_rt.h"

/* scipy-openblas32 exports its symbols with the prefix scipy_ */
typedef enum { SdRowMajor = 101 } SdOrder;
typedef enum { SdNoTrans = 111, SdTrans = 112 } SdTrans_;
void scipy_cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                       int);
void scipy_cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                       double *, int);
void scipy_cblas_sgemv(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
void scipy_cblas_dgemv(int, int, int, int, double, const double *, int, const double *, int, double, double *, int);
float scipy_cblas_sdot(int, const float *, int, const float *, int);
double scipy_cblas_ddot(int, const double *, int, const double *, int);
void scipy_openblas_set_num_threads(int);
char *scipy_openblas_get_config(void);

static PyObject *ShapeError, *InputError, *NanGuardError;
static int sd_nthreads = 1;
/* work units (elements x cost) worth a parallel loop: below about 100 us of serial work, waking a
 * second thread costs more than it gains, and far more when the cores are shared */
static int64_t sd_par_threshold = 1 << 20;

/* ------------------------------------------------------------------ Program */
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
    int busy;
    PyObject **pool;
    Py_ssize_t *pool_bytes;
    int npool, pool_cap;
    /* Output arrays of earlier calls, per slot: reused when the caller has dropped them (only
     * this cache still refers to one), which spares the page faults of fresh large arrays. */
    PyObject **recent; /* nvars * SD_RECENT */
    /* A granted claim (api_claim): the next new value of slot claim_out takes claim_src's buffer. */
    int claim_out, claim_src;
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

static void clear_slot(sd_arr *a)
{
    Py_CLEAR(a->obj);
    a->data = NULL;
    a->flags = 0;
}

static void api_release(sd_ctx *c, int slot)
{
    clear_slot(&c->v[slot]);
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

/* Memory for a new value of `slot`: outputs get a fresh NumPy array that the caller will own;
 * intermediates come from the pool when a dead buffer of a fitting size is there. */
static int new_value(Program *P, int node, int slot, int dtype, int ndim, const int64_t *shape)
{
    sd_arr *a = &P->v[slot];
    int isz = itemsize_of(dtype);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return fail(P, node, ShapeError, "negative dimension %lld", (long long)shape[d]);
        if (shape[d] && n > INT64_MAX / 8 / shape[d])
            return fail(P, node, PyExc_MemoryError, "array too large");
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

/* Put a NumPy value into a slot, after checking it against the slot's type. */
static int set_from_object(Program *P, int node, int slot, PyObject *value, int is_input)
{
    sd_arr *a = &P->v[slot];
    int want = P->slot_dtype[slot], ndim = P->slot_ndim[slot];
    PyArrayObject *arr;
    if (PyArray_Check(value) && PyArray_TYPE((PyArrayObject *)value) == want &&
        PyArray_ISALIGNED((PyArrayObject *)value)) {
        Py_INCREF(value);
        arr = (PyArrayObject *)value;
    } else if (is_input) {
        const char *name = PyUnicode_AsUTF8(PyList_GET_ITEM(P->in_names, node));
        if (!PyArray_Check(value))
            return fail(P, -1, InputError, "input %d (%s) must be a NumPy array of %s, got %s", node, name,
                        dtype_name(want), Py_TYPE(value)->tp_name);
        if (PyArray_TYPE((PyArrayObject *)value) != want)
            return fail(P, -1, InputError, "input %d (%s) expects dtype %s, got %s", node, name, dtype_name(want),
                        dtype_name(PyArray_TYPE((PyArrayObject *)value)));
        arr = (PyArrayObject *)PyArray_FROM_OTF(value, want, NPY_ARRAY_ALIGNED);
        if (!arr)
            return -1;
    } else {
        arr = (PyArrayObject *)PyArray_FROM_OTF(value, want, NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
        if (!arr)
            return -1;
    }
    int isz = (int)PyArray_ITEMSIZE(arr);
    for (int d = 0; d < PyArray_NDIM(arr) && d < SD_MAXDIM; d++) {
        if (PyArray_STRIDE(arr, d) % isz) {
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

/* ------------------------------------------------------------------ elementwise iteration */
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

static void iter_range(const sd_iter *it, sd_kernel kernel, int64_t start, int64_t end)
{
    int D = it->D, nops = it->nops;
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

static void iter_run(const sd_iter *it, sd_kernel kernel, int cost)
{
    int64_t total = 1;
    for (int d = 0; d < it->D; d++)
        total *= it->shape[d];
    if (total == 0)
        return;
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
                iter_range(it, kernel, lo, hi);
        }
    } else {
        iter_range(it, kernel, 0, total);
    }
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
    iter_run(&it, kernel, cost);
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

/* dst[...] = src broadcast to dst's shape (same dtype) */
static void copy_into(const sd_arr *dst, const sd_arr *src)
{
    sd_iter it;
    it.nops = 2;
    it.D = dst->ndim;
    memcpy(it.shape, dst->shape, sizeof(int64_t) * dst->ndim);
    iter_operand(&it, 0, src);
    iter_operand(&it, 1, dst);
    coalesce(&it);
    sd_kernel k;
    switch (itemsize_of(dst->dtype)) {
    case 1: k = copy_1; break;
    case 2: k = copy_2; break;
    case 4: k = copy_4; break;
    case 16: k = copy_16; break;
    default: k = copy_8; break;
    }
    iter_run(&it, k, 1);
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

/* ------------------------------------------------------------------ reductions */
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
    int nt = sd_nthreads;
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
            Py_XDECREF(tmp);
            PyErr_NoMemory();
            return -1;
        }
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
    } else {
        fn(D, n, xs, os, x->data, acc, 0, n[0]);
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
        *(int64_t *)c->v[out].data = fn(src->data, n, 1);
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
    for (int64_t k = 0; k < total; k++) {
        int64_t rem = k, off = 0;
        for (int d = ni - 1; d >= 0; d--) {
            off += (rem % ishape[d]) * istr[d];
            rem /= ishape[d];
        }
        o[k] = fn(x->data + off * isz, n, s);
    }
    return 0;
}

/* ------------------------------------------------------------------ BLAS */
/* a matrix view usable by BLAS: row-major with unit column stride (trans=0), or its transpose */
static int blas_matrix(const sd_arr *a, int64_t rs, int64_t cs, int64_t rows, int64_t cols, int *trans, int *ld)
{
    if (cs == 1 && (rs >= (cols > 1 ? cols : 1) || rows <= 1)) {
        *trans = 0;
        *ld = (int)(rows <= 1 ? (cols > 1 ? cols : 1) : rs);
        return 1;
    }
    if (rs == 1 && (cs >= (rows > 1 ? rows : 1) || cols <= 1)) {
        *trans = 1;
        *ld = (int)(cols <= 1 ? (rows > 1 ? rows : 1) : cs);
        return 1;
    }
    (void)a;
    return 0;
}

static void blas_gemm(int dtype, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const char *a, int lda,
                      const char *b, int ldb, double beta, char *c, int ldc)
{
    /* our AVX-512 kernel where the CPU has it: 1.15-1.35x OpenBLAS's sgemm on the MLP's products
     * (benchmarks/RESULTS.md); it declines (-1) elsewhere and OpenBLAS runs */
    if (dtype == NPY_FLOAT32 && sd_sgemm(ta, tb, M, N, K, (float)alpha, (const float *)a, lda, (const float *)b, ldb,
                                         (float)beta, (float *)c, ldc) == 0)
        return;
    if (dtype == NPY_FLOAT32)
        scipy_cblas_sgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K,
                          (float)alpha, (const float *)a, lda, (const float *)b, ldb, (float)beta, (float *)c, ldc);
    else
        scipy_cblas_dgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K,
                          alpha, (const double *)a, lda, (const double *)b, ldb, beta, (double *)c, ldc);
}

/* C = alpha A B + beta C, row-major. Large products are split into blocks of rows (or columns)
 * computed by our OpenMP threads, each calling the BLAS single-threaded: OpenBLAS's own thread
 * pool synchronizes many times per call and collapses when the cores are shared (measured: 60 ms
 * against 3 ms for a 128x784x512 sgemm at load 5), and it would compete with the OpenMP loops. */
static void gemm_par(int dtype, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const char *a, int lda,
                     const char *b, int ldb, double beta, char *c, int ldc)
{
    int nt = sd_nthreads;
    int isz = itemsize_of(dtype);
    if (nt <= 1 || 2.0 * (double)M * (double)N * (double)K < 4e6 || (M < 2 * nt && N < 2 * nt)) {
        blas_gemm(dtype, ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int by_rows = M >= N;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t total = by_rows ? M : N, unit = 16;
        int64_t lo = (total * t / T) / unit * unit, hi = t == T - 1 ? total : (total * (t + 1) / T) / unit * unit;
        if (lo < hi) {
            if (by_rows)
                blas_gemm(dtype, ta, tb, hi - lo, N, K, alpha, a + (ta ? lo : lo * (int64_t)lda) * isz, lda, b, ldb,
                          beta, c + lo * (int64_t)ldc * isz, ldc);
            else
                blas_gemm(dtype, ta, tb, M, hi - lo, K, alpha, a, lda, b + (tb ? lo * (int64_t)ldb : lo) * isz, ldb,
                          beta, c + lo * isz, ldc);
        }
    }
}

static void gemm(int dtype, int64_t M, int64_t N, int64_t K, const char *a, int ta, int lda, const char *b, int tb,
                 int ldb, char *c, int ldc)
{
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        memset(c, 0, (size_t)(M * N * itemsize_of(dtype)));
        return;
    }
    gemm_par(dtype, ta, tb, M, N, K, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

static int api_dot(sd_ctx *c, int node, int ia, int ib, int out)
{
    Program *P = PROG(c);
    sd_arr *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C dot needs float32 or float64");
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[0];
    if (ka != kb) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "shapes %s and %s are not aligned: %lld (dim %d) != %lld (dim 0)", sa, sb,
                    (long long)ka, a->ndim - 1, (long long)kb);
    }
    if (ka > INT32_MAX || size_of(a) > INT32_MAX || size_of(b) > INT32_MAX)
        return fail(P, node, PyExc_ValueError, "dimensions too large for 32-bit BLAS");
    int64_t shape[2];
    int nd = 0;
    if (a->ndim == 2)
        shape[nd++] = a->shape[0];
    if (b->ndim == 2)
        shape[nd++] = b->shape[1];
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0;
    /* 2-d operands BLAS cannot stride through, and vectors with non-positive strides, are copied */
    int ta = 0, tb = 0, lda = 1, ldb = 1;
    int64_t M = a->ndim == 2 ? a->shape[0] : 1, N = b->ndim == 2 ? b->shape[1] : 1, K = ka;
    if (a->ndim == 2 ? !blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda)
                     : (a->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        if (a->ndim == 2)
            blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda);
    }
    if (b->ndim == 2 ? !blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb)
                     : (b->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        if (b->ndim == 2)
            blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb);
    }
    int rc = new_value(P, node, out, dtype, nd, shape);
    if (rc == 0) {
        char *o = c->v[out].data;
        int sgl = dtype == NPY_FLOAT32;
        int64_t ia_ = a->ndim == 1 ? (K > 1 ? a->strides[0] : 1) : 0;
        int64_t ib_ = b->ndim == 1 ? (K > 1 ? b->strides[0] : 1) : 0;
        if (a->ndim == 2 && b->ndim == 2) {
            gemm(dtype, M, N, K, a->data, ta, lda, b->data, tb, ldb, o, (int)(N > 1 ? N : 1));
        } else if (a->ndim == 1 && b->ndim == 1) {
            if (sgl)
                *(float *)o = K ? scipy_cblas_sdot((int)K, (const float *)a->data, (int)ia_,
                                                   (const float *)b->data, (int)ib_)
                                : 0.0f;
            else
                *(double *)o = K ? scipy_cblas_ddot((int)K, (const double *)a->data, (int)ia_,
                                                    (const double *)b->data, (int)ib_)
                                 : 0.0;
        } else if (a->ndim == 2) { /* (M,K) . (K,) */
            if (M > 0) {
                if (K == 0)
                    memset(o, 0, (size_t)(M * itemsize_of(dtype)));
                else if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M,
                                      ta ? (int)M : (int)K, 1.0f, (const float *)a->data, lda,
                                      (const float *)b->data, (int)ib_, 0.0f, (float *)o, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M,
                                      ta ? (int)M : (int)K, 1.0, (const double *)a->data, lda,
                                      (const double *)b->data, (int)ib_, 0.0, (double *)o, 1);
            }
        } else { /* (K,) . (K,N) = (N,K)-matrix . vector */
            if (N > 0) {
                if (K == 0)
                    memset(o, 0, (size_t)(N * itemsize_of(dtype)));
                else if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, tb ? SdNoTrans : SdTrans, tb ? (int)N : (int)K,
                                      tb ? (int)K : (int)N, 1.0f, (const float *)b->data, ldb,
                                      (const float *)a->data, (int)ia_, 0.0f, (float *)o, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, tb ? SdNoTrans : SdTrans, tb ? (int)N : (int)K,
                                      tb ? (int)K : (int)N, 1.0, (const double *)b->data, ldb,
                                      (const double *)a->data, (int)ia_, 0.0, (double *)o, 1);
            }
        }
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
}

static int api_matmul(sd_ctx *c, int node, int ia, int ib, int out)
{
    Program *P = PROG(c);
    sd_arr *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C matmul needs float32 or float64");
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != K) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "matmul: shapes %s and %s do not fit (%lld vs %lld)", sa, sb,
                    (long long)K, (long long)b->shape[b->ndim - 2]);
    }
    int nb = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
    sd_arr ba = *a, bb = *b; /* batch parts */
    ba.ndim = a->ndim - 2;
    bb.ndim = b->ndim - 2;
    sd_arr *pair[2] = {&ba, &bb};
    int64_t shape[SD_MAXDIM];
    if (broadcast_shapes(P, node, 2, pair, nb, shape))
        return -1;
    shape[nb] = M;
    shape[nb + 1] = N;
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0, ta = 0, tb = 0, lda = 1, ldb = 1;
    if (!blas_matrix(a, a->strides[a->ndim - 2], a->strides[a->ndim - 1], M, K, &ta, &lda)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        blas_matrix(a, a->strides[a->ndim - 2], a->strides[a->ndim - 1], M, K, &ta, &lda);
    }
    if (!blas_matrix(b, b->strides[b->ndim - 2], b->strides[b->ndim - 1], K, N, &tb, &ldb)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        blas_matrix(b, b->strides[b->ndim - 2], b->strides[b->ndim - 1], K, N, &tb, &ldb);
    }
    int rc = new_value(P, node, out, dtype, nb + 2, shape);
    if (rc == 0) {
        sd_arr *o = &c->v[out];
        int64_t nbatch = 1;
        for (int d = 0; d < nb; d++)
            nbatch *= shape[d];
        int isz = itemsize_of(dtype);
        for (int64_t k = 0; k < nbatch; k++) {
            int64_t rem = k, oa = 0, ob = 0;
            for (int d = nb - 1; d >= 0; d--) {
                int64_t i = rem % shape[d];
                rem /= shape[d];
                int da = d - (nb - (a->ndim - 2)), db = d - (nb - (b->ndim - 2));
                if (da >= 0 && a->shape[da] != 1)
                    oa += i * a->strides[da];
                if (db >= 0 && b->shape[db] != 1)
                    ob += i * b->strides[db];
            }
            gemm(dtype, M, N, K, a->data + oa * isz, ta, lda, b->data + ob * isz, tb, ldb,
                 o->data + k * M * N * isz, (int)(N > 1 ? N : 1));
        }
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
}

/* out = beta * C + alpha * dot(A, B): C broadcast into the output, then one BLAS call with beta */
static int api_gemm(sd_ctx *c, int node, int ic, int ialpha, int ia, int ib, int ibeta, int out)
{
    Program *P = PROG(c);
    sd_arr *C = &c->v[ic], *a = &c->v[ia], *b = &c->v[ib];
    int dtype = a->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || b->dtype != dtype || C->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "C gemm needs one float dtype");
    double alpha = dtype == NPY_FLOAT32 ? *(float *)c->v[ialpha].data : *(double *)c->v[ialpha].data;
    double beta = dtype == NPY_FLOAT32 ? *(float *)c->v[ibeta].data : *(double *)c->v[ibeta].data;
    int64_t M = a->shape[0], K = a->shape[1], N = b->ndim == 2 ? b->shape[1] : 1;
    if (b->shape[0] != K) {
        char sa[256], sb[256];
        shape_text(sa, sizeof sa, a->ndim, a->shape);
        shape_text(sb, sizeof sb, b->ndim, b->shape);
        return fail(P, node, ShapeError, "shapes %s and %s are not aligned: %lld (dim 1) != %lld (dim 0)", sa, sb,
                    (long long)K, (long long)b->shape[0]);
    }
    if (K > INT32_MAX || size_of(a) > INT32_MAX || size_of(b) > INT32_MAX)
        return fail(P, node, PyExc_ValueError, "dimensions too large for 32-bit BLAS");
    int nd = b->ndim == 2 ? 2 : 1;
    int64_t shape[2] = {M, N};
    /* the output shape is the product's; C must broadcast to it */
    sd_arr prod = *a;
    prod.ndim = nd;
    prod.shape[0] = M;
    prod.shape[1] = N;
    sd_arr *pair[2] = {&prod, C};
    int64_t bshape[SD_MAXDIM];
    if (broadcast_shapes(P, node, 2, pair, nd, bshape))
        return -1;
    if (bshape[0] != M || (nd == 2 && bshape[1] != N)) {
        char s0[256], s1[256];
        shape_text(s0, sizeof s0, C->ndim, C->shape);
        shape_text(s1, sizeof s1, nd, shape);
        return fail(P, node, ShapeError, "C of shape %s does not fit the product of shape %s", s0, s1);
    }
    sd_arr ta_, tb_;
    int own_a = 0, own_b = 0, ta = 0, tb = 0, lda = 1, ldb = 1;
    if (!blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda)) {
        if (contiguous_copy(&ta_, a))
            return -1;
        a = &ta_;
        own_a = 1;
        blas_matrix(a, a->strides[0], a->strides[1], M, K, &ta, &lda);
    }
    if (b->ndim == 2 ? !blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb) : (b->strides[0] < 1 && K > 1)) {
        if (contiguous_copy(&tb_, b)) {
            if (own_a)
                Py_DECREF(ta_.obj);
            return -1;
        }
        b = &tb_;
        own_b = 1;
        if (b->ndim == 2)
            blas_matrix(b, b->strides[0], b->strides[1], K, N, &tb, &ldb);
    }
    sd_arr Cv = *C;
    int rc = new_value(P, node, out, dtype, nd, shape);
    if (rc == 0) {
        sd_arr *o = &c->v[out];
        int same = o->data == Cv.data && Cv.ndim == nd;
        for (int d = 0; same && d < nd; d++)
            same = Cv.shape[d] == o->shape[d] && (o->shape[d] < 2 || Cv.strides[d] == o->strides[d]);
        if (!same) /* in place (api_claim), C already is the output's buffer */
            copy_into(o, &Cv);
        int sgl = dtype == NPY_FLOAT32;
        if (M > 0 && N > 0) {
            if (K == 0) {
                if (beta != 1.0) { /* the product is zero: scale C */
                    int64_t n = M * N;
                    for (int64_t i = 0; i < n; i++) {
                        if (sgl)
                            ((float *)o->data)[i] *= (float)beta;
                        else
                            ((double *)o->data)[i] *= beta;
                    }
                }
            } else if (nd == 2) {
                gemm_par(dtype, ta, tb, M, N, K, alpha, a->data, lda, b->data, ldb, beta, o->data, (int)N);
            } else {
                int inc = (int)(K > 1 ? b->strides[0] : 1);
                if (sgl)
                    scipy_cblas_sgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M, ta ? (int)M : (int)K,
                                      (float)alpha, (const float *)a->data, lda, (const float *)b->data, inc,
                                      (float)beta, (float *)o->data, 1);
                else
                    scipy_cblas_dgemv(SdRowMajor, ta ? SdTrans : SdNoTrans, ta ? (int)K : (int)M, ta ? (int)M : (int)K,
                                      alpha, (const double *)a->data, lda, (const double *)b->data, inc, beta,
                                      (double *)o->data, 1);
            }
        }
    }
    if (own_a)
        Py_DECREF(ta_.obj);
    if (own_b)
        Py_DECREF(tb_.obj);
    return rc;
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
    int nt = sd_nthreads;
    if (total == 0) {
    } else if (nt > 1 && total * (int64_t)cost >= sd_par_threshold && it.shape[0] >= 2 && it.st[0][nin] != 0) {
        /* outer dim kept: threads own disjoint outputs */
        int64_t inner = total / it.shape[0];
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            int64_t lo = it.shape[0] * t / T, hi = it.shape[0] * (t + 1) / T;
            if (lo < hi)
                iter_range(&it, kernel, lo * inner, hi * inner);
        }
    } else if (nt > 1 && total * (int64_t)cost >= sd_par_threshold && outsize <= 65536) {
        /* per-thread partial accumulators, combined in order */
        char *part = malloc((size_t)outsize * isz * nt);
        if (!part) {
            Py_XDECREF(tmp);
            PyErr_NoMemory();
            return -1;
        }
        for (int t = 0; t < nt; t++)
            fill_identity(part + (size_t)t * outsize * isz, outsize, kind, acc_dtype);
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            sd_iter mine = it;
            mine.base[nin] = part + (size_t)t * outsize * isz;
            int64_t lo = total * t / T, hi = total * (t + 1) / T;
            if (lo < hi)
                iter_range(&mine, kernel, lo, hi);
        }
        int dummy;
        red_fn combine = pick_reducer(kind, acc_dtype, &dummy);
        int64_t nn[1] = {outsize}, unit[1] = {1};
        for (int t = 0; t < nt; t++)
            combine(1, nn, unit, unit, part + (size_t)t * outsize * isz, acc, 0, outsize);
        free(part);
    } else {
        iter_range(&it, kernel, 0, total);
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

/* ------------------------------------------------------------------ softmax family */
static int read_int(const sd_arr *a, int64_t k, int64_t *value);

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
    (void)isz;
    return 0;
}

/* ------------------------------------------------------------------ views and shapes */
static void make_view(sd_arr *out, const sd_arr *in)
{
    clear_slot(out);
    out->obj = in->obj;
    Py_XINCREF(out->obj);
    out->data = in->data;
    out->dtype = in->dtype;
    out->flags = in->flags & (SD_BORROWED | SD_POOLED);
}

static int api_dimshuffle(sd_ctx *c, int node, int in, int out, int n, const int *order)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    char used[SD_MAXDIM] = {0};
    for (int k = 0; k < n; k++)
        if (order[k] >= 0)
            used[order[k]] = 1;
    for (int d = 0; d < x->ndim; d++)
        if (!used[d] && x->shape[d] != 1)
            return fail(P, node, ShapeError, "axis %d has size %lld, not 1, and cannot be dropped", d,
                        (long long)x->shape[d]);
    sd_arr tmp = *x;
    sd_arr *o = &c->v[out];
    make_view(o, &tmp);
    o->ndim = n;
    for (int k = 0; k < n; k++) {
        o->shape[k] = order[k] >= 0 ? tmp.shape[order[k]] : 1;
        o->strides[k] = order[k] >= 0 ? tmp.strides[order[k]] : 0;
    }
    return 0;
}

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

static int api_reshape(sd_ctx *c, int node, int in, int shp, int out, int ndim)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in], *s = &c->v[shp];
    if (s->ndim != 1 || s->shape[0] != ndim)
        return fail(P, node, ShapeError, "the shape vector has %lld entries, expected %d",
                    (long long)(s->ndim ? s->shape[0] : 0), ndim);
    int64_t shape[SD_MAXDIM], known = 1, total = size_of(x);
    int unknown = -1;
    for (int d = 0; d < ndim; d++) {
        if (read_int(s, d, &shape[d]))
            return fail(P, node, PyExc_TypeError, "shape entries must be integers");
        if (shape[d] == -1) {
            if (unknown >= 0)
                return fail(P, node, ShapeError, "can only specify one unknown dimension");
            unknown = d;
        } else if (shape[d] < 0) {
            return fail(P, node, ShapeError, "negative dimension %lld", (long long)shape[d]);
        } else {
            known *= shape[d];
        }
    }
    if (unknown >= 0 && known != 0 && total % known == 0)
        shape[unknown] = total / known;
    else if (unknown >= 0)
        known = -1;
    if ((unknown < 0 && known != total) || known < 0) {
        char a[256], b[256];
        shape_text(a, sizeof a, x->ndim, x->shape);
        shape_text(b, sizeof b, ndim, shape);
        return fail(P, node, ShapeError, "cannot reshape an array of shape %s to %s", a, b);
    }
    sd_arr tmp = *x;
    sd_arr *o = &c->v[out];
    if (is_c_contiguous(&tmp)) {
        make_view(o, &tmp);
    } else {
        if (new_value(P, node, out, tmp.dtype, tmp.ndim, tmp.shape))
            return -1;
        copy_into(o, &tmp);
    }
    o->dtype = tmp.dtype;
    o->ndim = ndim;
    memcpy(o->shape, shape, sizeof(int64_t) * ndim);
    set_c_strides(o);
    return 0;
}

static int api_shape(sd_ctx *c, int node, int in, int out)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    int64_t n = x->ndim;
    int nd = x->ndim;
    int64_t shp[SD_MAXDIM];
    memcpy(shp, x->shape, sizeof(int64_t) * nd);
    if (new_value(P, node, out, NPY_INT64, 1, &n))
        return -1;
    memcpy(c->v[out].data, shp, sizeof(int64_t) * nd);
    return 0;
}

static int api_alloc(sd_ctx *c, int node, int value, int ndims, const int *dims, int out)
{
    Program *P = PROG(c);
    int64_t shape[SD_MAXDIM];
    for (int d = 0; d < ndims; d++) {
        if (read_int(&c->v[dims[d]], 0, &shape[d]))
            return fail(P, node, PyExc_TypeError, "shape entries must be integers");
        if (shape[d] < 0)
            return fail(P, node, ShapeError, "negative dimension %lld", (long long)shape[d]);
    }
    sd_arr *x = &c->v[value];
    int off = ndims - x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        if (off < 0 || (x->shape[d] != 1 && x->shape[d] != shape[off + d])) {
            char a[256], b[256];
            shape_text(a, sizeof a, x->ndim, x->shape);
            shape_text(b, sizeof b, ndims, shape);
            return fail(P, node, ShapeError, "value of shape %s cannot fill shape %s", a, b);
        }
    }
    if (new_value(P, node, out, x->dtype, ndims, shape))
        return -1;
    copy_into(&c->v[out], &c->v[value]);
    return 0;
}

static int api_subtensor(sd_ctx *c, int node, int in, int out, int ne, const int64_t *e, const int *args)
{
    Program *P = PROG(c);
    sd_arr *x = &c->v[in];
    int64_t shape[SD_MAXDIM], strides[SD_MAXDIM], offset = 0;
    int nd = 0, axis = 0;
    for (int k = 0; k < ne; k++) {
        int64_t kind = e[4 * k], val[3];
        for (int j = 0; j < 3; j++) {
            int64_t raw = e[4 * k + 1 + j];
            if (raw != SD_NONE && (raw & SD_ARG) && raw > 0) {
                if (read_int(&c->v[args[raw & ~SD_ARG]], 0, &val[j]))
                    return fail(P, node, PyExc_TypeError, "indices must be integers");
            } else {
                val[j] = raw;
            }
        }
        if (kind == SD_IDX_NEW) {
            if (nd >= SD_MAXDIM)
                return fail(P, node, PyExc_ValueError, "too many dimensions");
            shape[nd] = 1;
            strides[nd++] = 0;
            continue;
        }
        if (axis >= x->ndim)
            return fail(P, node, PyExc_IndexError, "too many indices");
        int64_t dim = x->shape[axis], st = x->strides[axis];
        if (kind == SD_IDX_INT) {
            int64_t i = val[0];
            if (i < -dim || i >= dim)
                return fail(P, node, PyExc_IndexError, "index %lld is out of bounds for axis %d with size %lld",
                            (long long)i, axis, (long long)dim);
            if (i < 0)
                i += dim;
            offset += i * st;
            axis++;
            continue;
        }
        int64_t step = val[2] == SD_NONE ? 1 : val[2];
        if (step == 0)
            return fail(P, node, PyExc_ValueError, "slice step cannot be zero");
        int64_t start, stop;
        if (val[0] == SD_NONE)
            start = step < 0 ? dim - 1 : 0;
        else {
            start = val[0];
            if (start < 0) {
                start += dim;
                if (start < 0)
                    start = step < 0 ? -1 : 0;
            } else if (start >= dim)
                start = step < 0 ? dim - 1 : dim;
        }
        if (val[1] == SD_NONE)
            stop = step < 0 ? -1 : dim;
        else {
            stop = val[1];
            if (stop < 0) {
                stop += dim;
                if (stop < 0)
                    stop = step < 0 ? -1 : 0;
            } else if (stop >= dim)
                stop = step < 0 ? dim - 1 : dim;
        }
        int64_t len = 0;
        if (step < 0) {
            if (stop < start)
                len = (start - stop - 1) / (-step) + 1;
        } else if (start < stop) {
            len = (stop - start - 1) / step + 1;
        }
        if (len > 0)
            offset += start * st;
        shape[nd] = len;
        strides[nd++] = st * step;
        axis++;
    }
    for (; axis < x->ndim; axis++) {
        shape[nd] = x->shape[axis];
        strides[nd++] = x->strides[axis];
    }
    sd_arr tmp = *x;
    sd_arr *o = &c->v[out];
    make_view(o, &tmp);
    o->data = tmp.data + offset * itemsize_of(tmp.dtype);
    o->ndim = nd;
    memcpy(o->shape, shape, sizeof(int64_t) * nd);
    memcpy(o->strides, strides, sizeof(int64_t) * nd);
    return 0;
}

static int api_join(sd_ctx *c, int node, int axis, int n, const int *ins, int out)
{
    Program *P = PROG(c);
    sd_arr *first = &c->v[ins[0]];
    int64_t shape[SD_MAXDIM];
    int nd = first->ndim;
    memcpy(shape, first->shape, sizeof(int64_t) * nd);
    shape[axis] = 0;
    for (int i = 0; i < n; i++) {
        sd_arr *a = &c->v[ins[i]];
        for (int d = 0; d < nd; d++) {
            if (d != axis && a->shape[d] != first->shape[d]) {
                char s0[256], s1[256];
                shape_text(s0, sizeof s0, nd, first->shape);
                shape_text(s1, sizeof s1, nd, a->shape);
                return fail(P, node, ShapeError,
                            "all the input array dimensions except for the concatenation axis must match exactly: "
                            "%s and %s differ on axis %d",
                            s0, s1, d);
            }
        }
        shape[axis] += a->shape[axis];
    }
    if (new_value(P, node, out, first->dtype, nd, shape))
        return -1;
    sd_arr *o = &c->v[out];
    int64_t pos = 0;
    int isz = itemsize_of(o->dtype);
    for (int i = 0; i < n; i++) {
        sd_arr *a = &c->v[ins[i]];
        sd_arr part = *o;
        part.obj = NULL;
        part.shape[axis] = a->shape[axis];
        part.data = o->data + pos * o->strides[axis] * isz;
        pos += a->shape[axis];
        copy_into(&part, a);
    }
    return 0;
}

static int api_reduce_to_shape(sd_ctx *c, int node, int in, int shp, int out)
{
    Program *P = PROG(c);
    sd_arr *g = &c->v[in], *s = &c->v[shp];
    int nd = s->ndim ? (int)s->shape[0] : 0;
    int64_t target[SD_MAXDIM];
    for (int d = 0; d < nd; d++)
        if (read_int(s, d, &target[d]))
            return fail(P, node, PyExc_TypeError, "shape entries must be integers");
    int lead = g->ndim - nd;
    if (lead < 0)
        return fail(P, node, ShapeError, "cannot reduce a %d-d gradient to %d dimensions", g->ndim, nd);
    char mask[SD_MAXDIM] = {0};
    int any = lead > 0;
    for (int d = 0; d < lead; d++)
        mask[d] = 1;
    for (int d = 0; d < nd; d++) {
        int64_t gd = g->shape[lead + d];
        if (target[d] == gd)
            continue;
        if (target[d] == 1) {
            mask[lead + d] = 1;
            any = 1;
            continue;
        }
        char a[256], b[256];
        shape_text(a, sizeof a, g->ndim, g->shape);
        shape_text(b, sizeof b, nd, target);
        return fail(P, node, ShapeError, "cannot sum a gradient of shape %s to shape %s", a, b);
    }
    if (!any) {
        sd_arr tmp = *g;
        make_view(&c->v[out], &tmp);
        sd_arr *o = &c->v[out];
        o->ndim = nd;
        memcpy(o->shape, tmp.shape + lead, sizeof(int64_t) * nd);
        memcpy(o->strides, tmp.strides + lead, sizeof(int64_t) * nd);
        return 0;
    }
    sd_arr src = *g;
    if (new_value(P, node, out, g->dtype, nd, target))
        return -1;
    sd_arr *o = &c->v[out];
    int64_t ostride[SD_MAXDIM];
    for (int d = 0; d < g->ndim; d++)
        ostride[d] = d < lead ? 0 : o->strides[d - lead];
    return reduce_into(P, node, SD_SUM, &src, mask, o, ostride);
}

/* ------------------------------------------------------------------ Python fallback and checks */
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
        if (set_from_object(P, node, outs[o], PySequence_Fast_GET_ITEM(seq, o), 0)) {
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

static int api_arange(sd_ctx *c, int node, int istart, int istop, int istep, int out)
{
    Program *P = PROG(c);
    int64_t start, stop, step;
    if (read_int(&c->v[istart], 0, &start) || read_int(&c->v[istop], 0, &stop) || read_int(&c->v[istep], 0, &step))
        return fail(P, node, PyExc_TypeError, "arange takes integer bounds");
    if (step == 0)
        return fail(P, node, PyExc_ValueError, "arange: step must not be zero");
    /* NumPy's length: ceil((stop - start) / step), at least 0, without overflowing int64 */
    int64_t n = 0;
    if (step > 0 && stop > start)
        n = (int64_t)(((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step) + 1;
    else if (step < 0 && stop < start)
        n = (int64_t)(((uint64_t)start - (uint64_t)stop - 1) / ((uint64_t)0 - (uint64_t)step)) + 1;
    int dtype = c->v[istart].dtype;
    if (new_value(P, node, out, dtype, 1, &n))
        return -1;
    char *o = c->v[out].data;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = start + i * step;
        switch (dtype) {
        case NPY_INT8: ((int8_t *)o)[i] = (int8_t)v; break;
        case NPY_UINT8: ((uint8_t *)o)[i] = (uint8_t)v; break;
        case NPY_INT16: ((int16_t *)o)[i] = (int16_t)v; break;
        case NPY_UINT16: ((uint16_t *)o)[i] = (uint16_t)v; break;
        case NPY_INT32: ((int32_t *)o)[i] = (int32_t)v; break;
        case NPY_UINT32: ((uint32_t *)o)[i] = (uint32_t)v; break;
        default: ((int64_t *)o)[i] = v; break;
        }
    }
    return 0;
}

#include "nnet_api.h"

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

static const sd_api the_api = {
    api_elemwise, api_reduce, api_argreduce, api_dot, api_matmul, api_dimshuffle, api_reshape,
    api_shape, api_alloc, api_subtensor, api_join, api_reduce_to_shape, api_py, api_check, api_release,
    api_gemm, api_elemwise_reduce, api_softmax, api_conv2d, api_pool2d, api_arange, api_claim,
};

/* ------------------------------------------------------------------ Program type */
static void release_all(Program *P)
{
    P->claim_out = -1;
    for (int s = 0; s < P->nvars; s++)
        if (P->v[s].obj)
            clear_slot(&P->v[s]);
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

static PyObject *program_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Program *P = (Program *)self;
    PyObject *values;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "a compiled function takes one list of values");
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "a compiled function takes one list of values");
        return NULL;
    }
    values = PyTuple_GET_ITEM(args, 0);
    PyObject *seq = PySequence_Fast(values, "a compiled function takes a list of values");
    if (!seq)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != P->nin) {
        PyErr_Format(InputError, "expected %d values (inputs then shared variables), got %zd", P->nin,
                     PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return NULL;
    }
    if (P->busy) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_RuntimeError, "a compiled function was called again while it runs");
        return NULL;
    }
    P->busy = 1;
    PyObject *result = NULL;
    for (int i = 0; i < P->nin; i++)
        if (set_from_object(P, i, P->in_slots[i], PySequence_Fast_GET_ITEM(seq, i), 1))
            goto done;
    for (int i = 0; i < P->nconst; i++) {
        sd_arr *a = &P->v[P->const_slots[i]];
        PyArrayObject *arr = (PyArrayObject *)PyList_GET_ITEM(P->const_arrays, i);
        Py_INCREF(arr);
        a->obj = (PyObject *)arr;
        a->data = PyArray_DATA(arr);
        a->ndim = PyArray_NDIM(arr);
        a->dtype = PyArray_TYPE(arr);
        a->flags = SD_BORROWED;
        for (int d = 0; d < a->ndim; d++) {
            a->shape[d] = PyArray_DIM(arr, d);
            a->strides[d] = PyArray_STRIDE(arr, d) / PyArray_ITEMSIZE(arr);
        }
    }
    if (P->run(&P->ctx))
        goto done;
    result = PyList_New(P->nout);
    if (!result)
        goto done;
    for (int o = 0; o < P->nout; o++) {
        PyObject *out = program_output(P, P->out_slots[o], P->out_lent[o]);
        if (!out) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, o, out);
    }
    P->ncalls++;
done:
    release_all(P);
    P->busy = 0;
    Py_DECREF(seq);
    return result;
}

static int *int_array(PyObject *list, int *n)
{
    PyObject *seq = PySequence_Fast(list, "expected a list of ints");
    if (!seq)
        return NULL;
    *n = (int)PySequence_Fast_GET_SIZE(seq);
    int *out = calloc(*n + 1, sizeof(int));
    for (int i = 0; i < *n; i++)
        out[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    if (PyErr_Occurred()) {
        free(out);
        return NULL;
    }
    return out;
}

static int program_init(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Program *P = (Program *)self;
    static char *kw[] = {"path", "nvars", "nnodes", "inputs", "in_names", "constants", "const_arrays", "outputs",
                         "slot_types", "labels", "callbacks", "checker", "nan_guard", NULL};
    const char *path;
    PyObject *inputs, *in_names, *constants, *const_arrays, *outputs, *slot_types, *labels, *callbacks, *checker;
    int nan_guard = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "siiOOOOOOOOOp", kw, &path, &P->nvars, &P->nnodes, &inputs,
                                     &in_names, &constants, &const_arrays, &outputs, &slot_types, &labels,
                                     &callbacks, &checker, &nan_guard))
        return -1;
    P->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!P->handle) {
        PyErr_Format(PyExc_ImportError, "cannot load %s: %s", path, dlerror());
        return -1;
    }
    int *abi = (int *)dlsym(P->handle, "sd_abi_version");
    P->run = (int (*)(sd_ctx *))dlsym(P->handle, "sd_run");
    if (!abi || !P->run || *abi != SD_ABI_VERSION) {
        PyErr_Format(PyExc_ImportError, "%s is not a symdl module of ABI version %d", path, SD_ABI_VERSION);
        return -1;
    }
    int n;
    if (!(P->in_slots = int_array(inputs, &P->nin)) || !(P->out_slots = int_array(outputs, &P->nout)) ||
        !(P->const_slots = int_array(constants, &P->nconst)))
        return -1;
    P->v = calloc(P->nvars + 1, sizeof(sd_arr));
    P->times = calloc(P->nnodes + 1, sizeof(double));
    P->slot_dtype = calloc(P->nvars + 1, sizeof(int));
    P->slot_ndim = calloc(P->nvars + 1, sizeof(int));
    P->slot_static = calloc((size_t)(P->nvars + 1) * SD_MAXDIM, sizeof(int64_t));
    P->is_out = calloc(P->nvars + 1, 1);
    P->lent = calloc(P->nvars + 1, 1);
    P->out_lent = calloc(P->nout + 1, 1);
    P->recent = calloc((size_t)(P->nvars + 1) * SD_RECENT, sizeof(PyObject *));
    P->pool_cap = 256;
    P->pool = calloc(P->pool_cap, sizeof(PyObject *));
    P->pool_bytes = calloc(P->pool_cap, sizeof(Py_ssize_t));
    if (!P->v || !P->times || !P->slot_dtype || !P->slot_ndim || !P->slot_static || !P->is_out || !P->recent || !P->lent || !P->out_lent ||
        !P->pool ||
        !P->pool_bytes) {
        PyErr_NoMemory();
        return -1;
    }
    for (int o = 0; o < P->nout; o++)
        P->is_out[P->out_slots[o]] = 1;
    PyObject *types = PySequence_Fast(slot_types, "slot_types must be a list");
    if (!types)
        return -1;
    if (PySequence_Fast_GET_SIZE(types) != P->nvars) {
        Py_DECREF(types);
        PyErr_SetString(PyExc_ValueError, "slot_types must have one entry per slot");
        return -1;
    }
    for (int s = 0; s < P->nvars; s++) {
        PyObject *t = PySequence_Fast_GET_ITEM(types, s);
        PyObject *shape;
        if (!PyArg_ParseTuple(t, "iiO", &P->slot_dtype[s], &P->slot_ndim[s], &shape)) {
            Py_DECREF(types);
            return -1;
        }
        int *dims = int_array(shape, &n);
        if (!dims) {
            Py_DECREF(types);
            return -1;
        }
        for (int d = 0; d < n && d < SD_MAXDIM; d++)
            P->slot_static[(size_t)s * SD_MAXDIM + d] = dims[d];
        free(dims);
    }
    Py_DECREF(types);
    Py_INCREF(const_arrays);
    P->const_arrays = const_arrays;
    Py_INCREF(labels);
    P->labels = labels;
    Py_INCREF(in_names);
    P->in_names = in_names;
    Py_INCREF(callbacks);
    P->callbacks = callbacks;
    Py_INCREF(checker);
    P->checker = checker;
    P->nan_guard = nan_guard;
    P->ctx.api = &the_api;
    P->ctx.v = P->v;
    P->ctx.times = P->times;
    P->ctx.checking = nan_guard || checker != Py_None;
    P->claim_out = -1;
    return 0;
}

static void program_dealloc(PyObject *self)
{
    Program *P = (Program *)self;
    PyObject_GC_UnTrack(self);
    if (P->v)
        release_all(P);
    for (int i = 0; i < P->npool; i++)
        Py_DECREF(P->pool[i]);
    if (P->recent)
        for (size_t i = 0; i < (size_t)P->nvars * SD_RECENT; i++)
            Py_XDECREF(P->recent[i]);
    free(P->recent);
    free(P->pool);
    free(P->pool_bytes);
    free(P->v);
    free(P->times);
    free(P->in_slots);
    free(P->out_slots);
    free(P->const_slots);
    free(P->slot_dtype);
    free(P->slot_ndim);
    free(P->slot_static);
    free(P->is_out);
    free(P->lent);
    free(P->out_lent);
    Py_CLEAR(P->const_arrays);
    Py_CLEAR(P->labels);
    Py_CLEAR(P->in_names);
    Py_CLEAR(P->callbacks);
    Py_CLEAR(P->checker);
    /* the shared object stays loaded: other Programs may use the same file */
    Py_TYPE(self)->tp_free(self);
}

static int program_traverse(PyObject *self, visitproc visit, void *arg)
{
    Program *P = (Program *)self;
    Py_VISIT(P->const_arrays);
    Py_VISIT(P->labels);
    Py_VISIT(P->in_names);
    Py_VISIT(P->callbacks);
    Py_VISIT(P->checker);
    return 0;
}

static int program_clear(PyObject *self)
{
    Program *P = (Program *)self;
    Py_CLEAR(P->callbacks);
    Py_CLEAR(P->checker);
    return 0;
}

static PyObject *program_times(PyObject *self, PyObject *unused)
{
    Program *P = (Program *)self;
    PyObject *list = PyList_New(P->nnodes);
    for (int k = 0; list && k < P->nnodes; k++)
        PyList_SET_ITEM(list, k, PyFloat_FromDouble(P->times[k]));
    return list;
}

static PyObject *program_ncalls(PyObject *self, void *unused)
{
    return PyLong_FromLong(((Program *)self)->ncalls);
}

static PyObject *program_borrow_outputs(PyObject *self, PyObject *positions)
{
    Program *P = (Program *)self;
    PyObject *seq = PySequence_Fast(positions, "borrow_outputs takes a list of output positions");
    if (!seq)
        return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        long o = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (o < 0 || o >= P->nout) {
            Py_DECREF(seq);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_IndexError, "output position %ld out of range", o);
            return NULL;
        }
        P->out_lent[o] = 1;
    }
    Py_DECREF(seq);
    for (int o = 0; o < P->nout; o++)
        P->lent[P->out_slots[o]] = 1;
    for (int o = 0; o < P->nout; o++) /* a slot is lent only if every position of it is */
        if (!P->out_lent[o])
            P->lent[P->out_slots[o]] = 0;
    Py_RETURN_NONE;
}

static PyMethodDef program_methods[] = {
    {"node_times", program_times, METH_NOARGS, "seconds spent in each node, accumulated over calls"},
    {"borrow_outputs", program_borrow_outputs, METH_O,
     "borrow_outputs(positions): these outputs may be overwritten by the next call"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef program_getset[] = {
    {"ncalls", program_ncalls, NULL, "completed calls", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "symdl_crt.Program",
    .tp_basicsize = sizeof(Program),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = program_init,
    .tp_dealloc = program_dealloc,
    .tp_traverse = program_traverse,
    .tp_clear = program_clear,
    .tp_call = program_call,
    .tp_methods = program_methods,
    .tp_getset = program_getset,
    .tp_doc = "A compiled function graph: call it with the list of input values.",
};

/* ------------------------------------------------------------------ module */
static PyObject *mod_configure(PyObject *self, PyObject *args)
{
    PyObject *shape_error, *input_error, *nan_error;
    if (!PyArg_ParseTuple(args, "OOO", &shape_error, &input_error, &nan_error))
        return NULL;
    Py_XSETREF(ShapeError, Py_NewRef(shape_error));
    Py_XSETREF(InputError, Py_NewRef(input_error));
    Py_XSETREF(NanGuardError, Py_NewRef(nan_error));
    Py_RETURN_NONE;
}

static PyObject *mod_set_num_threads(PyObject *self, PyObject *args)
{
    int n;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    if (n < 1)
        n = omp_get_num_procs();
    if (n != sd_nthreads) {
        sd_nthreads = n;
        /* the BLAS runs single-threaded; gemm_par splits large products among OpenMP threads */
        scipy_openblas_set_num_threads(1);
    }
    return PyLong_FromLong(n);
}

static PyObject *mod_blas_config(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromFormat("%s, %d threads", scipy_openblas_get_config(), sd_nthreads);
}

static PyMethodDef mod_methods[] = {
    {"configure", mod_configure, METH_VARARGS, "configure(ShapeError, InputError, NanGuardError)"},
    {"set_num_threads", mod_set_num_threads, METH_VARARGS, "threads for OpenMP loops and BLAS (0: all cores)"},
    {"blas_config", mod_blas_config, METH_NOARGS, "the BLAS library in use and its thread count"},
    {NULL, NULL, 0, NULL},
};

/* setup.py passes the digest of the sources it built from, so that an installed runtime that no
   longer matches its sources is never used (symdl/backend/c/runtime_sources.py). */
#ifndef SD_SOURCES_DIGEST
#define SD_SOURCES_DIGEST ""
#endif

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "symdl_crt", "symdl C runtime", -1, mod_methods};

PyMODINIT_FUNC PyInit_symdl_crt(void)
{
    import_array();
    if (PyType_Ready(&ProgramType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m)
        return NULL;
    Py_INCREF(&ProgramType);
    PyModule_AddObject(m, "Program", (PyObject *)&ProgramType);
    PyModule_AddIntConstant(m, "ABI_VERSION", SD_ABI_VERSION);
    PyModule_AddIntConstant(m, "MAXDIM", SD_MAXDIM);
    PyModule_AddStringConstant(m, "SOURCES_DIGEST", SD_SOURCES_DIGEST);
    ShapeError = Py_NewRef(PyExc_ValueError);
    InputError = Py_NewRef(PyExc_TypeError);
    NanGuardError = Py_NewRef(PyExc_FloatingPointError);
    sd_nthreads = 0; /* unknown: the first set_num_threads call sets OpenMP and BLAS alike */
    return m;
}
