/* symdl C runtime: what loops compiled into a module need (symdl.scan's lowering), and what
 * the C code of an op written outside symdl calls (a new value of a given shape, an error).
 *
 * A loop keeps each recurrent state in a store: an array of rows, the initial ones first, then
 * one per step. Per step, the body's inputs are views of rows (row_view), its new values are
 * computed in their rows (target) or copied into them (set_rows); the loop's results are views of
 * row ranges (rows_view).
 */
#ifndef SYMDL_RUNTIME_LOOPS_H
#define SYMDL_RUNTIME_LOOPS_H

#include "runtime_views.h"

/* `dst`: a new array of `rows` rows, each shaped like `like`'s value without its first `drop`
 * dimensions, of `like`'s dtype */
static int api_alloc_rows(sd_ctx *c, int node, int dst, int like, int drop, int64_t rows)
{
    Program *P = PROG(c);
    const sd_arr *l = &c->v[like];
    int ndim = l->ndim - drop + 1;
    if (ndim > SD_MAXDIM || ndim < 1)
        return fail(P, node, ShapeError, "rows of %d dimensions", l->ndim - drop);
    int64_t shape[SD_MAXDIM];
    shape[0] = rows;
    for (int d = drop; d < l->ndim; d++)
        shape[1 + d - drop] = l->shape[d];
    return new_value(P, node, dst, l->dtype, ndim, shape);
}

/* `dst`: a view of row `index` of `src` */
static int api_row_view(sd_ctx *c, int node, int dst, int src, int64_t index)
{
    Program *P = PROG(c);
    const sd_arr s = c->v[src];
    if (s.ndim < 1 || index < 0 || index >= s.shape[0])
        return fail(P, node, PyExc_IndexError, "row %lld of a value with %lld rows", (long long)index,
                    (long long)(s.ndim ? s.shape[0] : 0));
    sd_arr *o = &c->v[dst];
    make_view(o, &s);
    o->ndim = s.ndim - 1;
    o->data = s.data + index * s.strides[0] * itemsize_of(s.dtype);
    for (int d = 0; d < o->ndim; d++) {
        o->shape[d] = s.shape[d + 1];
        o->strides[d] = s.strides[d + 1];
    }
    return 0;
}

/* `dst`: a view of rows [start, start + count) of `src` */
static int api_rows_view(sd_ctx *c, int node, int dst, int src, int64_t start, int64_t count)
{
    Program *P = PROG(c);
    const sd_arr s = c->v[src];
    if (s.ndim < 1 || start < 0 || count < 0 || start + count > s.shape[0])
        return fail(P, node, PyExc_IndexError, "rows %lld to %lld of a value with %lld rows", (long long)start,
                    (long long)(start + count), (long long)(s.ndim ? s.shape[0] : 0));
    sd_arr *o = &c->v[dst];
    make_view(o, &s);
    o->ndim = s.ndim;
    o->data = s.data + start * s.strides[0] * itemsize_of(s.dtype);
    memcpy(o->shape, s.shape, sizeof(int64_t) * s.ndim);
    memcpy(o->strides, s.strides, sizeof(int64_t) * s.ndim);
    o->shape[0] = count;
    return 0;
}

/* copy `src` into `dst`: into rows [start, start + rows of src) when `src_is_rows`, else into row
 * `start`; the rows' shapes and the dtypes must match (a loop's state keeps its shape) */
