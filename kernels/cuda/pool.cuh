// symdl CUDA pooling over the last two axes (symdl.tensor.nnet.pool semantics): one thread per
// output for the forward pass, one thread per input element for the gradient (it gathers from
// the windows that cover it, so no atomics). Modes: 0 max, 1 sum, 2 average_inc_pad,
// 3 average_exc_pad. Padding is -inf for max (it never wins) and 0 otherwise; windows running
// past the padded input (ignore_border=False) are truncated. Leading axes are "planes",
// addressed through a collapsed shape and strides. Needs scalar.cuh and reduce.cuh first.

struct symdl_pool_geometry {
    long long h, w, oh, ow;   // input and output sizes
    long long kh, kw, sh, sw; // window and stride
    long long ph, pw, mode, planes;
};

// How many positions of window (i, j) count for the average modes.
SYMDL_DEV long long symdl_pool_count(const symdl_pool_geometry& g, long long i, long long j) {
    long long r0 = i * g.sh, r1 = r0 + g.kh, c0 = j * g.sw, c1 = c0 + g.kw;
    if (g.mode == 2) {
        r1 = r1 < g.h + 2 * g.ph ? r1 : g.h + 2 * g.ph;
        c1 = c1 < g.w + 2 * g.pw ? c1 : g.w + 2 * g.pw;
    } else {
        r0 = r0 > g.ph ? r0 : g.ph;
        c0 = c0 > g.pw ? c0 : g.pw;
        r1 = r1 < g.h + g.ph ? r1 : g.h + g.ph;
        c1 = c1 < g.w + g.pw ? c1 : g.w + g.pw;
    }
    const long long rows = r1 > r0 ? r1 - r0 : 0, cols = c1 > c0 ? c1 - c0 : 0;
    return rows * cols;
}

// The value at padded position (r, c) of a plane, or the padding value.
template <typename T>
SYMDL_DEV T symdl_pool_at(const symdl_pool_geometry& g, const T* __restrict__ plane, long long xs_h, long long xs_w,
                          long long r, long long c) {
    const long long y = r - g.ph, x = c - g.pw;
    if (y >= 0 && y < g.h && x >= 0 && x < g.w) return plane[y * xs_h + x * xs_w];
    return g.mode == 0 ? symdl_lowest(T()) : (T)0;
}

template <typename T>
SYMDL_DEV void symdl_pool_forward(const symdl_pool_geometry& g, const symdl_shape& planes, const symdl_strides& ps,
                                  long long xs_h, long long xs_w, const T* __restrict__ x, T* __restrict__ out) {
    const unsigned int n_total = (unsigned int)(g.planes * g.oh * g.ow);
    const unsigned int step = blockDim.x * gridDim.x;
    for (unsigned int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < n_total; idx += step) {
        const long long j = idx % (unsigned int)g.ow, i = (idx / (unsigned int)g.ow) % (unsigned int)g.oh;
        const unsigned int p = idx / (unsigned int)(g.oh * g.ow);
        const T* plane = x + symdl_offset(p, planes, ps);
        T acc = g.mode == 0 ? symdl_lowest(T()) : (T)0;
        for (long long a = 0; a < g.kh; ++a)
            for (long long b = 0; b < g.kw; ++b) {
                const T v = symdl_pool_at(g, plane, xs_h, xs_w, i * g.sh + a, j * g.sw + b);
                acc = g.mode == 0 ? symdl_maximum(acc, v) : acc + v;
            }
        out[idx] = g.mode >= 2 ? acc / (T)symdl_pool_count(g, i, j) : acc;
    }
}

// gx (C-contiguous, x's shape): each window's gradient goes to its first maximum (row-major) in
// max mode, or is spread over the counted positions.
template <typename T>
SYMDL_DEV void symdl_pool_backward(const symdl_pool_geometry& g, const symdl_shape& planes, const symdl_strides& ps,
                                   long long xs_h, long long xs_w, const symdl_strides& gs, long long gs_h,
                                   long long gs_w, const T* __restrict__ x, const T* __restrict__ gz,
                                   T* __restrict__ gx) {
    const unsigned int n_total = (unsigned int)(g.planes * g.h * g.w);
    const unsigned int step = blockDim.x * gridDim.x;
    for (unsigned int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < n_total; idx += step) {
        const long long xx = idx % (unsigned int)g.w, y = (idx / (unsigned int)g.w) % (unsigned int)g.h;
        const unsigned int p = idx / (unsigned int)(g.h * g.w);
        const T* plane = x + symdl_offset(p, planes, ps);
        const T* gplane = gz + symdl_offset(p, planes, gs);
        const long long r = y + g.ph, c = xx + g.pw;
        const long long i0 = r < g.kh ? 0 : (r - g.kh) / g.sh + 1, j0 = c < g.kw ? 0 : (c - g.kw) / g.sw + 1;
        const long long i1 = r / g.sh < g.oh - 1 ? r / g.sh : g.oh - 1, j1 = c / g.sw < g.ow - 1 ? c / g.sw : g.ow - 1;
        T sum = 0;
        for (long long i = i0; i <= i1; ++i)
            for (long long j = j0; j <= j1; ++j) {
                const T gv = gplane[i * gs_h + j * gs_w];
                if (g.mode != 0) {
                    sum += g.mode == 1 ? gv : gv / (T)symdl_pool_count(g, i, j);
                    continue;
                }
                T best = symdl_lowest(T());
                for (long long a = 0; a < g.kh; ++a)
                    for (long long b = 0; b < g.kw; ++b)
                        best = symdl_maximum(best, symdl_pool_at(g, plane, xs_h, xs_w, i * g.sh + a, j * g.sw + b));
                bool first = false, found = false;
                for (long long a = 0; a < g.kh && !found; ++a)
                    for (long long b = 0; b < g.kw && !found; ++b)
                        if (symdl_pool_at(g, plane, xs_h, xs_w, i * g.sh + a, j * g.sw + b) == best) {
                            found = true;
                            first = i * g.sh + a == r && j * g.sw + b == c;
                        }
                if (first) sum += gv;
            }
        gx[idx] = sum;
    }
}
