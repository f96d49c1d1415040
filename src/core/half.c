#include "core/half.h"

#include <string.h>

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float rv_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t rv_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {            /* NaN: truncate, keep it a NaN */
        uint16_t h = (uint16_t)(x >> 16);
        if (!(h & 0x7f)) h |= 0x40;
        return h;
    }
    x += 0x7fffu + ((x >> 16) & 1u);                    /* ties to even; overflow carries into inf */
    return (uint16_t)(x >> 16);
}

float rv_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return u2f(sign | 0x7f800000u | (m << 13));  /* inf / NaN (payload kept) */
    if (e == 0) {
        if (m == 0) return u2f(sign);
        /* subnormal m * 2^-24: normalise so the leading 1 is bit 10 */
        int sh = 0;
        while (!(m & 0x400u)) { m <<= 1; sh++; }
        return u2f(sign | ((uint32_t)(113 - sh) << 23) | ((m & 0x3ffu) << 13));
    }
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t rv_f32_to_f16(float f) {
    uint32_t x = f2u(f), sign = (x >> 16) & 0x8000u;
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) {                              /* NaN: keep the top payload bits */
        uint32_t m = (x >> 13) & 0x3ffu;
        return (uint16_t)(sign | 0x7c00u | (m ? m : 0x200u));
    }
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (x < 0x38800000u) {                              /* below 2^-14: subnormal half */
        uint32_t e = x >> 23;
        if (e < 102) return (uint16_t)sign;             /* < 2^-25 (incl. f32 subnormals) -> 0 */
        uint32_t m = (x & 0x7fffffu) | 0x800000u, sh = 126 - e; /* value = m * 2^(e-150) */
        uint32_t r = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);                    /* r = 0x400 is the smallest normal */
    }
    uint32_t h = ((x >> 23) - 112) << 10 | ((x >> 13) & 0x3ffu), rem = x & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent */
    return (uint16_t)(sign | h);
}
