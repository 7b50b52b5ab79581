/* symdl: the C runtime's entry points for convolution and pooling (symdl.tensor.nnet's Conv2d,
 * Conv2dGradInputs, Conv2dGradWeights, Pool2d and Pool2dGrad; Conv3d and its gradients; Pool,
 * PoolGrad and MaxPoolGradGrad over any number of axes), on top of conv.h, conv3d.h, pool.h and
 * pool_nd.h.
 *
 * A part of the runtime extension (symdl_runtime.c includes it), on the runtime's values
 * (runtime_values.h) and BLAS glue (runtime_blas.h). The generated code calls them through the
 * API table (symdl_rt.h); symdl/backend/c/nnet.py emits the calls.
 *
 *   api_conv2d(ctx, node, kind, a, b, hw, out, params)
 *       kind 0: out = conv2d(a = input, b = filters)
 *       kind 1: out = grad wrt input (a = filters, b = output grad, hw = slot of the input's (H, W))
 *       kind 2: out = grad wrt filters (a = input, b = output grad, hw = slot of (kh, kw))
 *       params: border (0 explicit, 1 full, 2 half, 3 same), pad rows, pad cols, stride rows,
 *               stride cols, dilation rows, dilation cols, groups, flip
 *   api_conv3d(ctx, node, kind, a, b, size, out, params)
 *       as api_conv2d with three spatial axes (size: the slot of the input's (D, H, W), or of the
 *       filters' (kd, kh, kw)); params: border (0 explicit, 1 full, 2 half, 3 same), 3 pads,
 *       3 strides, 3 dilations, groups, flip
 *   api_pool2d(ctx, node, backward, x, gz, out, params)
 *       out = pooled x, or (backward) the gradient of x given the output gradient gz
 *       params: window rows, cols, stride rows, cols, pad rows, cols, ignore_border, mode (pool.h's)
 *   api_pool_nd(ctx, node, kind, x, g, ws, stride, pad, out, params)
 *       kind 0: out = x pooled over its last nd axes; 1: the gradient of x given the output
 *       gradient g; 2: g (of x's shape) at each 'max' window's maximum; ws, stride and pad: slots
 *       of integer vectors of nd entries; params: nd, ignore_border, mode (pool.h's)
 *
 * Errors (channel mismatch, filter larger than the padded input, window larger than the input)
 * say the same as the Python implementations.
 */
#ifndef SYMDL_NNET_API_H
#define SYMDL_NNET_API_H

#include "runtime_blas.h"

#include "conv.h"
#include "conv3d.h"
#include "pool.h"
#include "pool_nd.h"

