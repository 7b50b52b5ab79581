/* symdl C runtime: the linear algebra of symdl.tensor.nlinalg and symdl.tensor.slinalg through
 * LAPACK (lapack_ops.h, on the scipy-openblas32 that the runtime links).
 *
 *   api_linalg(ctx, node, op, ins, outs, params)
 *       op: SD_LINALG_* (symdl_rt.h); ins and outs: the node's input and output slots, in the
 *       op's order; params: lower, option, option2, b_ndim, where option is Cholesky's on_error
 *       ('nan': 1), solve's assume_a (lapack_ops.h's SD_LA_GENERAL/SYMMETRIC/POSITIVE),
 *       solve_triangular's trans, svd's full_matrices or qr's mode (SD_LA_QR_*), and option2
 *       solve_triangular's unit_diagonal or svd's compute_uv.
 *
 * It checks the shapes, broadcasts the batch axes of a solve's matrix and right-hand side, makes
 * C-contiguous copies where the inputs are not, allocates the outputs, and shares the batch among
 * OpenMP threads (each calling LAPACK single-threaded on its own matrices: OpenBLAS's own threads
 * are kept at one, see runtime_blas.h). float32 matrices are computed in float64 and rounded, as
 * numpy.linalg (and so the ops' Python performs) computes them: the same eigenvector signs, say.
 * Errors are those of the performs: LinAlgError for a singular matrix, one that is not positive
 * definite or an iteration that did not converge, with the same message (after the node's name).
 */
#ifndef SYMDL_RUNTIME_LINALG_H
#define SYMDL_RUNTIME_LINALG_H

#include "runtime_iter.h"

#include "lapack_ops.h"

/* One call of api_linalg: sizes, options and contiguous data. Batch entry b of input i starts at
 * in[i] + b * in_step[i] elements (likewise outputs). */
typedef struct {
    int op, dtype;
    int64_t m, n, k; /* rows and columns of the matrix (n x n when square), columns of a right-hand side */
    int64_t lower, option, option2;
    char *in[2], *out[3];
    int64_t in_step[2], out_step[3];
} la_job;

/* The job on batch entries [b0, b1) of float64 matrices. */
static int la_run_f64(const la_job *j, int64_t b0, int64_t b1, int64_t *failed)
{
    int64_t count = b1 - b0, m = j->m, n = j->n, k = j->k;
    const double *a = (const double *)j->in[0] + b0 * j->in_step[0];
    const double *b = j->in[1] ? (const double *)j->in[1] + b0 * j->in_step[1] : NULL;
    double *o0 = j->out[0] ? (double *)j->out[0] + b0 * j->out_step[0] : NULL;
    double *o1 = j->out[1] ? (double *)j->out[1] + b0 * j->out_step[1] : NULL;
    double *o2 = j->out[2] ? (double *)j->out[2] + b0 * j->out_step[2] : NULL;
    switch (j->op) {
    case SD_LINALG_CHOLESKY:
        if (!j->option)
            return sd_la_cholesky_f64(count, n, a, o0, (int)j->lower, failed);
        for (int64_t i = 0; i < count; i++) { /* on_error='nan': NaN fills the factors that failed */
            int status = sd_la_cholesky_f64(1, n, a + i * n * n, o0 + i * n * n, (int)j->lower, NULL);
            if (status == SD_LA_NOT_POSITIVE_DEFINITE)
                for (int64_t e = 0; e < n * n; e++)
                    o0[i * n * n + e] = NAN;
            else if (status != SD_LA_OK)
                return status;
        }
        return SD_LA_OK;
    case SD_LINALG_SOLVE: return sd_la_solve_f64(count, n, k, a, b, o0, (int)j->option, (int)j->lower, failed);
    case SD_LINALG_SOLVE_TRIANGULAR:
        return sd_la_solve_triangular_f64(count, n, k, a, b, o0, (int)j->lower, (int)j->option, (int)j->option2, failed);
    case SD_LINALG_CHO_SOLVE: return sd_la_cho_solve_f64(count, n, k, a, b, o0, (int)j->lower, failed);
    case SD_LINALG_INV: return sd_la_inv_f64(count, n, a, o0, failed);
    case SD_LINALG_DET: return sd_la_det_f64(count, n, a, o0, failed);
    case SD_LINALG_SLOGDET: return sd_la_slogdet_f64(count, n, a, o0, o1, failed);
    case SD_LINALG_EIGH: return sd_la_eigh_f64(count, n, a, o0, o1, (int)j->lower, failed);
    case SD_LINALG_SVD:
        return sd_la_svd_f64(count, m, n, a, o0, o1, o2, (int)j->option, (int)j->option2, failed);
    case SD_LINALG_QR: return sd_la_qr_f64(count, m, n, a, o0, o1, (int)j->option, failed);
    case SD_LINALG_PINV: return sd_la_pinv_f64(count, m, n, a, o0, failed);
    case SD_LINALG_EXPM: return sd_la_expm_f64(count, n, a, o0, failed);
    }
    return SD_LA_BAD_ARGUMENT;
}

