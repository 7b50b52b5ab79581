/* symdl C runtime interface: what generated code sees.
 *
 * A compiled function is one translation unit exporting `sd_run(sd_ctx *)`. It runs the
 * schedule of a graph: every value lives in a slot `v[k]` (an `sd_arr`: data pointer, shape and
 * strides in elements), and every node is either a call of a kernel generated for it (fused
 * elementwise loops) or a call into the precompiled runtime (`ctx->api`: reductions, BLAS,
 * views, joins, and the Python fallback for nodes without C code).
 *
 * Generated code includes only this header and symdl_math.h, so it compiles in a fraction of
 * the time that Python.h and NumPy's headers would take.
 */
#ifndef SYMDL_RT_H
#define SYMDL_RT_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define SD_ABI_VERSION 11
#define SD_MAXDIM 16

/* dtype codes: NumPy's type numbers */
enum {
    SD_BOOL = 0, SD_INT8 = 1, SD_UINT8 = 2, SD_INT16 = 3, SD_UINT16 = 4, SD_INT32 = 5, SD_UINT32 = 6,
    SD_INT64 = 7, SD_UINT64 = 8, SD_FLOAT32 = 11, SD_FLOAT64 = 12
};

/* An array value: `obj` owns the memory (a NumPy array; NULL for an empty slot). */
typedef struct {
    void *obj;
    char *data;
    int ndim;
    int dtype;
    int flags;
    int64_t shape[SD_MAXDIM];
    int64_t strides[SD_MAXDIM]; /* in elements */
} sd_arr;

/* sd_arr.flags */
#define SD_FRESH 1  /* allocated for a function output: handed to the caller as is */
#define SD_POOLED 2 /* an intermediate buffer from the reuse pool */
#define SD_BORROWED 4 /* an input or a constant: never written, never returned without a copy */
#define SD_INPLACE 8  /* a shared variable's update written into the variable's own array */

/* inner loop of an elementwise kernel: n elements, one pointer and one stride per operand */
typedef void (*sd_kernel)(int64_t n, char **p, const int64_t *s);
/* generated kernels: seen by the module's other compilation unit, not exported */
#define SD_KERNEL __attribute__((visibility("hidden")))

typedef struct sd_ctx sd_ctx;

