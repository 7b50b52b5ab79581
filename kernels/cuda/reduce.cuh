// symdl CUDA reduction helpers: offsets from flat indices, warp shuffles for every accumulator
// type, and a block-wide reduction that works for any block size (including one thread, which
// the host emulation used by the tests relies on). Needs scalar.cuh first.

// The offset, in elements, of flat (C-order) index i of `shape` in an operand with strides `st`.
// Indices are 32-bit: the host splits launches so that every index fits (64-bit division makes
// kernels slow to compile and to run).
SYMDL_DEV long long symdl_offset(unsigned int i, const symdl_shape& shape, const symdl_strides& st) {
    long long off = 0;
    for (int k = (int)shape.nd - 1; k > 0; --k) {
        const unsigned int d = (unsigned int)shape.d[k];
        const unsigned int c = i % d;
        i /= d;
        off += (long long)c * st.s[k];
    }
    return shape.nd > 0 ? off + (long long)i * st.s[0] : 0;
}

#ifdef SYMDL_HOST_EMULATION
template <typename T> SYMDL_DEV T symdl_shfl_down_raw(T v, int) { return v; }
#else
template <typename T> SYMDL_DEV T symdl_shfl_down_raw(T v, int off) { return __shfl_down_sync(0xffffffffu, v, off); }
#endif
SYMDL_DEV float symdl_shfl_down(float v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV double symdl_shfl_down(double v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV int symdl_shfl_down(int v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV unsigned int symdl_shfl_down(unsigned int v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV long long symdl_shfl_down(long long v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV unsigned long long symdl_shfl_down(unsigned long long v, int off) { return symdl_shfl_down_raw(v, off); }
SYMDL_DEV bool symdl_shfl_down(bool v, int off) { return symdl_shfl_down_raw((int)v, off) != 0; }

// Reduce `v` over the block with Op::combine; the result is valid in thread 0. Every thread of
// the block must call it. Block sizes above 32 must be multiples of 32.
template <typename Op, typename A>
SYMDL_DEV A symdl_block_reduce(A v) {
    __shared__ A partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nthreads = blockDim.x;
    const int warp_n = nthreads - warp * 32 < 32 ? nthreads - warp * 32 : 32;
    for (int off = 16; off > 0; off >>= 1) {
        const A other = symdl_shfl_down(v, off);
        if (lane + off < warp_n) v = Op::combine(v, other);
    }
    if (nthreads <= 32) return v;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int nwarps = (nthreads + 31) >> 5;
    if (warp == 0) {
        v = partial[lane < nwarps ? lane : 0];
        for (int off = 16; off > 0; off >>= 1) {
            const A other = symdl_shfl_down(v, off);
            if (lane + off < nwarps) v = Op::combine(v, other);
        }
    }
    __syncthreads();
    return v;
}

// The reduced value broadcast to every thread of the block (for softmax-like kernels).
template <typename Op, typename A>
SYMDL_DEV A symdl_block_allreduce(A v) {
    __shared__ A result;
    v = symdl_block_reduce<Op, A>(v);
    if (threadIdx.x == 0) result = v;
    __syncthreads();
    v = result;
    __syncthreads();
    return v;
}
