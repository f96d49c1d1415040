/* Counter-based RNG (Philox4x32-10, Salmon et al., SC'11). A stream is named by
 * (seed, stream, substream), e.g. (run seed, block id, record index), so every draw is a pure
 * function of those names and never of the number of ranks or the order of work. */
#ifndef RADVLM_CORE_RNG_H
#define RADVLM_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rv_rng {
    uint32_t key[2];
    uint32_t ctr[4]; /* ctr[0..1]: block counter, ctr[2]: stream, ctr[3]: substream */
    uint32_t buf[4];
    int pos;         /* next unused word of buf; 4 = empty */
} rv_rng;

/* One Philox4x32-10 block: out = philox(ctr, key). Exposed for known-answer tests. */
void rv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

void rv_rng_init(rv_rng *r, uint64_t seed, uint32_t stream, uint32_t substream);
uint32_t rv_rng_u32(rv_rng *r);
uint64_t rv_rng_u64(rv_rng *r);
double rv_rng_uniform(rv_rng *r);               /* [0, 1), 53 bits */
double rv_rng_range(rv_rng *r, double lo, double hi);
uint32_t rv_rng_below(rv_rng *r, uint32_t n);   /* uniform in [0, n), unbiased; n > 0 */
double rv_rng_normal(rv_rng *r);                /* standard normal */
void rv_rng_permutation(rv_rng *r, size_t *idx, size_t n); /* idx = a uniform permutation of 0..n-1 */

/* Stable 32-bit name for a string (FNV-1a), to name streams by text such as a block id. */
uint32_t rv_hash32(const char *s);

#endif