static void nnet_gemm_f32(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                          int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (sd_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) == 0)
        return; /* our AVX-512 kernel (sgemm_avx512.h); it declines where the CPU lacks AVX-512 */
    scipy_cblas_sgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K, 1.0f, A,
                      (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

static void nnet_gemm_f64(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double beta, double *C, int64_t ldc)
{
    scipy_cblas_dgemm(SdRowMajor, ta ? SdTrans : SdNoTrans, tb ? SdTrans : SdNoTrans, (int)M, (int)N, (int)K, 1.0, A,
                      (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* `v` as a C-contiguous array: itself, or a copy in `tmp` (then *owned is set; release with Py_DECREF). */
static const sd_arr *nnet_contiguous(const sd_arr *v, sd_arr *tmp, int *owned)
{
    *owned = 0;
    if (is_c_contiguous(v))
        return v;
    if (contiguous_copy(tmp, v))
        return NULL;
    *owned = 1;
    return tmp;
}

static int nnet_read_pair(Program *P, int node, const sd_arr *v, const char *what, int64_t *a, int64_t *b)
{
    if (v->ndim != 1 || v->shape[0] != 2 || read_int(v, 0, a) || read_int(v, 1, b))
        return fail(P, node, PyExc_TypeError, "%s must be an integer vector of 2 entries", what);
    return 0;
}

static int api_conv2d(sd_ctx *c, int node, int kind, int ia, int ib, int ihw, int out, const int64_t *params)
{
    static const char *names[3] = {"conv2d", "conv2d_grad_inputs", "conv2d_grad_weights"};
    Program *P = PROG(c);
    const char *name = names[kind];
    sd_arr *A = &c->v[ia], *B = &c->v[ib];
    int dtype = A->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || B->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "%s: C code needs two float32 or two float64 arrays", name);
    if (A->ndim != 4 || B->ndim != 4)
        return fail(P, node, ShapeError, "%s needs 4-d arrays", name);
    sd_conv2d_geom g;
    g.groups = params[7];
    g.sh = params[3], g.sw = params[4], g.dh = params[5], g.dw = params[6];
    g.flip = (int)params[8];
    int64_t o, cg;
    if (kind == 0) { /* input, filters */
        g.n = A->shape[0], g.c = A->shape[1], g.h = A->shape[2], g.w = A->shape[3];
        o = B->shape[0], cg = B->shape[1], g.kh = B->shape[2], g.kw = B->shape[3];
    } else if (kind == 1) { /* filters, output grad, input (H, W) */
        o = A->shape[0], cg = A->shape[1], g.kh = A->shape[2], g.kw = A->shape[3];
        g.n = B->shape[0], g.c = cg * g.groups;
        if (nnet_read_pair(P, node, &c->v[ihw], "the input's spatial shape", &g.h, &g.w))
            return -1;
    } else { /* input, output grad, filter (kh, kw) */
        g.n = A->shape[0], g.c = A->shape[1], g.h = A->shape[2], g.w = A->shape[3];
        o = B->shape[1], cg = g.c / (g.groups > 0 ? g.groups : 1);
        if (nnet_read_pair(P, node, &c->v[ihw], "the filter shape", &g.kh, &g.kw))
            return -1;
    }
    g.o = o;
    if (g.groups < 1 || g.c != cg * g.groups)
        return fail(P, node, ShapeError,
                    "%s: the input has %lld channels but the filters (%lld, %lld, %lld, %lld) expect %lld "
                    "(%lld per group x %lld groups)",
                    name, (long long)g.c, (long long)o, (long long)cg, (long long)g.kh, (long long)g.kw,
                    (long long)(cg * g.groups), (long long)cg, (long long)g.groups);
    if (o % g.groups)
        return fail(P, node, ShapeError, "%s: %lld output channels do not split into %lld groups", name, (long long)o,
                    (long long)g.groups);
    int64_t dkh = (g.kh - 1) * g.dh + 1, dkw = (g.kw - 1) * g.dw + 1;
    switch (params[0]) {
    case 1: g.pt = g.pb = dkh - 1, g.pl = g.pr = dkw - 1; break;
    case 2: g.pt = g.pb = dkh / 2, g.pl = g.pr = dkw / 2; break;
    case 3:
        g.pt = (dkh - 1) / 2, g.pb = dkh - 1 - g.pt;
        g.pl = (dkw - 1) / 2, g.pr = dkw - 1 - g.pl;
        break;
    default: g.pt = g.pb = params[1], g.pl = g.pr = params[2]; break;
    }
    int64_t hp = g.h + g.pt + g.pb, wp = g.w + g.pl + g.pr;
    if (dkh > hp || dkw > wp)
        return fail(P, node, ShapeError,
                    "%s: the filter (%lldx%lld, %lldx%lld dilated) is larger than the padded input (%lldx%lld from "
                    "%lldx%lld)",
                    name, (long long)g.kh, (long long)g.kw, (long long)dkh, (long long)dkw, (long long)hp,
                    (long long)wp, (long long)g.h, (long long)g.w);
    g.oh = sd_conv2d_out_size(g.h, g.pt, g.pb, g.kh, g.sh, g.dh);
    g.ow = sd_conv2d_out_size(g.w, g.pl, g.pr, g.kw, g.sw, g.dw);
    if (kind != 0 && (B->shape[1] != o || B->shape[2] != g.oh || B->shape[3] != g.ow)) {
        char got[256];
        shape_text(got, sizeof got, B->ndim, B->shape);
        return fail(P, node, ShapeError, "%s: the output gradient has shape %s, expected (%lld, %lld, %lld, %lld)",
                    name, got, (long long)g.n, (long long)o, (long long)g.oh, (long long)g.ow);
    }
    int64_t shape[4];
    if (kind == 0)
        shape[0] = g.n, shape[1] = o, shape[2] = g.oh, shape[3] = g.ow;
    else if (kind == 1)
        shape[0] = g.n, shape[1] = g.c, shape[2] = g.h, shape[3] = g.w;
    else
        shape[0] = o, shape[1] = cg, shape[2] = g.kh, shape[3] = g.kw;
    sd_arr ta, tb;
    int own_a, own_b;
    const sd_arr *a = nnet_contiguous(A, &ta, &own_a), *b = a ? nnet_contiguous(B, &tb, &own_b) : NULL;
    int status = -1;
    if (a && b && !new_value(P, node, out, dtype, 4, shape)) {
        char *y = c->v[out].data;
        /* With at least as many images as threads, the kernel shares the images among OpenMP
         * threads, each calling the BLAS on its own (single-threaded meanwhile); with fewer images
         * it runs them in turn and the BLAS uses the threads. */
        int threads = g.n >= sd_nthreads ? sd_nthreads : 1;
        int blas = scipy_openblas_get_num_threads();
        if (threads > 1)
            scipy_openblas_set_num_threads(1);
        PyThreadState *gil = sd_release_gil(g.n * o * g.oh * g.ow * cg * g.kh * g.kw / 8);
        if (dtype == NPY_FLOAT32) {
            const float *p = (const float *)a->data, *q = (const float *)b->data;
            status = kind == 0   ? sd_conv2d_forward_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads)
                     : kind == 1 ? sd_conv2d_grad_input_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads)
                                 : sd_conv2d_grad_weights_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads);
        } else {
            const double *p = (const double *)a->data, *q = (const double *)b->data;
            status = kind == 0   ? sd_conv2d_forward_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads)
                     : kind == 1 ? sd_conv2d_grad_input_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads)
                                 : sd_conv2d_grad_weights_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads);
        }
        sd_restore_gil(gil);
        if (threads > 1)
            scipy_openblas_set_num_threads(blas);
        if (status)
            fail(P, node, PyExc_MemoryError, "%s: out of memory for the work buffers", name);
    }
    if (a && own_a)
        Py_DECREF(ta.obj);
    if (b && own_b)
        Py_DECREF(tb.obj);
    return status ? -1 : 0;
}