/* The job on batch entries [b0, b1) of float32 matrices: computed in float64 and rounded, as NumPy
 * computes (numpy.linalg works in double precision; the Python performs are NumPy's). */
static int la_run_f32(const la_job *j, int64_t b0, int64_t b1, int64_t *failed)
{
    int64_t count = b1 - b0, size = 0;
    for (int i = 0; i < 2; i++)
        size += j->in[i] ? count * j->in_step[i] : 0;
    for (int i = 0; i < 3; i++)
        size += j->out[i] ? count * j->out_step[i] : 0;
    double *work = malloc(sizeof(double) * (size_t)(size + 1)), *next = work;
    if (!work)
        return SD_LA_NO_MEMORY;
    la_job wide = *j;
    wide.dtype = NPY_FLOAT64;
    for (int i = 0; i < 2; i++) {
        if (!j->in[i])
            continue;
        const float *src = (const float *)j->in[i] + b0 * j->in_step[i];
        for (int64_t e = 0; e < count * j->in_step[i]; e++)
            next[e] = src[e];
        wide.in[i] = (char *)next;
        next += count * j->in_step[i];
    }
    for (int i = 0; i < 3; i++)
        if (j->out[i]) {
            wide.out[i] = (char *)next;
            next += count * j->out_step[i];
        }
    int status = la_run_f64(&wide, 0, count, failed);
    for (int i = 0; i < 3; i++) {
        if (!j->out[i])
            continue;
        float *dst = (float *)j->out[i] + b0 * j->out_step[i];
        const double *src = (const double *)wide.out[i];
        for (int64_t e = 0; e < count * j->out_step[i]; e++)
            dst[e] = (float)src[e];
    }
    free(work);
    return status;
}

static int la_run(const la_job *j, int64_t b0, int64_t b1, int64_t *failed)
{
    return j->dtype == NPY_FLOAT32 ? la_run_f32(j, b0, b1, failed) : la_run_f64(j, b0, b1, failed);
}

/* Run the job on `batch` matrices, shared among threads when there is enough work; the status of
 * the first failing matrix (its index in *failed). */
static int la_run_all(const la_job *j, int64_t batch, double flops, int64_t *failed)
{
    *failed = -1;
    int threads = sd_nthreads < batch ? sd_nthreads : (int)batch;
    if (threads <= 1 || flops * (double)batch < (double)sd_par_threshold)
        return la_run(j, 0, batch, failed);
    int status[threads];
    int64_t where[threads];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        int64_t b0 = batch * t / threads, b1 = batch * (t + 1) / threads;
        where[t] = -1;
        status[t] = la_run(j, b0, b1, &where[t]);
        if (where[t] >= 0)
            where[t] += b0;
    }
    for (int t = 0; t < threads; t++)
        if (status[t] != SD_LA_OK) {
            *failed = where[t];
            return status[t];
        }
    return SD_LA_OK;
}

static const char *la_name(int op, int64_t option)
{
    switch (op) {
    case SD_LINALG_CHOLESKY: return "cholesky";
    case SD_LINALG_SOLVE: return option == SD_LA_POSITIVE ? "solve(assume_a='pos')" : "solve";
    case SD_LINALG_SOLVE_TRIANGULAR: return "solve_triangular";
    case SD_LINALG_CHO_SOLVE: return "cho_solve";
    case SD_LINALG_INV: return "matrix_inverse";
    case SD_LINALG_DET: return "det";
    case SD_LINALG_SLOGDET: return "slogdet";
    case SD_LINALG_EIGH: return "eigh";
    case SD_LINALG_SVD: return "svd";
    case SD_LINALG_QR: return "qr";
    case SD_LINALG_PINV: return "pinv";
    case SD_LINALG_EXPM: return "expm";
    default: return "linalg";
    }
}

