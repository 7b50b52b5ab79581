/* symdl C runtime: the values a caller passes in. A compiled function's inputs arrive as NumPy
 * arrays, NumPy scalars, Python numbers or (nested) lists; each becomes a value of its input's
 * dtype by exactly the rules of Function._filter (symdl/compile/function.py): data of another
 * dtype is cast when the cast stays within its kind (float64 into float32) or goes from integers
 * or booleans to floats, and integers go into a narrower or other-signed integer dtype only when
 * every value fits. What the rules refuse raises InputError, on which Function takes its Python
 * path: it refuses with a full message, or handles what the runtime leaves to it (keyword
 * arguments, defaults). Byte-swapped or misaligned data is copied into native order first, since
 * the kernels read memory as it is.
 *
 * Scalars are written straight into a 0-d array kept per input, so that f(1.0, 2.0) costs about
 * what f(np.array(1.0), np.array(2.0)) does.
 */
#ifndef SYMDL_RUNTIME_INPUTS_H
#define SYMDL_RUNTIME_INPUTS_H

#include "runtime_values.h"

enum { SD_CAST_NO, SD_CAST_YES, SD_CAST_IF_FITS };
#define SD_BUILTIN_TYPES 32 /* NumPy's type numbers of its own dtypes are below */

static int is_integer_kind(char kind)
{
    return kind == 'b' || kind == 'i' || kind == 'u';
}

/* Whether _filter casts data of dtype `src` into an input of dtype `dst`: never, always, or only
 * if the values fit (its _ints_fit: each within dst's range; for a bool dst, only when empty).
 * Answers for built-in dtypes are kept: they depend on the two dtypes only. */
static int input_cast_rule(int src, int dst)
{
    static signed char known[SD_BUILTIN_TYPES][SD_BUILTIN_TYPES];
    int cached = src >= 0 && src < SD_BUILTIN_TYPES && dst >= 0 && dst < SD_BUILTIN_TYPES;
    if (cached && known[src][dst])
        return known[src][dst] - 1;
    PyArray_Descr *s = PyArray_DescrFromType(src), *d = PyArray_DescrFromType(dst);
    int rule = SD_CAST_NO;
    if (s && d) {
        char sk = s->kind, dk = d->kind;
        if (is_integer_kind(sk) && (dk == 'i' || dk == 'u') && !PyArray_CanCastTypeTo(s, d, NPY_SAFE_CASTING))
            rule = SD_CAST_IF_FITS;
        else if (PyArray_CanCastTypeTo(s, d, NPY_SAME_KIND_CASTING) || (is_integer_kind(sk) && dk == 'f'))
            rule = SD_CAST_YES;
        else if (is_integer_kind(sk) && dk == 'b')
            rule = SD_CAST_IF_FITS;
    } else {
        PyErr_Clear();
    }
    Py_XDECREF(s);
    Py_XDECREF(d);
    if (cached)
        known[src][dst] = (signed char)(rule + 1);
    return rule;
}

/* The range [lo, hi] of an integer dtype. */
static void integer_range(int dtype, int64_t *lo, uint64_t *hi)
{
    int bits = 8 * itemsize_of(dtype);
    if (PyTypeNum_ISUNSIGNED(dtype)) {
        *lo = 0;
        *hi = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    } else {
        *lo = bits == 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
        *hi = (UINT64_C(1) << (bits - 1)) - 1;
    }
}

/* A number as NumPy holds it: kind 'b' or 'i' (in i), 'u' (in u) or 'f' (in f). */
typedef struct {
    char kind;
    int64_t i;
    uint64_t u;
    double f;
} sd_number;

static int number_fits(const sd_number *x, int dtype)
{
    if (PyTypeNum_ISFLOAT(dtype))
        return 1;
    if (dtype == NPY_BOOL || x->kind == 'f')
        return 0;
    int64_t lo;
    uint64_t hi;
    integer_range(dtype, &lo, &hi);
    if (x->kind == 'u')
        return x->u <= hi;
    return x->i >= lo && (x->i < 0 || (uint64_t)x->i <= hi);
}

