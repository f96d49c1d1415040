#include "core/rng.h"

#include <math.h>

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void rv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void rv_rng_init(rv_rng *r, uint64_t seed, uint32_t stream, uint32_t substream) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = r->ctr[1] = 0;
    r->ctr[2] = stream;
    r->ctr[3] = substream;
    r->pos = 4;
}

uint32_t rv_rng_u32(rv_rng *r) {
    if (r->pos == 4) {
        rv_philox4x32_10(r->ctr, r->key, r->buf);
        if (++r->ctr[0] == 0) ++r->ctr[1];
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t rv_rng_u64(rv_rng *r) {
    uint64_t hi = rv_rng_u32(r);
    return (hi << 32) | rv_rng_u32(r);
}

double rv_rng_uniform(rv_rng *r) { return (double)(rv_rng_u64(r) >> 11) * 0x1.0p-53; }

double rv_rng_range(rv_rng *r, double lo, double hi) { return lo + (hi - lo) * rv_rng_uniform(r); }

uint32_t rv_rng_below(rv_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: exactly uniform. */
    uint64_t m = (uint64_t)rv_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)rv_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rv_rng_normal(rv_rng *r) {
    /* Box-Muller, one value per call so that the draw count per value is fixed. */
    double u1 = 1.0 - rv_rng_uniform(r); /* (0, 1] */
    double u2 = rv_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void rv_rng_permutation(rv_rng *r, size_t *idx, size_t n) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = n <= UINT32_MAX ? rv_rng_below(r, (uint32_t)i) : (size_t)(rv_rng_u64(r) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

uint32_t rv_hash32(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 16777619u; }
    return h;
}