static int api_set_rows(sd_ctx *c, int node, int dst, int64_t start, int src, int src_is_rows)
{
    Program *P = PROG(c);
    const sd_arr *d = &c->v[dst], *s = &c->v[src];
    int row_ndim = s->ndim - (src_is_rows ? 1 : 0);
    int fits = row_ndim == d->ndim - 1 && s->dtype == d->dtype && row_ndim >= 0;
    for (int k = 0; fits && k < row_ndim; k++)
        fits = s->shape[k + (src_is_rows ? 1 : 0)] == d->shape[k + 1];
    if (!fits) {
        char got[256], want[256];
        shape_text(got, sizeof got, row_ndim > 0 ? row_ndim : 0, s->shape + (src_is_rows ? 1 : 0));
        shape_text(want, sizeof want, d->ndim - 1, d->shape + 1);
        return fail(P, node, ShapeError,
                    "a step's value of shape %s (%s) does not fit the loop's rows of shape %s (%s): an output fed back "
                    "keeps its shape",
                    got, dtype_name(s->dtype), want, dtype_name(d->dtype));
    }
    int64_t count = src_is_rows ? s->shape[0] : 1;
    if (start < 0 || start + count > d->shape[0])
        return fail(P, node, PyExc_IndexError, "rows %lld to %lld of a store of %lld rows", (long long)start,
                    (long long)(start + count), (long long)d->shape[0]);
    sd_arr rows = *d;
    rows.data += start * d->strides[0] * itemsize_of(d->dtype);
    if (src_is_rows) {
        rows.shape[0] = count;
    } else {
        rows.ndim = d->ndim - 1;
        memmove(rows.shape, d->shape + 1, sizeof(int64_t) * rows.ndim);
        memmove(rows.strides, d->strides + 1, sizeof(int64_t) * rows.ndim);
    }
    if (!same_view(&rows, s)) /* else the value was computed in its row (api_target) */
        copy_into(&rows, s);
    return 0;
}

/* `slot`'s next new value goes into `dst`'s memory where it fits (see new_value); -1: no more */
static int api_target(sd_ctx *c, int slot, int dst)
{
    PROG(c)->target[slot] = dst + 1;
    return 0;
}

/* the same where `dst` need not be C-contiguous: only for values that elementwise ops make */
static int api_target_part(sd_ctx *c, int slot, int dst)
{
    PROG(c)->target[slot] = -(dst + 1);
    return 0;
}

/* `dst`: a view of [start, start + count) of `src` along `axis` */
static int api_part_view(sd_ctx *c, int node, int dst, int src, int axis, int64_t start, int64_t count)
{
    Program *P = PROG(c);
    const sd_arr s = c->v[src];
    if (axis < 0 || axis >= s.ndim || start < 0 || count < 0 || start + count > s.shape[axis])
        return fail(P, node, PyExc_IndexError, "part %lld to %lld of axis %d of a value of %d dimensions",
                    (long long)start, (long long)(start + count), axis, s.ndim);
    sd_arr *o = &c->v[dst];
    make_view(o, &s);
    o->ndim = s.ndim;
    memcpy(o->shape, s.shape, sizeof(int64_t) * s.ndim);
    memcpy(o->strides, s.strides, sizeof(int64_t) * s.ndim);
    o->shape[axis] = count;
    o->data = s.data + start * s.strides[axis] * itemsize_of(s.dtype);
    return 0;
}

/* the C code of an op defined outside symdl: a new value for `slot` (an output of node `node`) */
static int api_value(sd_ctx *c, int node, int slot, int dtype, int ndim, const int64_t *shape)
{
    Program *P = PROG(c);
    if (ndim < 0 || ndim > SD_MAXDIM)
        return fail(P, node, ShapeError, "a value of %d dimensions (at most %d)", ndim, SD_MAXDIM);
    if (itemsize_of(dtype) <= 0)
        return fail(P, node, PyExc_TypeError, "unknown dtype code %d", dtype);
    return new_value(P, node, slot, dtype, ndim, shape);
}

/* ... and its errors: kind SD_ERROR_SHAPE, _VALUE, _INDEX, _TYPE or _LINALG, with a message
 * formatted as by printf */
static int api_error(sd_ctx *c, int node, int kind, const char *format, ...)
{
    PyObject *types[] = {ShapeError, PyExc_ValueError, PyExc_IndexError, PyExc_TypeError, LinAlgError};
    PyObject *type = kind >= 0 && kind < 5 ? types[kind] : PyExc_RuntimeError;
    char message[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(message, sizeof message, format, ap);
    va_end(ap);
    return fail(PROG(c), node, type, "%s", message);
}

#endif