/* Whether every value of an integer array fits `dtype` (1, 0, or -1 with an exception set). */
static int array_fits(PyArrayObject *arr, int dtype)
{
    npy_intp n = PyArray_SIZE(arr);
    if (n == 0)
        return 1;
    int wide_unsigned = PyArray_DESCR(arr)->kind == 'u' && PyArray_ITEMSIZE(arr) == 8;
    PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)arr, wide_unsigned ? NPY_UINT64 : NPY_INT64,
                                                         NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST);
    if (!c)
        return -1;
    sd_number x = {wide_unsigned ? 'u' : 'i', 0, 0, 0.0};
    int fits = 1;
    for (npy_intp k = 0; fits && k < n; k++) {
        if (wide_unsigned)
            x.u = ((const uint64_t *)PyArray_DATA(c))[k];
        else
            x.i = ((const int64_t *)PyArray_DATA(c))[k];
        fits = number_fits(&x, dtype);
    }
    Py_DECREF(c);
    return fits;
}

/* A Python number or NumPy scalar: its dtype as np.asarray gives it (float: float64, int: int64,
 * bool: bool) and its value. 0 for anything else: other objects, NumPy scalars of other kinds or
 * sizes (float16, longdouble, complex), and ints beyond int64, which NumPy would not make int64. */