/* The tuple text of a few sizes: "(3, 3, 3)". */
static const char *nnet_tuple(char *buf, size_t cap, int n, const int64_t *values)
{
    shape_text(buf, cap, n, values);
    return buf;
}

/* The geometry of a 3-d convolution, checked as symdl.tensor.nnet.conv_nd._Geometry. */
static int nnet_conv3d_geometry(Program *P, int node, const char *name, const int64_t *params, int64_t cg,
                                sd_conv3d_geom *g)
{
    char t1[128], t2[128], t3[128], t4[128];
    int64_t wshape[5] = {g->o, cg, g->k[0], g->k[1], g->k[2]};
    if (g->groups < 1 || g->c != cg * g->groups)
        return fail(P, node, ShapeError,
                    "%s: the input has %lld channels but the filters %s expect %lld (%lld per group x %lld groups)",
                    name, (long long)g->c, nnet_tuple(t1, sizeof t1, 5, wshape), (long long)(cg * g->groups),
                    (long long)cg, (long long)g->groups);
    if (g->o % g->groups)
        return fail(P, node, ShapeError, "%s: %lld output channels do not split into %lld groups", name,
                    (long long)g->o, (long long)g->groups);
    int64_t dilated[3], padded[3];
    int larger = 0;
    for (int a = 0; a < 3; a++) {
        dilated[a] = (g->k[a] - 1) * g->dilation[a] + 1;
        int64_t before, after;
        switch (params[0]) {
        case 1: before = after = dilated[a] - 1; break;
        case 2: before = after = dilated[a] / 2; break;
        case 3: before = (dilated[a] - 1) / 2, after = dilated[a] - 1 - before; break;
        default: before = after = params[1 + a]; break;
        }
        g->pad[a] = before;
        padded[a] = g->size[a] + before + after;
        larger |= dilated[a] > padded[a];
        g->out[a] = (padded[a] - dilated[a]) / g->stride[a] + 1;
    }
    if (larger)
        return fail(P, node, ShapeError, "%s: the filter %s (%s dilated) is larger than the padded input %s (from %s)",
                    name, nnet_tuple(t1, sizeof t1, 3, g->k), nnet_tuple(t2, sizeof t2, 3, dilated),
                    nnet_tuple(t3, sizeof t3, 3, padded), nnet_tuple(t4, sizeof t4, 3, g->size));
    return 0;
}