/* `src` as a C-contiguous array of shape `shape` (its batch axes broadcast, right-aligned): itself
 * when it already is one, else a copy in `tmp` (then *owned is set; release with Py_DECREF). */
static const sd_arr *la_operand(const sd_arr *src, int ndim, const int64_t *shape, sd_arr *tmp, int *owned)
{
    *owned = 0;
    int same = src->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = src->shape[d] == shape[d];
    if (same && is_c_contiguous(src))
        return src;
    npy_intp dims[SD_MAXDIM];
    for (int d = 0; d < ndim; d++)
        dims[d] = (npy_intp)shape[d];
    PyObject *arr = PyArray_SimpleNew(ndim, dims, src->dtype);
    if (!arr)
        return NULL;
    tmp->obj = arr;
    tmp->data = PyArray_DATA((PyArrayObject *)arr);
    tmp->ndim = ndim;
    tmp->dtype = src->dtype;
    tmp->flags = 0;
    memcpy(tmp->shape, shape, sizeof(int64_t) * ndim);
    set_c_strides(tmp);
    copy_into(tmp, src);
    *owned = 1;
    return tmp;
}

/* The shapes in a message: "(3, 3)" or "(3, 3), (3, 1)" */
static void la_shapes(char *buf, size_t cap, const sd_arr *a, const sd_arr *b, int b_ndim)
{
    shape_text(buf, cap, a->ndim, a->shape);
    if (!b)
        return;
    int64_t rhs[SD_MAXDIM + 1];
    memcpy(rhs, b->shape, sizeof(int64_t) * b->ndim);
    rhs[b->ndim] = 1; /* a vector per system is solved as a one-column matrix, as the perform does */
    size_t k = strlen(buf);
    snprintf(buf + k, cap - k, ", ");
    k = strlen(buf);
    shape_text(buf + k, cap - k, b->ndim + (b_ndim == 1), rhs);
}

static int la_error(Program *P, int node, int op, int64_t option, int status, const sd_arr *a, const sd_arr *b,
                    int b_ndim)
{
    char shapes[600];
    /* the shapes the perform names: a's alone where it fails before reading b */
    la_shapes(shapes, sizeof shapes, a, status == SD_LA_NOT_POSITIVE_DEFINITE ? NULL : b, b_ndim);
    const char *name = la_name(op, option);
    switch (status) {
    case SD_LA_NO_MEMORY: return fail(P, node, PyExc_MemoryError, "%s: out of memory for LAPACK's work space", name);
    case SD_LA_BAD_ARGUMENT:
        return fail(P, node, PyExc_ValueError, "%s: a matrix too large for LAPACK's 32-bit sizes (input of shape %s)",
                    name, shapes);
    case SD_LA_NOT_POSITIVE_DEFINITE:
        if (op == SD_LINALG_SOLVE)
            return fail(P, node, LinAlgError, "%s: a matrix is not positive definite (a of shape %s)", name, shapes);
        return fail(P, node, LinAlgError, "%s: a matrix is not positive definite (input of shape %s)", name, shapes);
    case SD_LA_NO_CONVERGENCE:
        return fail(P, node, LinAlgError, "%s: %s did not converge (input of shape %s)", name,
                    op == SD_LINALG_EIGH ? "Eigenvalues" : "SVD", shapes);
    default: return fail(P, node, LinAlgError, "%s: Singular matrix (input of shape %s)", name, shapes);
    }
}

/* A zero on the diagonal of a triangular factor: cho_solve's system is singular (potrs divides by it). */
static int la_zero_diagonal(const sd_arr *c, int64_t batch, int64_t n)
{
    int isz = itemsize_of(c->dtype);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < n; i++) {
            const char *p = c->data + (b * n * n + i * n + i) * isz;
            if (c->dtype == NPY_FLOAT32 ? *(const float *)p == 0 : *(const double *)p == 0)
                return 1;
        }
    return 0;
}