static int scalar_number(PyObject *v, int *dtype, sd_number *x)
{
    x->i = 0, x->u = 0, x->f = 0.0;
    if (PyArray_IsScalar(v, Generic)) {
        PyArray_Descr *d = PyArray_DescrFromScalar(v);
        if (!d) {
            PyErr_Clear();
            return 0;
        }
        int type = d->type_num, size = (int)PyDataType_ELSIZE(d);
        char kind = d->kind;
        Py_DECREF(d);
        if (!is_integer_kind(kind) && !(kind == 'f' && (size == 4 || size == 8)))
            return 0;
        union {
            int8_t i8;
            int16_t i16;
            int32_t i32;
            int64_t i64;
            uint8_t u8;
            uint16_t u16;
            uint32_t u32;
            uint64_t u64;
            float f32;
            double f64;
        } raw;
        PyArray_ScalarAsCtype(v, &raw);
        x->kind = kind;
        if (kind == 'f')
            x->f = size == 4 ? (double)raw.f32 : raw.f64;
        else if (kind == 'u')
            x->u = size == 1 ? raw.u8 : size == 2 ? raw.u16 : size == 4 ? raw.u32 : raw.u64;
        else if (kind == 'b')
            x->i = raw.u8 != 0;
        else
            x->i = size == 1 ? raw.i8 : size == 2 ? raw.i16 : size == 4 ? raw.i32 : raw.i64;
        *dtype = type;
        return 1;
    }
    if (PyBool_Check(v)) {
        x->kind = 'b', x->i = v == Py_True, *dtype = NPY_BOOL;
        return 1;
    }
    if (PyFloat_Check(v)) {
        x->kind = 'f', x->f = PyFloat_AS_DOUBLE(v), *dtype = NPY_FLOAT64;
        return 1;
    }
    if (PyLong_Check(v)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (i == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        x->kind = 'i', x->i = i, *dtype = NPY_INT64;
        return 1;
    }
    return 0;
}

/* *p = x as `dtype`, converted as C converts, which is NumPy's astype for the casts the rules
 * allow; -1 for a dtype it does not know. */
static int store_number(char *p, int dtype, const sd_number *x)
{
#define SD_STORE(T)                                                                                    \
    *(T *)p = x->kind == 'f' ? (T)x->f : x->kind == 'u' ? (T)x->u : (T)x->i;                           \
    return 0
    switch (dtype) {
    case NPY_BOOL: *(npy_bool *)p = x->i != 0; return 0;
    case NPY_INT8: SD_STORE(int8_t);
    case NPY_UINT8: SD_STORE(uint8_t);
    case NPY_INT16: SD_STORE(int16_t);
    case NPY_UINT16: SD_STORE(uint16_t);
    case NPY_INT32: SD_STORE(int32_t);
    case NPY_UINT32: SD_STORE(uint32_t);
    case NPY_INT64: SD_STORE(int64_t);
    case NPY_UINT64: SD_STORE(uint64_t);
    case NPY_FLOAT32: SD_STORE(float);
    case NPY_FLOAT64: SD_STORE(double);
    }
    return -1;
#undef SD_STORE
}

static int refuse_input(Program *P, int k, int want, const char *got)
{
    return fail(P, -1, InputError, "input %d (%s) expects dtype %s, got %s", k,
                PyUnicode_AsUTF8(PyList_GET_ITEM(P->in_names, k)), dtype_name(want), got);
}

/* Scalar `x` of dtype `type` into 0-d input k: into the input's own 0-d array when nothing else
 * holds it (a callback's view of it, or a shared variable's update written in place), else a new
 * one that the input keeps. 1 when done, 0 when the rules refuse, -1 on error. */
static int set_scalar_input(Program *P, int k, int slot, int type, const sd_number *x)
{
    int want = P->slot_dtype[slot];
    int rule = type == want ? SD_CAST_YES : input_cast_rule(type, want);
    if (rule == SD_CAST_NO || (rule == SD_CAST_IF_FITS && !number_fits(x, want)))
        return 0;
    PyObject *arr = P->scalars[k];
    if (!arr || Py_REFCNT(arr) != 1) {
        arr = PyArray_SimpleNew(0, NULL, want);
        if (!arr)
            return -1;
        Py_XSETREF(P->scalars[k], arr);
    }
    if (store_number(PyArray_DATA((PyArrayObject *)arr), want, x))
        return 0;
    Py_INCREF(arr);
    return fill_slot(P, k, slot, (PyArrayObject *)arr, 1) ? -1 : 1;
}

/* The k-th value of a call into its input slot. */
static int set_input(Program *P, int k, PyObject *value)
{
    int slot = P->in_slots[k], want = P->slot_dtype[slot];
    if (PyArray_Check(value)) {
        PyArrayObject *in = (PyArrayObject *)value;
        if (PyArray_TYPE(in) == want && PyArray_ISALIGNED(in) && PyArray_ISNOTSWAPPED(in)) {
            Py_INCREF(value);
            return fill_slot(P, k, slot, in, 1);
        }
    } else if (P->slot_ndim[slot] == 0) {
        int type;
        sd_number x;
        if (scalar_number(value, &type, &x)) {
            int done = set_scalar_input(P, k, slot, type, &x);
            if (done)
                return done < 0 ? -1 : 0;
            return refuse_input(P, k, want, dtype_name(type));
        }
    }
    /* anything else as np.asarray makes it, then cast (or copied into native order) */
    PyArrayObject *arr;
    if (PyArray_Check(value)) {
        Py_INCREF(value);
        arr = (PyArrayObject *)value;
    } else {
        arr = (PyArrayObject *)PyArray_FromAny(value, NULL, 0, 0, 0, NULL);
        if (!arr) {
            PyErr_Clear();
            return refuse_input(P, k, want, Py_TYPE(value)->tp_name);
        }
    }
    int type = PyArray_TYPE(arr);
    int rule = type == want ? SD_CAST_YES : input_cast_rule(type, want);
    if (rule == SD_CAST_IF_FITS) {
        int fits = array_fits(arr, want);
        if (fits < 0) {
            Py_DECREF(arr);
            return -1;
        }
        rule = fits ? SD_CAST_YES : SD_CAST_NO;
    }
    if (rule == SD_CAST_NO) {
        Py_DECREF(arr);
        return refuse_input(P, k, want, dtype_name(type));
    }
    PyArrayObject *cast = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)arr, want, NPY_ARRAY_ALIGNED |
                                                            NPY_ARRAY_NOTSWAPPED | NPY_ARRAY_FORCECAST);
    Py_DECREF(arr);
    if (!cast)
        return -1;
    return fill_slot(P, k, slot, cast, 1);
}

#endif