static int nnet_read_triple(Program *P, int node, const sd_arr *v, const char *name, const char *what, int64_t *out)
{
    if (v->ndim != 1 || v->shape[0] != 3 || read_int(v, 0, &out[0]) || read_int(v, 1, &out[1]) ||
        read_int(v, 2, &out[2]))
        return fail(P, node, PyExc_TypeError, "%s: %s must be an integer vector of 3 entries", name, what);
    return 0;
}

static int api_conv3d(sd_ctx *c, int node, int kind, int ia, int ib, int isize, int out, const int64_t *params)
{
    static const char *names[3] = {"conv3d", "conv3d_grad_inputs", "conv3d_grad_weights"};
    Program *P = PROG(c);
    const char *name = names[kind];
    sd_arr *A = &c->v[ia], *B = &c->v[ib];
    int dtype = A->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || B->dtype != dtype)
        return fail(P, node, PyExc_TypeError, "%s: C code needs two float32 or two float64 arrays", name);
    if (A->ndim != 5 || B->ndim != 5)
        return fail(P, node, ShapeError, "%s needs 5-d arrays", name);
    sd_conv3d_geom g;
    g.groups = params[10];
    g.flip = (int)params[11];
    for (int a = 0; a < 3; a++)
        g.stride[a] = params[4 + a], g.dilation[a] = params[7 + a];
    int64_t cg;
    char t1[128], t2[128], t3[128], t4[128];
    if (kind == 0) { /* input, filters */
        g.n = A->shape[0], g.c = A->shape[1], g.o = B->shape[0], cg = B->shape[1];
        for (int a = 0; a < 3; a++)
            g.size[a] = A->shape[2 + a], g.k[a] = B->shape[2 + a];
    } else if (kind == 1) { /* filters, output gradient, the input's (D, H, W) */
        g.o = A->shape[0], cg = A->shape[1], g.n = B->shape[0], g.c = cg * g.groups;
        for (int a = 0; a < 3; a++)
            g.k[a] = A->shape[2 + a];
        if (nnet_read_triple(P, node, &c->v[isize], name, "the input's spatial shape", g.size))
            return -1;
    } else { /* input, output gradient, the filters' (kd, kh, kw) */
        g.n = A->shape[0], g.c = A->shape[1], g.o = B->shape[1];
        if (g.groups < 1 || g.c % g.groups || g.o % g.groups)
            return fail(P, node, ShapeError, "%s: channels %lld -> %lld do not split into %lld groups", name,
                        (long long)g.c, (long long)g.o, (long long)g.groups);
        cg = g.c / g.groups;
        for (int a = 0; a < 3; a++)
            g.size[a] = A->shape[2 + a];
        if (nnet_read_triple(P, node, &c->v[isize], name, "the filter shape", g.k))
            return -1;
    }
    if (nnet_conv3d_geometry(P, node, name, params, cg, &g))
        return -1;
    if (kind != 0 && (B->shape[1] != g.o || B->shape[2] != g.out[0] || B->shape[3] != g.out[1] ||
                      B->shape[4] != g.out[2] || (kind == 2 && B->shape[0] != g.n))) {
        shape_text(t3, sizeof t3, 5, B->shape);
        if (kind == 1)
            return fail(P, node, ShapeError,
                        "%s: an input of spatial size %s gives outputs of size %s, but the output gradient has shape %s",
                        name, nnet_tuple(t1, sizeof t1, 3, g.size), nnet_tuple(t2, sizeof t2, 3, g.out), t3);
        return fail(P, node, ShapeError,
                    "%s: input %s and filters of size %s give outputs of size %s, but the output gradient has shape %s",
                    name, nnet_tuple(t1, sizeof t1, 5, A->shape), nnet_tuple(t2, sizeof t2, 3, g.k),
                    nnet_tuple(t4, sizeof t4, 3, g.out), t3);
    }
    int64_t shape[5];
    if (kind == 0)
        shape[0] = g.n, shape[1] = g.o, memcpy(shape + 2, g.out, sizeof(int64_t) * 3);
    else if (kind == 1)
        shape[0] = g.n, shape[1] = g.c, memcpy(shape + 2, g.size, sizeof(int64_t) * 3);
    else
        shape[0] = g.o, shape[1] = cg, memcpy(shape + 2, g.k, sizeof(int64_t) * 3);
    sd_arr ta, tb;
    int own_a = 0, own_b = 0, status = -1;
    const sd_arr *a = nnet_contiguous(A, &ta, &own_a), *b = a ? nnet_contiguous(B, &tb, &own_b) : NULL;
    if (a && b && !new_value(P, node, out, dtype, 5, shape)) {
        char *y = c->v[out].data;
        const int64_t K = cg * g.k[0] * g.k[1] * g.k[2];
        const int64_t work = g.n * g.o * g.out[0] * g.out[1] * g.out[2] * K;
        if (K == 0 || work == 0) { /* no products: the result is zeros (or empty) */
            memset(y, 0, (size_t)(size_of(&c->v[out]) * itemsize_of(dtype)));
            status = 0;
        } else {
            const int threads = g.n >= sd_nthreads ? sd_nthreads : 1;
            PyThreadState *gil = sd_release_gil(work / 8);
            if (dtype == NPY_FLOAT32) {
                const float *p = (const float *)a->data, *q = (const float *)b->data;
                status = kind == 0   ? sd_conv3d_forward_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads)
                         : kind == 1 ? sd_conv3d_grad_input_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads)
                                     : sd_conv3d_grad_weights_f32(&g, p, q, (float *)y, nnet_gemm_f32, threads);
            } else {
                const double *p = (const double *)a->data, *q = (const double *)b->data;
                status = kind == 0   ? sd_conv3d_forward_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads)
                         : kind == 1 ? sd_conv3d_grad_input_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads)
                                     : sd_conv3d_grad_weights_f64(&g, p, q, (double *)y, nnet_gemm_f64, threads);
            }
            sd_restore_gil(gil);
            if (status)
                fail(P, node, PyExc_MemoryError, "%s: out of memory for the work buffers", name);
        }
    }
    if (own_a)
        Py_DECREF(ta.obj);
    if (own_b)
        Py_DECREF(tb.obj);
    return status ? -1 : 0;
}

