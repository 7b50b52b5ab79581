// symdl CUDA softmax family: one block per row (a row runs along the softmax axis; rows are
// addressed through the kept dimensions, so any axis and any strides work). Semantics follow
// symdl.tensor.nnet: the row maximum is taken out first, and a non-finite maximum counts as 0.
// Rows and row lengths below 2^31. Needs scalar.cuh and reduce.cuh first.

template <typename T> struct symdl_max_op {
    typedef T acc;
    static __device__ __forceinline__ T combine(T a, T b) { return symdl_maximum(a, b); }
};
template <typename T> struct symdl_sum_op {
    typedef T acc;
    static __device__ __forceinline__ T combine(T a, T b) { return a + b; }
};

// The row maximum (non-finite -> 0) and the sum of exp(x - max), known to every thread.
template <typename T>
SYMDL_DEV void symdl_row_stats(const T* __restrict__ row, long long n, long long stride, T& m, T& s) {
    T v = symdl_lowest(T());
    for (long long c = threadIdx.x; c < n; c += blockDim.x) v = symdl_maximum(v, row[c * stride]);
    m = symdl_block_allreduce<symdl_max_op<T>, T>(v);
    if (!symdl_isfinite(m)) m = 0;
    v = 0;
    for (long long c = threadIdx.x; c < n; c += blockDim.x) v += symdl_exp(row[c * stride] - m);
    s = symdl_block_allreduce<symdl_sum_op<T>, T>(v);
}

// softmax (LOG false) or log_softmax (LOG true) of each row into a C-contiguous output.
template <typename T, bool LOG>
SYMDL_DEV void symdl_softmax_rows(const symdl_shape& kshape, const symdl_strides& kin, const symdl_strides& kout,
                                  long long n_rows, long long n, long long sx, long long so,
                                  const T* __restrict__ x, T* __restrict__ out) {
    for (long long j = blockIdx.x; j < n_rows; j += gridDim.x) {
        const T* row = x + symdl_offset((unsigned int)j, kshape, kin);
        T* orow = out + symdl_offset((unsigned int)j, kshape, kout);
        T m, s;
        symdl_row_stats(row, n, sx, m, s);
        if (LOG) {
            const T ls = symdl_log(s);
            for (long long c = threadIdx.x; c < n; c += blockDim.x) orow[c * so] = row[c * sx] - m - ls;
        } else {
            const T inv = (T)1 / s;
            for (long long c = threadIdx.x; c < n; c += blockDim.x) orow[c * so] = symdl_exp(row[c * sx] - m) * inv;
        }
    }
}

// Cross-entropy of softmax(logits) along the last axis against integer labels:
// max + log(sum exp(x - max)) - x[label]; a label outside [0, n) gives NaN.
template <typename T, typename L>
SYMDL_DEV void symdl_sce_labels(const symdl_shape& kshape, const symdl_strides& kx, const symdl_strides& kl,
                                long long n_rows, long long n, long long sx,
                                const T* __restrict__ x, const L* __restrict__ labels, T* __restrict__ out) {
    for (long long j = blockIdx.x; j < n_rows; j += gridDim.x) {
        const T* row = x + symdl_offset((unsigned int)j, kshape, kx);
        T m, s;
        symdl_row_stats(row, n, sx, m, s);
        if (threadIdx.x == 0) {
            const long long label = (long long)labels[symdl_offset((unsigned int)j, kshape, kl)];
            out[j] = (label >= 0 && label < n) ? m + symdl_log(s) - row[label * sx] : (T)symdl_nan();
        }
    }
}

// Cross-entropy of softmax(logits) against probability targets: -sum(t * log_softmax(x)),
// where terms with t == 0 count 0.
template <typename T>
SYMDL_DEV void symdl_sce_probs(const symdl_shape& kshape, const symdl_strides& kx, const symdl_strides& kt,
                               long long n_rows, long long n, long long sx, long long st,
                               const T* __restrict__ x, const T* __restrict__ t, T* __restrict__ out) {
    for (long long j = blockIdx.x; j < n_rows; j += gridDim.x) {
        const T* row = x + symdl_offset((unsigned int)j, kshape, kx);
        const T* trow = t + symdl_offset((unsigned int)j, kshape, kt);
        T m, s;
        symdl_row_stats(row, n, sx, m, s);
        const T ls = symdl_log(s);
        T v = 0;
        for (long long c = threadIdx.x; c < n; c += blockDim.x) {
            const T tc = trow[c * st];
            if (tc != 0) v += tc * (row[c * sx] - m - ls);
        }
        v = symdl_block_reduce<symdl_sum_op<T>, T>(v);
        if (threadIdx.x == 0) out[j] = -v;
    }
}
