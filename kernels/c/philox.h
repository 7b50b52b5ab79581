/* symdl: Philox-4x32-10 and the word-to-sample mappings of symdl.tensor.random (its module
 * docstring is the contract; this file implements it bit for bit). Plain C99, no libm except
 * for the normal mapping, so it compiles as CUDA too (define SD_PHILOX_QUALIFIER as
 * `__host__ __device__`).
 *
 * A draw's state is [key, stream, counter] (uint64). Block j of a call is Philox of the counter
 * words (lo32(counter + j), hi32(counter + j), lo32(stream), hi32(stream)) under the key words
 * (lo32(key), hi32(key)); its four output words are words 4j .. 4j + 3 of the call.
 */
#ifndef SYMDL_PHILOX_H
#define SYMDL_PHILOX_H

#include <stdint.h>

#ifndef SD_PHILOX_QUALIFIER
#define SD_PHILOX_QUALIFIER static inline
#endif

#define SD_PHILOX_M0 UINT32_C(0xD2511F53)
#define SD_PHILOX_M1 UINT32_C(0xCD9E8D57)
#define SD_PHILOX_W0 UINT32_C(0x9E3779B9)
#define SD_PHILOX_W1 UINT32_C(0xBB67AE85)

/* out = Philox-4x32-10(ctr, key) */
SD_PHILOX_QUALIFIER void sd_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r) {
            k0 += SD_PHILOX_W0;
            k1 += SD_PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)SD_PHILOX_M0 * c0, p1 = (uint64_t)SD_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Word i (from 0) of a call starting at state = [key, stream, counter]. */
SD_PHILOX_QUALIFIER uint32_t sd_philox_word(const uint64_t state[3], uint64_t i)
{
    uint64_t block = state[2] + i / 4;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)state[1], (uint32_t)(state[1] >> 32)};
    uint32_t key[2] = {(uint32_t)state[0], (uint32_t)(state[0] >> 32)};
    uint32_t out[4];
    sd_philox4x32_10(ctr, key, out);
    return out[i % 4];
}

/* Fill words[0 .. n) for a call and return the new counter (counter + ceil(n / 4)). */
SD_PHILOX_QUALIFIER uint64_t sd_philox_fill(const uint64_t state[3], int64_t n, uint32_t *words)
{
    uint32_t key[2] = {(uint32_t)state[0], (uint32_t)(state[0] >> 32)};
    int64_t blocks = (n + 3) / 4;
    for (int64_t j = 0; j < blocks; j++) {
        uint64_t block = state[2] + (uint64_t)j;
        uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)state[1], (uint32_t)(state[1] >> 32)};
        uint32_t out[4];
        sd_philox4x32_10(ctr, key, out);
        for (int q = 0; q < 4 && 4 * j + q < n; q++)
            words[4 * j + q] = out[q];
    }
    return state[2] + (uint64_t)blocks;
}

/* [0, 1) from the top 24 bits of a word: exact in float. */
SD_PHILOX_QUALIFIER float sd_uniform24(uint32_t w)
{
    return (float)(w >> 8) * 0x1p-24f;
}

/* [0, 1) from two words (27 + 26 top bits): exact in double. */
SD_PHILOX_QUALIFIER double sd_uniform53(uint32_t a, uint32_t b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * 0x1p-53;
}

/* One Bernoulli trial: (w >> 8) * 2^-24 < p, compared in double (both sides exact). */
SD_PHILOX_QUALIFIER int sd_bernoulli(uint32_t w, double p)
{
    return (double)(w >> 8) * 0x1p-24 < p;
}

#endif