/* Output length of one pooled axis, as symdl.tensor.nnet.pool.pool_output_size. */
static int64_t nnet_pool_out(int64_t size, int64_t ws, int64_t stride, int64_t pad, int ignore_border)
{
    int64_t padded = size + 2 * pad;
    if (ignore_border)
        return padded - ws >= 0 ? (padded - ws) / stride + 1 : 0;
    if (stride >= ws)
        return (padded - 1) / stride + 1;
    int64_t k = (padded - 1 - ws + stride) / stride;
    return (k > 0 ? k : 0) + 1;
}

static int api_pool2d(sd_ctx *c, int node, int backward, int ix, int igz, int out, const int64_t *params)
{
    Program *P = PROG(c);
    const char *name = backward ? "pool_2d_grad" : "pool_2d";
    sd_arr *X = &c->v[ix];
    int dtype = X->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || X->ndim < 2)
        return fail(P, node, PyExc_TypeError, "%s: C code needs a float32 or float64 array of 2 or more dimensions",
                    name);
    sd_pool2d_geom g;
    g.kh = params[0], g.kw = params[1], g.sh = params[2], g.sw = params[3], g.ph = params[4], g.pw = params[5];
    g.mode = (int)params[7];
    g.h = X->shape[X->ndim - 2], g.w = X->shape[X->ndim - 1];
    g.oh = nnet_pool_out(g.h, g.kh, g.sh, g.ph, (int)params[6]);
    g.ow = nnet_pool_out(g.w, g.kw, g.sw, g.pw, (int)params[6]);
    if (g.oh < 1 || g.ow < 1)
        return fail(P, node, ShapeError,
                    "pool_2d: window (%lld, %lld) is larger than the input (%lld, %lld) (padded by (%lld, %lld)) with "
                    "ignore_border=True",
                    (long long)g.kh, (long long)g.kw, (long long)g.h, (long long)g.w, (long long)g.ph,
                    (long long)g.pw);
    g.planes = 1;
    int64_t shape[SD_MAXDIM];
    for (int d = 0; d < X->ndim - 2; d++) {
        g.planes *= X->shape[d];
        shape[d] = X->shape[d];
    }
    shape[X->ndim - 2] = backward ? g.h : g.oh;
    shape[X->ndim - 1] = backward ? g.w : g.ow;
    sd_arr tx, tg;
    int own_x, own_g = 0;
    const sd_arr *x = nnet_contiguous(X, &tx, &own_x), *gz = NULL;
    if (x && backward) {
        sd_arr *G = &c->v[igz];
        int ok = G->dtype == dtype && G->ndim == X->ndim;
        for (int d = 0; ok && d < X->ndim; d++)
            ok = G->shape[d] == (d < X->ndim - 2 ? X->shape[d] : d == X->ndim - 2 ? g.oh : g.ow);
        if (!ok) {
            char got[256];
            shape_text(got, sizeof got, G->ndim, G->shape);
            fail(P, node, ShapeError, "pool_2d_grad: the output gradient of shape %s does not match the pooled shape",
                 got);
        } else {
            gz = nnet_contiguous(G, &tg, &own_g);
        }
    }
    int status = -1;
    if (x && (!backward || gz) && !new_value(P, node, out, dtype, X->ndim, shape)) {
        char *y = c->v[out].data;
        int threads = sd_nthreads;
        PyThreadState *gil = sd_release_gil(g.planes * g.oh * g.ow * g.kh * g.kw);
        if (dtype == NPY_FLOAT32) {
            if (backward)
                sd_pool2d_backward_f32(&g, (const float *)x->data, (const float *)gz->data, (float *)y, threads);
            else
                sd_pool2d_forward_f32(&g, (const float *)x->data, (float *)y, threads);
        } else {
            if (backward)
                sd_pool2d_backward_f64(&g, (const double *)x->data, (const double *)gz->data, (double *)y, threads);
            else
                sd_pool2d_forward_f64(&g, (const double *)x->data, (double *)y, threads);
        }
        sd_restore_gil(gil);
        status = 0;
    }
    if (x && own_x)
        Py_DECREF(tx.obj);
    if (gz && own_g)
        Py_DECREF(tg.obj);
    return status;
}