typedef struct {
    int (*elemwise)(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs, const int *out_dtypes,
                    int out_ndim, sd_kernel kernel, int cost);
    int (*reduce)(sd_ctx *c, int node, int kind, int in, int out, int naxes, const int *axes, int keepdims,
                  int out_dtype);
    int (*argreduce)(sd_ctx *c, int node, int kind, int in, int out, int axis, int keepdims);
    int (*dot)(sd_ctx *c, int node, int a, int b, int out);
    int (*matmul)(sd_ctx *c, int node, int a, int b, int out);
    int (*dimshuffle)(sd_ctx *c, int node, int in, int out, int n, const int *order);
    int (*reshape)(sd_ctx *c, int node, int in, int shape, int out, int ndim);
    int (*shape)(sd_ctx *c, int node, int in, int out);
    int (*alloc)(sd_ctx *c, int node, int value, int ndims, const int *dims, int out);
    int (*subtensor)(sd_ctx *c, int node, int in, int out, int nentries, const int64_t *entries, const int *args);
    int (*join)(sd_ctx *c, int node, int axis, int n, const int *ins, int out);
    int (*reduce_to_shape)(sd_ctx *c, int node, int in, int shape, int out);
    int (*py)(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs);
    int (*check)(sd_ctx *c, int node, int nin, const int *ins, int nout, const int *outs);
    void (*release)(sd_ctx *c, int slot);
    int (*gemm)(sd_ctx *c, int node, int C, int alpha, int A, int B, int beta, int out);
    /* a reduction of a fused elementwise program: the kernel accumulates into its last operand */
    int (*elemwise_reduce)(sd_ctx *c, int node, int kind, int nin, const int *ins, int out, int out_dtype,
                           int acc_dtype, int elem_ndim, int naxes, const int *axes, int keepdims, sd_kernel kernel,
                           int cost);
    /* softmax (kind 0), log-softmax (1) along `axis`; softmax cross-entropy with logits (2, 3 for
     * probability targets) over the last axis, `target` the labels or probabilities */
    int (*softmax)(sd_ctx *c, int node, int kind, int in, int target, int out, int axis);
    /* symdl.tensor.nnet's convolution and pooling (kernels/c/nnet_api.h) */
    int (*conv2d)(sd_ctx *c, int node, int kind, int a, int b, int hw, int out, const int64_t *params);
    int (*pool2d)(sd_ctx *c, int node, int backward, int x, int gz, int out, const int64_t *params);
    /* 3-d convolution and its gradients (nnet_api.h, conv3d.h) */
    int (*conv3d)(sd_ctx *c, int node, int kind, int a, int b, int size, int out, const int64_t *params);
    /* pooling over the last params[0] axes with run-time window, stride and padding (nnet_api.h) */
    int (*pool_nd)(sd_ctx *c, int node, int kind, int x, int g, int ws, int stride, int pad, int out,
                   const int64_t *params);
    /* np.arange(start, stop, step) for an integer dtype: 0-d inputs of the output's dtype */
    int (*arange)(sd_ctx *c, int node, int start, int stop, int step, int out);
    /* before the node computing `out`, the update of the shared variable in slot `src`: let it
     * write into that variable's array if nothing else can see the array (else a no-op) */
    int (*claim)(sd_ctx *c, int node, int src, int out);
    /* a draw of symdl.tensor.random with single-valued parameters (kernels/c/runtime_random.h):
     * kind 0 uniform (a, b: low, high), 1 normal (avg, std), 2 binomial (a: p, n trials) */
    int (*random)(sd_ctx *c, int node, int kind, int state, int shape, int a, int b, int64_t n, int new_state,
                  int out);
    /* loops (kernels/c/runtime_loops.h): a new array of `rows` rows shaped like `like` without its
     * first `drop` dimensions; a view of a row or of a range of rows; a value copied into rows */
    int (*alloc_rows)(sd_ctx *c, int node, int dst, int like, int drop, int64_t rows);
    int (*row_view)(sd_ctx *c, int node, int dst, int src, int64_t index);
    int (*rows_view)(sd_ctx *c, int node, int dst, int src, int64_t start, int64_t count);
    int (*set_rows)(sd_ctx *c, int node, int dst, int64_t start, int src, int src_is_rows);
    /* the next new value of `slot` is written into the memory of `dst` (a row of a loop's store)
     * where it fits there; `dst` -1: into a buffer of its own */
    int (*target)(sd_ctx *c, int slot, int dst);
    /* for the C code of ops written outside symdl (docs/extending.md): a new C-contiguous value
     * of `slot`, and an error of kind SD_ERROR_*, its message formatted as by printf, naming the
     * node and the user's line (it returns -1, for the function to return) */
    int (*value)(sd_ctx *c, int node, int slot, int dtype, int ndim, const int64_t *shape);
    int (*error)(sd_ctx *c, int node, int kind, const char *format, ...);
    /* a copy of `in` with its part selected as by subtensor set to `value` (`set`) or incremented by it */
    int (*inc_subtensor)(sd_ctx *c, int node, int in, int value, int out, int nentries, const int64_t *entries,
                         const int *args, int set);
    /* symdl.tensor.nlinalg's and slinalg's ops through LAPACK (kernels/c/runtime_linalg.h): op
     * SD_LINALG_*, the node's input and output slots, params (lower, option, option2, b_ndim) */
    int (*linalg)(sd_ctx *c, int node, int op, const int *ins, const int *outs, const int64_t *params);
    /* ops along one axis and batched lookups (kernels/c/runtime_along_axis.h): the window sum of
     * local response normalization, cumsum (mul 0) and cumprod (1), the spatial transformer's
     * gather and its adjoint */
    int (*window_sum)(sd_ctx *c, int node, int in, int out, int axis, int64_t size);
    int (*cumulate)(sd_ctx *c, int node, int in, int out, int axis, int mul, int out_dtype);
    int (*batch_gather)(sd_ctx *c, int node, int x, int idx, int out);
    int (*batch_scatter_add)(sd_ctx *c, int node, int g, int idx, int n, int out);
    /* outs[k]: a view of piece k of `in` along `axis`, whose lengths the integer vector `sizes` gives */
    int (*split)(sd_ctx *c, int node, int in, int sizes, int axis, int n, const int *outs);
    /* api->target for a value of an elementwise op, which writes any strides: `dst` may be a part
     * of a row of a loop's store (one piece of a concatenation that the store keeps) */
    int (*target_part)(sd_ctx *c, int slot, int dst);
    /* `dst`: a view of [start, start + count) of `src` along `axis` */
    int (*part_view)(sd_ctx *c, int node, int dst, int src, int axis, int64_t start, int64_t count);
} sd_api;

/* kinds of api->error: symdl's ShapeError, ValueError, IndexError, TypeError, LinAlgError */
enum { SD_ERROR_SHAPE = 0, SD_ERROR_VALUE = 1, SD_ERROR_INDEX = 2, SD_ERROR_TYPE = 3, SD_ERROR_LINALG = 4 };

/* ops of api->linalg */
enum {
    SD_LINALG_CHOLESKY = 0, SD_LINALG_SOLVE = 1, SD_LINALG_SOLVE_TRIANGULAR = 2, SD_LINALG_CHO_SOLVE = 3,
    SD_LINALG_INV = 4, SD_LINALG_DET = 5, SD_LINALG_SLOGDET = 6, SD_LINALG_EIGH = 7, SD_LINALG_SVD = 8,
    SD_LINALG_QR = 9, SD_LINALG_PINV = 10, SD_LINALG_EXPM = 11
};

struct sd_ctx {
    const sd_api *api;
    sd_arr *v;       /* the slots */
    double *times;   /* seconds per node, accumulated */
    int checking;    /* DEBUG mode or nan_guard: call api->check after every C node */
};

/* reduction kinds */
enum { SD_SUM = 0, SD_PROD = 1, SD_MAX = 2, SD_MIN = 3, SD_ALL = 4, SD_ANY = 5, SD_ARGMAX = 6, SD_ARGMIN = 7 };

/* subtensor entries: kind, then three values; a value is a literal, or (SD_ARG | k) for the k-th index input */
enum { SD_IDX_SLICE = 0, SD_IDX_INT = 1, SD_IDX_NEW = 2 };
#define SD_NONE INT64_MIN
#define SD_ARG (INT64_C(1) << 62)

static inline double sd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Generated drivers use these: time a node, bail out on error (the runtime cleans up). */
#define SD_NODE_BEGIN() double t0_ = sd_now()
#define SD_NODE_END(k) ctx->times[k] += sd_now() - t0_
#define SD_TRY(call)       \
    do {                   \
        if ((call) != 0)   \
            return -1;     \
    } while (0)

#endif
