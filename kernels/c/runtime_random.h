/* symdl C runtime: draws of symdl.tensor.random's RandomVariable (uniform, normal, binomial, and
 * so bernoulli and dropout masks) with Philox-4x32-10 (philox.h), by the contract in that
 * module's docstring, so that the C backend draws from a state the numbers that NumPy's perform
 * and the CUDA backend draw: uniform and binomial bit for bit, normal up to libm's log1p, cos and
 * sin. Parameters are single values (0-d or size-1 slots): symdl/backend/c/nnet.py emits the call
 * only for those, and other draws run their Python perform.
 *
 *   api_random(ctx, node, kind, state, shape, a, b, n, new_state, out)
 *       kind 0 uniform (a, b: low, high), 1 normal (a, b: avg, std), 2 binomial (a: p, n trials);
 *       state: the uint64 vector [key, stream, counter]; shape: the sample's shape (integers);
 *       new_state gets [key, stream, counter + the blocks used], out the sample (its slot's dtype).
 */
#ifndef SYMDL_RUNTIME_RANDOM_H
#define SYMDL_RUNTIME_RANDOM_H

#include "runtime_values.h"

#include "philox.h"
#include <math.h>

enum { SD_RANDOM_UNIFORM = 0, SD_RANDOM_NORMAL = 1, SD_RANDOM_BINOMIAL = 2 };

/* the single value of a 0-d or size-1 slot as a double (as np.asarray(v, np.float64)) */
static int read_real(const sd_arr *a, double *value)
{
    if (size_of(a) != 1)
        return -1;
    switch (a->dtype) {
    case NPY_FLOAT32: *value = *(const float *)a->data; return 0;
    case NPY_FLOAT64: *value = *(const double *)a->data; return 0;
    case NPY_UINT64: *value = (double)*(const uint64_t *)a->data; return 0;
    }
    sd_arr one = *a;
    one.ndim = 0;
    int64_t i;
    if (read_int(&one, 0, &i))
        return -1;
    *value = (double)i;
    return 0;
}

/* low + (high - low) * u and avg + std * z with two roundings, as NumPy computes them: the
 * product goes through memory, so that the compiler cannot fuse it with the sum (an FMA rounds
 * once, and the last bit would differ). */
static float affine_f32(float low, float span, float u)
{
    volatile float product = span * u;
    return low + product;
}

static double affine_f64(double low, double span, double u)
{
    volatile double product = span * u;
    return low + product;
}

static double uniform53(const uint32_t *w)
{
    return sd_uniform53(w[0], w[1]);
}


/* Words [0, n) of the call starting at `state`, blocks shared among threads. */
static void philox_words(const uint64_t state[3], int64_t n, uint32_t *words, int threads)
{
    int64_t blocks = (n + 3) / 4;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t lo = blocks * t / T, hi = blocks * (t + 1) / T;
        if (lo < hi) {
            uint64_t part[3] = {state[0], state[1], state[2] + (uint64_t)lo};
            int64_t count = (hi - lo) * 4 < n - lo * 4 ? (hi - lo) * 4 : n - lo * 4;
            sd_philox_fill(part, count, words + lo * 4);
        }
    }
}

