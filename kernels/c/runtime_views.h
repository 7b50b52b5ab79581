/* symdl C runtime: views and shapes (dimshuffle, reshape, shape, subtensor, split), and the ops that
 * build arrays from others (alloc, join, the sum of a broadcast gradient back to its input's
 * shape, arange).
 */
#ifndef SYMDL_RUNTIME_VIEWS_H
#define SYMDL_RUNTIME_VIEWS_H

#include "runtime_reduce.h"

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

/* The part of `x` that a subtensor template selects: its shape and strides in `part` (whose data
 * pointer is moved to the part's first element); `part` shares x's memory and owns nothing. */
static int index_part(sd_ctx *c, int node, const sd_arr *x, int ne, const int64_t *e, const int *args, sd_arr *part)
{
    Program *P = PROG(c);
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
    *part = *x;
    part->obj = NULL;
    part->data = x->data + offset * itemsize_of(x->dtype);
    part->ndim = nd;
    memcpy(part->shape, shape, sizeof(int64_t) * nd);
    memcpy(part->strides, strides, sizeof(int64_t) * nd);
    return 0;
}

static int api_subtensor(sd_ctx *c, int node, int in, int out, int ne, const int64_t *e, const int *args)
{
    sd_arr tmp = c->v[in], part;
    if (index_part(c, node, &tmp, ne, e, args, &part))
        return -1;
    sd_arr *o = &c->v[out];
    make_view(o, &tmp);
    o->data = part.data;
    o->ndim = part.ndim;
    memcpy(o->shape, part.shape, sizeof(int64_t) * part.ndim);
    memcpy(o->strides, part.strides, sizeof(int64_t) * part.ndim);
    return 0;
}

/* b[...] += a[...] along one dimension of the iterator (p[0]: a, p[1]: b) */
#define ADD_KERNEL(NAME, T)                                        \
    static void add_##NAME(int64_t n, char **p, const int64_t *s)  \
    {                                                              \
        const T *restrict a = (const T *)p[0];                     \
        T *restrict b = (T *)p[1];                                 \
        for (int64_t i = 0; i < n; i++)                            \
            b[i * s[1]] = (T)(b[i * s[1]] + a[i * s[0]]);          \
    }
ADD_KERNEL(f32, float)
ADD_KERNEL(f64, double)
ADD_KERNEL(i8, int8_t)
ADD_KERNEL(i16, int16_t)
ADD_KERNEL(i32, int32_t)
ADD_KERNEL(i64, int64_t)
ADD_KERNEL(u8, uint8_t)
ADD_KERNEL(u16, uint16_t)
ADD_KERNEL(u32, uint32_t)
ADD_KERNEL(u64, uint64_t)

/* a copy of `in` with the part that the template selects set to `value`, or incremented by it
 * (`set` 0), `value` broadcast to the part's shape (basic indexing: slices, integers, new axes) */
static int api_inc_subtensor(sd_ctx *c, int node, int in, int value, int out, int ne, const int64_t *e,
                             const int *args, int set)
{
    Program *P = PROG(c);
    sd_arr x = c->v[in];
    if (new_value(P, node, out, x.dtype, x.ndim, x.shape))
        return -1;
    sd_arr *o = &c->v[out];
    copy_into(o, &x);
    sd_arr part;
    if (index_part(c, node, o, ne, e, args, &part))
        return -1;
    const sd_arr *y = &c->v[value];
    int fits = y->ndim <= part.ndim && y->dtype == part.dtype;
    for (int d = 1; fits && d <= y->ndim; d++) {
        int64_t want = part.shape[part.ndim - d], got = y->shape[y->ndim - d];
        fits = got == want || got == 1;
    }
    if (!fits) {
        char got[256], want[256];
        shape_text(got, sizeof got, y->ndim, y->shape);
        shape_text(want, sizeof want, part.ndim, part.shape);
        return fail(P, node, ShapeError, "a value of shape %s does not fit the part of shape %s", got, want);
    }
    if (set) {
        copy_into(&part, y);
        return 0;
    }
    sd_kernel kernel;
    switch (part.dtype) {
    case SD_FLOAT32: kernel = add_f32; break;
    case SD_FLOAT64: kernel = add_f64; break;
    case SD_INT8: kernel = add_i8; break;
    case SD_INT16: kernel = add_i16; break;
    case SD_INT32: kernel = add_i32; break;
    case SD_INT64: kernel = add_i64; break;
    case SD_UINT8: kernel = add_u8; break;
    case SD_UINT16: kernel = add_u16; break;
    case SD_UINT32: kernel = add_u32; break;
    case SD_UINT64: kernel = add_u64; break;
    default: return fail(P, node, PyExc_TypeError, "cannot add values of %s", dtype_name(part.dtype));
    }
    sd_iter it;
    it.nops = 2;
    it.D = part.ndim;
    memcpy(it.shape, part.shape, sizeof(int64_t) * part.ndim);
    iter_operand(&it, 0, y);
    iter_operand(&it, 1, &part);
    coalesce(&it);
    iter_run(&it, kernel, 1, 0);
    return 0;
}

/* outs[k]: a view of piece k of `in` along `axis`, the pieces' lengths the integer vector `sizes` */
static int api_split(sd_ctx *c, int node, int in, int sizes, int axis, int n, const int *outs)
{
    Program *P = PROG(c);
    const sd_arr x = c->v[in], *s = &c->v[sizes];
    int ok = axis >= 0 && axis < x.ndim && s->ndim == 1 && s->shape[0] == n;
    int64_t total = 0, length;
    for (int k = 0; ok && k < n; k++) {
        ok = !read_int(s, k, &length) && length >= 0;
        total += length;
    }
    if (!ok || total != x.shape[axis]) {
        char text[256], shape[256];
        size_t used = 0;
        used += snprintf(text, sizeof text, "[");
        for (int64_t k = 0; s->ndim == 1 && k < s->shape[0] && used < sizeof text; k++)
            used += read_int(s, k, &length) ? snprintf(text + used, sizeof text - used, "%s?", k ? ", " : "")
                                            : snprintf(text + used, sizeof text - used, "%s%lld", k ? ", " : "",
                                                       (long long)length);
        if (used < sizeof text)
            snprintf(text + used, sizeof text - used, "]");
        shape_text(shape, sizeof shape, x.ndim, x.shape);
        return fail(P, node, ShapeError, "split: sizes %s do not split axis %d of shape %s into %d pieces", text, axis,
                    shape, n);
    }
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        read_int(s, k, &length);
        sd_arr *o = &c->v[outs[k]];
        make_view(o, &x);
        o->ndim = x.ndim;
        memcpy(o->shape, x.shape, sizeof(int64_t) * x.ndim);
        memcpy(o->strides, x.strides, sizeof(int64_t) * x.ndim);
        o->shape[axis] = length;
        if (length) /* an empty piece past the end keeps a pointer inside the array */
            o->data += start * x.strides[axis] * itemsize_of(x.dtype);
        start += length;
    }
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
        if (!same_view(&part, a)) /* else made in its part (api_target_part) */
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

#endif