/* The pooling parameters of api_pool_nd, checked as symdl.tensor.nnet.pool_nd's _check_params. */
static int nnet_pool_params(Program *P, int node, sd_ctx *c, const int *slots, int nd, int ignore_border,
                            sd_poolnd_geom *g)
{
    static const char *what[3] = {"window", "stride", "padding"};
    int64_t *dst[3] = {g->ws, g->stride, g->pad};
    for (int k = 0; k < 3; k++) {
        const sd_arr *v = &c->v[slots[k]];
        if (v->ndim != 1 || v->shape[0] != nd)
            return fail(P, node, ShapeError, "pool: the %s must be a vector of %d integers", what[k], nd);
        for (int a = 0; a < nd; a++)
            if (read_int(v, a, &dst[k][a]))
                return fail(P, node, PyExc_TypeError, "pool: the %s must be a vector of %d integers", what[k], nd);
    }
    char ws[256], stride[256], pad[256];
    shape_text(ws, sizeof ws, nd, g->ws);
    shape_text(stride, sizeof stride, nd, g->stride);
    shape_text(pad, sizeof pad, nd, g->pad);
    int any_pad = 0, positive = 1, non_negative = 1, smaller = 1;
    for (int a = 0; a < nd; a++) {
        positive &= g->ws[a] >= 1 && g->stride[a] >= 1;
        non_negative &= g->pad[a] >= 0;
        any_pad |= g->pad[a] != 0;
        smaller &= g->pad[a] < g->ws[a];
    }
    if (!positive)
        return fail(P, node, PyExc_ValueError, "pool: window %s and stride %s must be positive", ws, stride);
    if (!non_negative)
        return fail(P, node, PyExc_ValueError, "pool: padding %s must be non-negative", pad);
    if (any_pad && !ignore_border)
        return fail(P, node, PyExc_ValueError, "pool: padding needs ignore_border=True (as Theano)");
    if (any_pad && !smaller)
        return fail(P, node, PyExc_ValueError, "pool: padding %s must be smaller than the window %s", pad, ws);
    return 0;
}

