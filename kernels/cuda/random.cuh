// symdl CUDA random draws: Philox-4x32-10, with exactly the contract of symdl.tensor.random
// (state [key, stream, counter]; block j of a call encrypts the counter words
// (lo(counter + j), hi(counter + j), lo(stream), hi(stream)) under (lo(key), hi(key)); word w of
// the call is word w % 4 of block w / 4), so every backend draws the same numbers from the same
// state: masks bit for bit, and floats too (the affine maps use unfused, round-to-nearest
// arithmetic, as NumPy). One thread per element. Needs scalar.cuh first.

#ifdef SYMDL_HOST_EMULATION
SYMDL_DEV float symdl_fadd(float a, float b) { return a + b; }
SYMDL_DEV float symdl_fmul(float a, float b) { return a * b; }
SYMDL_DEV double symdl_dadd(double a, double b) { return a + b; }
SYMDL_DEV double symdl_dmul(double a, double b) { return a * b; }
#else
SYMDL_DEV float symdl_fadd(float a, float b) { return __fadd_rn(a, b); }
SYMDL_DEV float symdl_fmul(float a, float b) { return __fmul_rn(a, b); }
SYMDL_DEV double symdl_dadd(double a, double b) { return __dadd_rn(a, b); }
SYMDL_DEV double symdl_dmul(double a, double b) { return __dmul_rn(a, b); }
#endif

// Word `w` of the call that starts at `counter` in stream `stream` under `key`.
SYMDL_DEV unsigned int symdl_philox_word(unsigned long long key, unsigned long long stream,
                                         unsigned long long counter, unsigned long long w) {
    const unsigned long long block = counter + w / 4;
    unsigned int c0 = (unsigned int)block, c1 = (unsigned int)(block >> 32);
    unsigned int c2 = (unsigned int)stream, c3 = (unsigned int)(stream >> 32);
    unsigned int k0 = (unsigned int)key, k1 = (unsigned int)(key >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const unsigned long long p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;
        const unsigned int n0 = (unsigned int)(p1 >> 32) ^ c1 ^ k0, n2 = (unsigned int)(p0 >> 32) ^ c3 ^ k1;
        c1 = (unsigned int)p1;
        c3 = (unsigned int)p0;
        c0 = n0;
        c2 = n2;
    }
    const unsigned int words[4] = {c0, c1, c2, c3};
    return words[w % 4];
}

// A float64 in [0, 1) from words w and w + 1 (27 + 26 top bits).
SYMDL_DEV double symdl_uniform53(unsigned long long key, unsigned long long stream, unsigned long long counter,
                                 unsigned long long w) {
    const double a = (double)(symdl_philox_word(key, stream, counter, w) >> 5);
    const double b = (double)(symdl_philox_word(key, stream, counter, w + 1) >> 6);
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

// dist: 0 uniform, 1 normal, 2 binomial (n trials). (a, b): (low, high), (avg, std) or (p, -).
// Thread 0 also writes the advanced state.
template <typename T, int DIST>
SYMDL_DEV void symdl_random(const unsigned long long* __restrict__ state, unsigned long long* __restrict__ new_state,
                            long long size, long long n_blocks, double a, double b, long long n, T* __restrict__ out) {
    const unsigned long long key = state[0], stream = state[1], counter = state[2];
    const unsigned int step = blockDim.x * gridDim.x;
    const unsigned int start = blockIdx.x * blockDim.x + threadIdx.x;
    if (start == 0) {
        new_state[0] = key;
        new_state[1] = stream;
        new_state[2] = counter + (unsigned long long)n_blocks;
    }
    for (unsigned int i = start; i < (unsigned int)size; i += step) {
        if (DIST == 0 && sizeof(T) <= 4) {  // float32 (and float16 stored by the caller's type)
            const float u = (float)(symdl_philox_word(key, stream, counter, i) >> 8) * 5.9604644775390625e-08f;
            const float lo = (float)a, hi = (float)b;
            out[i] = (T)symdl_fadd(lo, symdl_fmul(hi - lo, u));
        } else if (DIST == 0) {
            out[i] = (T)symdl_dadd(a, symdl_dmul(b - a, symdl_uniform53(key, stream, counter, 2ull * i)));
        } else if (DIST == 1) {
            const unsigned long long pair = i / 2;
            const double u = symdl_uniform53(key, stream, counter, 4 * pair);
            const double v = symdl_uniform53(key, stream, counter, 4 * pair + 2);
            const double r = sqrt(-2.0 * log1p(-u)), theta = 2.0 * 3.141592653589793 * v;
            const double z = (i % 2 == 0) ? r * cos(theta) : r * sin(theta);
            out[i] = (T)symdl_dadd(a, symdl_dmul(b, z));
        } else {
            long long hits = 0;
            for (long long t = 0; t < n; ++t) {
                const unsigned int w = symdl_philox_word(key, stream, counter, (unsigned long long)i * n + t);
                hits += (double)(w >> 8) * 5.9604644775390625e-08 < a;
            }
            out[i] = (T)hits;
        }
    }
}