/* Output `k` of the job: a new value of slot outs[k] of `ndim` dimensions, the batch shape then `core`. */
static int la_output(Program *P, int node, la_job *j, int k, int slot, int nbatch, const int64_t *batch, int ncore,
                     const int64_t *core)
{
    int64_t shape[SD_MAXDIM];
    if (nbatch + ncore > SD_MAXDIM)
        return fail(P, node, ShapeError, "%s: a result of more than %d dimensions", la_name(j->op, j->option),
                    SD_MAXDIM);
    memcpy(shape, batch, sizeof(int64_t) * nbatch);
    memcpy(shape + nbatch, core, sizeof(int64_t) * ncore);
    if (new_value(P, node, slot, j->dtype, nbatch + ncore, shape))
        return -1;
    j->out[k] = P->v[slot].data;
    j->out_step[k] = 1;
    for (int d = 0; d < ncore; d++)
        j->out_step[k] *= core[d];
    return 0;
}

/* The batch shape of a solve: that of a's and b's batch axes broadcast together. */
static int la_solve_batch(Program *P, int node, const char *name, const sd_arr *a, const sd_arr *b, int b_ndim,
                          int *nbatch, int64_t *batch)
{
    int na = a->ndim - 2, nb = b->ndim - b_ndim;
    *nbatch = na > nb ? na : nb;
    for (int d = 0; d < *nbatch; d++) {
        int da = d - (*nbatch - na), db = d - (*nbatch - nb);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ta[256], tb[256];
            shape_text(ta, sizeof ta, a->ndim, a->shape);
            shape_text(tb, sizeof tb, b->ndim, b->shape);
            return fail(P, node, ShapeError, "%s: the stacks of a %s and b %s do not broadcast", name, ta, tb);
        }
        batch[d] = sa == 1 ? sb : sa;
    }
    return 0;
}

static int64_t la_count(int n, const int64_t *shape)
{
    int64_t count = 1;
    for (int d = 0; d < n; d++)
        count *= shape[d];
    return count;
}