static int api_pool_nd(sd_ctx *c, int node, int kind, int ix, int ig, int iws, int istride, int ipad, int out,
                       const int64_t *params)
{
    Program *P = PROG(c);
    const int nd = (int)params[0], ignore_border = (int)params[1];
    const sd_arr *X = &c->v[ix], *G = kind ? &c->v[ig] : NULL;
    int dtype = X->dtype;
    if ((dtype != NPY_FLOAT32 && dtype != NPY_FLOAT64) || (G && G->dtype != dtype))
        return fail(P, node, PyExc_TypeError, "pool: C code needs float32 or float64 arrays of one dtype");
    if (nd < 1 || nd > SD_POOLND_MAXDIM || X->ndim < nd)
        return fail(P, node, ShapeError, "pool: %d pooled axes of a %d-d value", nd, X->ndim);
    sd_poolnd_geom g;
    g.nd = nd;
    g.mode = (int)params[2];
    int slots[3] = {iws, istride, ipad};
    if (nnet_pool_params(P, node, c, slots, nd, ignore_border, &g))
        return -1;
    int lead = X->ndim - nd, small = 0;
    g.planes = 1;
    for (int d = 0; d < lead; d++)
        g.planes *= X->shape[d];
    int64_t pooled[SD_MAXDIM];
    memcpy(pooled, X->shape, sizeof(int64_t) * lead);
    for (int a = 0; a < nd; a++) {
        g.size[a] = X->shape[lead + a];
        g.out[a] = nnet_pool_out(g.size[a], g.ws[a], g.stride[a], g.pad[a], ignore_border);
        pooled[lead + a] = g.out[a];
        small |= g.out[a] < 1;
    }
    if (small) {
        char ws[256], size[256], pad[256];
        shape_text(ws, sizeof ws, nd, g.ws);
        shape_text(size, sizeof size, nd, g.size);
        shape_text(pad, sizeof pad, nd, g.pad);
        return fail(P, node, ShapeError, "pool: window %s is larger than the input %s (padded by %s) with ignore_border=True",
                    ws, size, pad);
    }
    if (G) { /* the output gradient has the pooled shape; ggx that of x */
        const int64_t *want = kind == 1 ? pooled : X->shape;
        int fits = G->ndim == X->ndim;
        for (int d = 0; fits && d < X->ndim; d++)
            fits = G->shape[d] == want[d];
        if (!fits) {
            char got[256], expected[256];
            shape_text(got, sizeof got, G->ndim, G->shape);
            shape_text(expected, sizeof expected, X->ndim, want);
            return fail(P, node, ShapeError, "pool: %s of shape %s, expected %s",
                        kind == 1 ? "the output gradient" : "the gradient of the input gradient", got, expected);
        }
    }
    sd_arr tx, tg;
    int own_x = 0, own_g = 0, status = -1;
    const sd_arr *x = nnet_contiguous(X, &tx, &own_x), *gv = NULL;
    if (x && G)
        gv = nnet_contiguous(G, &tg, &own_g);
    if (x && (!G || gv) && !new_value(P, node, out, dtype, X->ndim, kind == 1 ? X->shape : pooled)) {
        char *y = c->v[out].data;
        const int64_t work = g.planes * sd_poolnd_count(nd, g.out) * sd_poolnd_count(nd, g.ws);
        const int threads = work >= sd_par_threshold && g.planes > 1 ? sd_nthreads : 1;
        PyThreadState *gil = sd_release_gil(work);
        if (dtype == NPY_FLOAT32) {
            const float *xd = (const float *)x->data, *gd = gv ? (const float *)gv->data : NULL;
            status = kind == 0   ? sd_poolnd_forward_f32(&g, xd, (float *)y, threads)
                     : kind == 1 ? sd_poolnd_backward_f32(&g, xd, gd, (float *)y, threads)
                                 : sd_poolnd_select_f32(&g, xd, gd, (float *)y, threads);
        } else {
            const double *xd = (const double *)x->data, *gd = gv ? (const double *)gv->data : NULL;
            status = kind == 0   ? sd_poolnd_forward_f64(&g, xd, (double *)y, threads)
                     : kind == 1 ? sd_poolnd_backward_f64(&g, xd, gd, (double *)y, threads)
                                 : sd_poolnd_select_f64(&g, xd, gd, (double *)y, threads);
        }
        sd_restore_gil(gil);
        if (status)
            fail(P, node, PyExc_MemoryError, "pool: out of memory for the work buffers");
    }
    if (own_x)
        Py_DECREF(tx.obj);
    if (own_g)
        Py_DECREF(tg.obj);
    return status ? -1 : 0;
}

#endif
