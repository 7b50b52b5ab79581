// symdl CUDA strided copies: gather any strided (or broadcast, stride 0) view into a new
// C-contiguous array. One kernel per element size; dtype does not matter to a copy. Used for
// materializing transposes, broadcasting (alloc) and making operands contiguous for cuBLAS.
// n < 2^31 (the host splits bigger copies). Needs scalar.cuh and reduce.cuh first.

#define SYMDL_COPY_KERNEL(NAME, T)                                                              \
    extern "C" __global__ void NAME(const symdl_shape shape, const symdl_strides st, const long long n, \
                                    T* __restrict__ dst, const T* __restrict__ src) {           \
        const unsigned int step = blockDim.x * gridDim.x;                                       \
        for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)n; i += step) \
            dst[i] = src[symdl_offset(i, shape, st)];                                           \
    }

SYMDL_COPY_KERNEL(symdl_copy_1, unsigned char)
SYMDL_COPY_KERNEL(symdl_copy_2, unsigned short)
SYMDL_COPY_KERNEL(symdl_copy_4, unsigned int)
SYMDL_COPY_KERNEL(symdl_copy_8, unsigned long long)

// Strided writes: element i of a walk over `shape` goes to dst at the offset of the strides
// `dst_st` (a sub-tensor of a larger array, a slab of a concatenation); `src_st` may broadcast
// (stride 0). The destination's elements must be distinct (no stride 0 there).
#define SYMDL_SCATTER_KERNEL(NAME, T, STORE)                                                    \
    extern "C" __global__ void NAME(const symdl_shape shape, const symdl_strides dst_st,         \
                                    const symdl_strides src_st, const long long n,              \
                                    T* __restrict__ dst, const T* __restrict__ src) {           \
        const unsigned int step = blockDim.x * gridDim.x;                                       \
        for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)n; i += step) \
            dst[symdl_offset(i, shape, dst_st)] STORE src[symdl_offset(i, shape, src_st)];      \
    }

SYMDL_SCATTER_KERNEL(symdl_scatter_1, unsigned char, =)
SYMDL_SCATTER_KERNEL(symdl_scatter_2, unsigned short, =)
SYMDL_SCATTER_KERNEL(symdl_scatter_4, unsigned int, =)
SYMDL_SCATTER_KERNEL(symdl_scatter_8, unsigned long long, =)
SYMDL_SCATTER_KERNEL(symdl_add_into_float32, float, +=)
SYMDL_SCATTER_KERNEL(symdl_add_into_float64, double, +=)
SYMDL_SCATTER_KERNEL(symdl_add_into_int32, int, +=)
SYMDL_SCATTER_KERNEL(symdl_add_into_int64, long long, +=)