static int api_linalg(sd_ctx *c, int node, int op, const int *ins, const int *outs, const int64_t *params)
{
    Program *P = PROG(c);
    la_job j = {0};
    j.op = op;
    j.lower = params[0], j.option = params[1], j.option2 = params[2];
    int b_ndim = (int)params[3];
    int solves = op == SD_LINALG_SOLVE || op == SD_LINALG_SOLVE_TRIANGULAR || op == SD_LINALG_CHO_SOLVE;
    const char *name = la_name(op, j.option);
    sd_arr *A = &c->v[ins[0]], *B = solves ? &c->v[ins[1]] : NULL;
    j.dtype = A->dtype;
    if ((j.dtype != NPY_FLOAT32 && j.dtype != NPY_FLOAT64) || (B && B->dtype != j.dtype))
        return fail(P, node, PyExc_TypeError, "%s: C code needs float32 or float64 arrays of one dtype", name);
    if (A->ndim < 2 || (B && (b_ndim < 1 || b_ndim > 2 || B->ndim < b_ndim)))
        return fail(P, node, ShapeError, "%s: a matrix needs 2 dimensions, a right-hand side b_ndim", name);
    j.m = A->shape[A->ndim - 2], j.n = A->shape[A->ndim - 1];
    int square = op != SD_LINALG_SVD && op != SD_LINALG_QR && op != SD_LINALG_PINV;
    if (square && j.m != j.n) {
        char shape[256];
        shape_text(shape, sizeof shape, A->ndim, A->shape);
        return fail(P, node, LinAlgError, "%s: Last 2 dimensions of the array must be square (input of shape %s)", name,
                    shape);
    }
    int nbatch = A->ndim - 2;
    int64_t batch[SD_MAXDIM];
    memcpy(batch, A->shape, sizeof(int64_t) * nbatch);
    if (B) {
        int64_t rows = B->shape[B->ndim - b_ndim];
        j.k = b_ndim == 1 ? 1 : B->shape[B->ndim - 1];
        if (rows != j.n) {
            char ta[256], tb[256];
            shape_text(ta, sizeof ta, A->ndim, A->shape);
            shape_text(tb, sizeof tb, B->ndim, B->shape);
            return fail(P, node, ShapeError, "%s: a %s and b %s do not fit: %lld equations, %lld rows in b", name, ta,
                        tb, (long long)j.n, (long long)rows);
        }
        if (la_solve_batch(P, node, name, A, B, b_ndim, &nbatch, batch))
            return -1;
    }
    int64_t count = la_count(nbatch, batch), m = j.m, n = j.n, k = m < n ? m : n;
    /* the inputs, C-contiguous and (for a solve) broadcast to the batch */
    int64_t shape[SD_MAXDIM];
    sd_arr ta, tb;
    int own_a = 0, own_b = 0, status = -1;
    memcpy(shape, batch, sizeof(int64_t) * nbatch);
    shape[nbatch] = m, shape[nbatch + 1] = n;
    const sd_arr *a = la_operand(A, B ? nbatch + 2 : A->ndim, B ? shape : A->shape, &ta, &own_a), *b = NULL;
    if (a && B) {
        int64_t bshape[SD_MAXDIM];
        memcpy(bshape, batch, sizeof(int64_t) * nbatch);
        bshape[nbatch] = n;
        bshape[nbatch + 1] = j.k;
        b = la_operand(B, nbatch + b_ndim, bshape, &tb, &own_b);
    }
    if (!a || (B && !b))
        goto done;
    j.in[0] = a->data, j.in_step[0] = m * n;
    if (b)
        j.in[1] = b->data, j.in_step[1] = n * j.k;
    /* the outputs */
    int64_t core[2];
    double flops = (double)m * (double)n * (double)(m < n ? n : m);
    int bad = 0;
    switch (op) {
    case SD_LINALG_CHOLESKY: case SD_LINALG_INV: case SD_LINALG_EXPM:
        core[0] = n, core[1] = n;
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 2, core);
        flops *= op == SD_LINALG_EXPM ? 20 : 1;
        break;
    case SD_LINALG_SOLVE: case SD_LINALG_SOLVE_TRIANGULAR: case SD_LINALG_CHO_SOLVE:
        core[0] = n, core[1] = j.k;
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, b_ndim, core);
        flops += (double)n * (double)n * (double)j.k;
        break;
    case SD_LINALG_DET:
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 0, core);
        break;
    case SD_LINALG_SLOGDET:
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 0, core) ||
              la_output(P, node, &j, 1, outs[1], nbatch, batch, 0, core);
        break;
    case SD_LINALG_EIGH:
        core[0] = n, core[1] = n;
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 1, core) ||
              la_output(P, node, &j, 1, outs[1], nbatch, batch, 2, core);
        flops *= 8;
        break;
    case SD_LINALG_SVD: {
        int64_t ucols = j.option ? m : k, vrows = j.option ? n : k;
        flops *= 8;
        if (!j.option2) {
            bad = la_output(P, node, &j, 1, outs[0], nbatch, batch, 1, &k);
            break;
        }
        int64_t u[2] = {m, ucols}, vt[2] = {vrows, n};
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 2, u) ||
              la_output(P, node, &j, 1, outs[1], nbatch, batch, 1, &k) ||
              la_output(P, node, &j, 2, outs[2], nbatch, batch, 2, vt);
        break;
    }
    case SD_LINALG_QR: {
        int complete = j.option == SD_LA_QR_COMPLETE;
        int64_t q[2] = {m, complete ? m : k}, r[2] = {complete ? m : k, n};
        flops *= 4;
        if (j.option == SD_LA_QR_R)
            bad = la_output(P, node, &j, 1, outs[0], nbatch, batch, 2, r);
        else
            bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 2, q) ||
                  la_output(P, node, &j, 1, outs[1], nbatch, batch, 2, r);
        break;
    }
    case SD_LINALG_PINV:
        core[0] = n, core[1] = m;
        bad = la_output(P, node, &j, 0, outs[0], nbatch, batch, 2, core);
        flops *= 10;
        break;
    default: bad = fail(P, node, PyExc_ValueError, "linalg: unknown op code %d", op);
    }
    if (bad)
        goto done;
    if (op == SD_LINALG_CHO_SOLVE && la_zero_diagonal(a, count, n)) {
        la_error(P, node, op, j.option, SD_LA_SINGULAR, A, B, b_ndim);
        goto done;
    }
    int64_t failed;
    PyThreadState *gil = sd_release_gil((int64_t)(flops * (double)count));
    int la_status = la_run_all(&j, count, flops, &failed);
    sd_restore_gil(gil);
    if (la_status != SD_LA_OK)
        la_error(P, node, op, j.option, la_status, A, B, b_ndim);
    else
        status = 0;
done:
    if (own_a)
        Py_DECREF(ta.obj);
    if (own_b)
        Py_DECREF(tb.obj);
    return status;
}

#endif
