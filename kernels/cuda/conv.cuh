// symdl CUDA convolution helpers: im2col and col2im for conv2d as matrix products (cuBLAS does the
// products). The column matrix is laid out (K, N * P): row k = (c, a, b) over channels and
// filter taps, column (n, i, j) over images and output positions, so that one product per group
// covers the whole batch. With `flip` (a true convolution, Theano's default) the taps are read
// reversed, so the filters are used as stored and their gradient comes out as stored too.
// Indices are 32-bit: the host splits the batch so that K * N * P and N * C * H * W fit; each
// launch covers a slice of the batch with its own column matrix.
// Needs scalar.cuh first.

struct symdl_conv_geometry {
    long long n, c, h, w;     // this launch's images, input channels, input size
    long long kh, kw, ho, wo; // filter taps and output size
    long long ph, pw, sh, sw; // padding (top, left) and strides
    long long dh, dw, flip, pad_; // dilation, filter flip (pad_ keeps the size a multiple of 16)
};

// cols[(c, a, b), (n, i, j)] = x[n, c, i * sh + a' * dh - ph, j * sw + b' * dw - pw] (0 outside),
// a' = flip ? kh - 1 - a : a.
template <typename T>
SYMDL_DEV void symdl_im2col(const symdl_conv_geometry& g, const symdl_strides& xs, const T* __restrict__ x,
                            T* __restrict__ cols) {
    const unsigned int n_total = (unsigned int)(g.n * g.c * g.kh * g.kw * g.ho * g.wo);
    const unsigned int step = blockDim.x * gridDim.x;
    const long long row_len = g.n * g.ho * g.wo;
    for (unsigned int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < n_total; idx += step) {
        unsigned int t = idx;
        const int j = (int)(t % (unsigned int)g.wo); t /= (unsigned int)g.wo;
        const int i = (int)(t % (unsigned int)g.ho); t /= (unsigned int)g.ho;
        const int n = (int)(t % (unsigned int)g.n); t /= (unsigned int)g.n;
        const int b = (int)(t % (unsigned int)g.kw); t /= (unsigned int)g.kw;
        const int a = (int)(t % (unsigned int)g.kh); t /= (unsigned int)g.kh;
        const int c = (int)t;
        const long long aa = g.flip ? g.kh - 1 - a : a, bb = g.flip ? g.kw - 1 - b : b;
        const long long y = i * g.sh + aa * g.dh - g.ph, xx = j * g.sw + bb * g.dw - g.pw;
        const bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        const long long row = ((long long)c * g.kh + a) * g.kw + b;
        const long long col = ((long long)n * g.ho + i) * g.wo + j;
        cols[row * row_len + col] = inside ? x[n * xs.s[0] + c * xs.s[1] + y * xs.s[2] + xx * xs.s[3]] : (T)0;
    }
}

// gx[n, c, y, x] (C-contiguous) = the sum of the column entries that im2col read from it.
template <typename T>
SYMDL_DEV void symdl_col2im(const symdl_conv_geometry& g, const T* __restrict__ cols, T* __restrict__ gx) {
    const unsigned int n_total = (unsigned int)(g.n * g.c * g.h * g.w);
    const unsigned int step = blockDim.x * gridDim.x;
    const long long row_len = g.n * g.ho * g.wo;
    for (unsigned int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < n_total; idx += step) {
        unsigned int t = idx;
        const long long xx = t % (unsigned int)g.w; t /= (unsigned int)g.w;
        const long long y = t % (unsigned int)g.h; t /= (unsigned int)g.h;
        const long long c = t % (unsigned int)g.c;
        const long long n = t / (unsigned int)g.c;
        T sum = 0;
        for (long long a = 0; a < g.kh; ++a) {
            const long long aa = g.flip ? g.kh - 1 - a : a;
            const long long yy = y + g.ph - aa * g.dh;
            if (yy < 0 || yy % g.sh) continue;
            const long long i = yy / g.sh;
            if (i >= g.ho) continue;
            for (long long b = 0; b < g.kw; ++b) {
                const long long bb = g.flip ? g.kw - 1 - b : b;
                const long long xq = xx + g.pw - bb * g.dw;
                if (xq < 0 || xq % g.sw) continue;
                const long long j = xq / g.sw;
                if (j >= g.wo) continue;
                const long long row = (c * g.kh + a) * g.kw + b;
                sum += cols[row * row_len + (n * g.ho + i) * g.wo + j];
            }
        }
        gx[idx] = sum;
    }
}