/* the sample from its words (see symdl.tensor.random's contract) */
static void random_map(int kind, int dtype, const uint32_t *w, int64_t size, double a, double b, int64_t n,
                       char *out)
{
    if (kind == SD_RANDOM_UNIFORM && dtype == NPY_FLOAT32) {
        float low = (float)a, span = (float)b - (float)a;
        for (int64_t i = 0; i < size; i++)
            ((float *)out)[i] = affine_f32(low, span, sd_uniform24(w[i]));
    } else if (kind == SD_RANDOM_UNIFORM) {
        for (int64_t i = 0; i < size; i++)
            ((double *)out)[i] = affine_f64(a, b - a, uniform53(w + 2 * i));
    } else if (kind == SD_RANDOM_NORMAL) {
        for (int64_t i = 0; i < size; i++) {
            const uint32_t *pair = w + 4 * (i / 2);
            double r = sqrt(-2.0 * log1p(-uniform53(pair))), theta = 2.0 * M_PI * uniform53(pair + 2);
            double z = affine_f64(a, b, i % 2 ? r * sin(theta) : r * cos(theta));
            if (dtype == NPY_FLOAT32)
                ((float *)out)[i] = (float)z;
            else
                ((double *)out)[i] = z;
        }
    } else {
        /* a loop per dtype, and one for a single trial (bernoulli): dropout's masks are these,
         * and a store through a switch, or a trial loop, per element costs more than the words */
#define SD_BINOMIAL(T, VALUE)                                                                          \
    if (n == 1) {                                                                                      \
        for (int64_t i = 0; i < size; i++) {                                                           \
            int64_t hits = sd_bernoulli(w[i], a);                                                      \
            ((T *)out)[i] = VALUE;                                                                     \
        }                                                                                              \
    } else {                                                                                           \
        for (int64_t i = 0; i < size; i++) {                                                           \
            int64_t hits = 0;                                                                          \
            for (int64_t j = 0; j < n; j++)                                                            \
                hits += sd_bernoulli(w[i * n + j], a);                                                 \
            ((T *)out)[i] = VALUE;                                                                     \
        }                                                                                              \
    }                                                                                                  \
    break
        switch (dtype) {
        case NPY_BOOL: SD_BINOMIAL(npy_bool, hits != 0);
        case NPY_INT8: SD_BINOMIAL(int8_t, (int8_t)hits);
        case NPY_UINT8: SD_BINOMIAL(uint8_t, (uint8_t)hits);
        case NPY_INT16: SD_BINOMIAL(int16_t, (int16_t)hits);
        case NPY_UINT16: SD_BINOMIAL(uint16_t, (uint16_t)hits);
        case NPY_INT32: SD_BINOMIAL(int32_t, (int32_t)hits);
        case NPY_UINT32: SD_BINOMIAL(uint32_t, (uint32_t)hits);
        case NPY_INT64: SD_BINOMIAL(int64_t, hits);
        case NPY_UINT64: SD_BINOMIAL(uint64_t, (uint64_t)hits);
        case NPY_FLOAT32: SD_BINOMIAL(float, (float)hits);
        default: SD_BINOMIAL(double, (double)hits);
        }
#undef SD_BINOMIAL
    }
}

static int api_random(sd_ctx *c, int node, int kind, int istate, int ishape, int ia, int ib, int64_t n,
                      int inew, int out)
{
    static const char *names[3] = {"random_uniform", "random_normal", "random_binomial"};
    Program *P = PROG(c);
    const char *name = names[kind];
    sd_arr *st = &c->v[istate], *sh = &c->v[ishape];
    if (st->dtype != NPY_UINT64 || st->ndim != 1 || st->shape[0] != 3)
        return fail(P, node, PyExc_TypeError, "%s: the state must be a uint64 vector [key, stream, counter]", name);
    int dtype = P->slot_dtype[out], ndim = P->slot_ndim[out];
    if (sh->ndim != 1 || sh->shape[0] != ndim)
        return fail(P, node, ShapeError, "%s: the shape vector has %lld entries, expected %d", name,
                    (long long)(sh->ndim ? sh->shape[0] : 0), ndim);
    int64_t shape[SD_MAXDIM], size = 1;
    for (int d = 0; d < ndim; d++) {
        if (read_int(sh, d, &shape[d]))
            return fail(P, node, PyExc_TypeError, "%s: shape entries must be integers", name);
        if (shape[d] < 0)
            return fail(P, node, PyExc_ValueError, "%s: negative dimensions are not allowed", name);
        size *= shape[d];
    }
    double a = 0.0, b = 0.0;
    if (read_real(&c->v[ia], &a) || (kind != SD_RANDOM_BINOMIAL && read_real(&c->v[ib], &b)))
        return fail(P, node, PyExc_TypeError, "%s: C code needs single-valued parameters", name);
    uint64_t state[3];
    for (int k = 0; k < 3; k++)
        state[k] = *(const uint64_t *)(st->data + k * st->strides[0] * 8);
    int64_t words = kind == SD_RANDOM_BINOMIAL                              ? size * n
                    : kind == SD_RANDOM_NORMAL                              ? 4 * ((size + 1) / 2)
                    : kind == SD_RANDOM_UNIFORM && dtype == NPY_FLOAT32 ? size
                                                                            : 2 * size;
    int64_t three = 3;
    if (new_value(P, node, inew, NPY_UINT64, 1, &three) || new_value(P, node, out, dtype, ndim, shape))
        return -1;
    uint64_t *next = (uint64_t *)c->v[inew].data;
    next[0] = state[0], next[1] = state[1], next[2] = state[2] + (uint64_t)((words + 3) / 4);
    uint32_t *w = malloc((size_t)(words > 0 ? words : 1) * sizeof(uint32_t));
    if (!w)
        return fail(P, node, PyExc_MemoryError, "%s: out of memory for %lld random words", name, (long long)words);
    int64_t work = words * 8; /* Philox: ten rounds of two products per block of four words */
    PyThreadState *gil = sd_release_gil(work);
    philox_words(state, words, w, work >= sd_par_threshold ? sd_nthreads : 1);
    random_map(kind, dtype, w, size, a, b, n, c->v[out].data);
    sd_restore_gil(gil);
    free(w);
    return 0;
}

#endif
