/* symdl's C runtime: a CPython extension compiled once per machine and cached.
 *
 * It owns everything that touches Python or NumPy, so that the code generated for each
 * function graph stays small and compiles fast. This file is the extension: the `Program` type
 * (a loaded compiled function: calling it fills the slots with the inputs, runs the generated
 * driver `sd_run` and hands back the outputs), the module, and the API table the driver calls,
 * whose entries live in the runtime's parts:
 *   runtime_core.h     the Program object, errors, helpers on values
 *   runtime_values.h   memory for new values (buffer pool, output recycling), outputs
 *   runtime_inputs.h   the caller's values into input slots (casting rules, scalars, byte order)
 *   runtime_iter.h     broadcasting elementwise iteration (OpenMP), copies
 *   runtime_reduce.h   reductions, argmax/argmin, fused elementwise reductions
 *   runtime_blas.h     dot, matmul, gemm (scipy-openblas32, sgemm_avx512.h)
 *   runtime_softmax.h  softmax, log-softmax, softmax cross-entropy
 *   runtime_views.h    views, reshape, subtensor, alloc, join, arange
 *   runtime_python.h   the Python fallback, DEBUG mode's checks, nan_guard
 *   runtime_random.h   random draws (philox.h)
 *   runtime_loops.h    loops' stores; values and errors for the C code of ops written outside symdl
 *   runtime_linalg.h   linear algebra through LAPACK (lapack_ops.h)
 *   runtime_along_axis.h  window sums, cumulative sums and products, batched gathers and scatter-adds
 *   nnet_api.h         convolution and pooling (conv.h, conv3d.h, pool.h, pool_nd.h)
 */
#include "runtime_core.h"
#include "runtime_values.h"
#include "runtime_iter.h"
#include "runtime_reduce.h"
#include "runtime_blas.h"
#include "runtime_softmax.h"
#include "runtime_views.h"
#include "runtime_python.h"
#include "runtime_inputs.h"
#include "runtime_random.h"
#include "runtime_loops.h"
#include "runtime_linalg.h"
#include "runtime_along_axis.h"
#include "nnet_api.h"

#include <dlfcn.h>

/* The API table, bound by name: entry `x` is the function api_x. Every member of sd_api must be
 * listed once: a name that is not a member fails to compile, a name listed twice repeats an
 * enumerator, and a missing one leaves the count short of the struct's size. */
#define SD_API_ENTRIES(X)                                                                                  \
    X(elemwise) X(reduce) X(argreduce) X(dot) X(matmul) X(dimshuffle) X(reshape) X(shape) X(alloc)         \
    X(subtensor) X(join) X(reduce_to_shape) X(py) X(check) X(release) X(gemm) X(elemwise_reduce)         \
    X(softmax) X(conv2d) X(pool2d) X(arange) X(claim) X(random) X(alloc_rows) X(row_view) X(rows_view) X(set_rows) X(target)      \
    X(value) X(error) X(inc_subtensor) X(linalg) X(window_sum) X(cumulate) X(batch_gather) X(batch_scatter_add)    \
    X(split) X(pool_nd) X(conv3d) X(target_part) X(part_view)

enum {
#define SD_API_INDEX(name) sd_api_index_##name,
    SD_API_ENTRIES(SD_API_INDEX)
#undef SD_API_INDEX
    SD_API_COUNT
};
_Static_assert(sizeof(sd_api) == SD_API_COUNT * sizeof(void (*)(void)), "every entry of sd_api is bound once");

static const sd_api the_api = {
#define SD_API_BIND(name) .name = api_##name,
    SD_API_ENTRIES(SD_API_BIND)
#undef SD_API_BIND
};

/* ------------------------------------------------------------------ Program type */
/* Wait for another thread's call of P to end, without the GIL (which that call needs to finish).
 * A call from inside P's own call (a callback that calls the function again) raises instead. */
static int program_enter(Program *P)
{
    unsigned long me = PyThread_get_thread_ident();
    if (!PyThread_acquire_lock(P->lock, NOWAIT_LOCK)) {
        if (P->owner == me) {
            PyErr_SetString(PyExc_RuntimeError, "a compiled function was called again while it runs");
            return -1;
        }
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(P->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    P->owner = me;
    return 0;
}

static void program_leave(Program *P)
{
    P->owner = 0;
    PyThread_release_lock(P->lock);
}

static PyObject *program_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Program *P = (Program *)self;
    if ((kwargs && PyDict_GET_SIZE(kwargs)) || PyTuple_GET_SIZE(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "a compiled function takes one list of values");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(PyTuple_GET_ITEM(args, 0), "a compiled function takes a list of values");
    if (!seq)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != P->nin) {
        PyErr_Format(InputError, "expected %d values (inputs then shared variables), got %zd", P->nin,
                     PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return NULL;
    }
    if (program_enter(P)) {
        Py_DECREF(seq);
        return NULL;
    }
    PyObject *result = NULL;
    PyObject **values = PySequence_Fast_ITEMS(seq);
    for (int i = 0; i < P->nin; i++)
        if (set_input(P, i, values[i]))
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
    program_leave(P);
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
    P->target = calloc(P->nvars + 1, sizeof(int));
    P->lent = calloc(P->nvars + 1, 1);
    P->out_lent = calloc(P->nout + 1, 1);
    P->recent = calloc((size_t)(P->nvars + 1) * SD_RECENT, sizeof(PyObject *));
    P->scalars = calloc(P->nin + 1, sizeof(PyObject *));
    P->lock = PyThread_allocate_lock();
    P->pool_cap = 256;
    P->pool = calloc(P->pool_cap, sizeof(PyObject *));
    P->pool_bytes = calloc(P->pool_cap, sizeof(Py_ssize_t));
    if (!P->v || !P->times || !P->slot_dtype || !P->slot_ndim || !P->slot_static || !P->is_out || !P->target || !P->recent ||
        !P->lent || !P->out_lent || !P->pool || !P->pool_bytes || !P->scalars || !P->lock) {
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
    if (P->scalars)
        for (int i = 0; i < P->nin; i++)
            Py_XDECREF(P->scalars[i]);
    free(P->scalars);
    if (P->lock)
        PyThread_free_lock(P->lock);
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
    free(P->target);
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
    PyObject *shape_error, *input_error, *nan_error, *linalg_error = NULL;
    if (!PyArg_ParseTuple(args, "OOO|O", &shape_error, &input_error, &nan_error, &linalg_error))
        return NULL;
    Py_XSETREF(ShapeError, Py_NewRef(shape_error));
    Py_XSETREF(InputError, Py_NewRef(input_error));
    Py_XSETREF(NanGuardError, Py_NewRef(nan_error));
    if (linalg_error)
        Py_XSETREF(LinAlgError, Py_NewRef(linalg_error));
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
    {"configure", mod_configure, METH_VARARGS, "configure(ShapeError, InputError, NanGuardError[, LinAlgError])"},
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
    LinAlgError = Py_NewRef(PyExc_ArithmeticError);
    sd_nthreads = 0; /* unknown: the first set_num_threads call sets OpenMP and BLAS alike */
    return m;
}
