/* Philox4x32-10 against the Random123 known-answer vectors (kat_vectors, the published
 * reference), plus properties of the derived draws. */
#include <stdlib.h>

#include "check.h"
#include "core/rng.h"

int main(void) {
    static const struct { uint32_t ctr[4], key[2], want[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        rv_philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++) CHECK(out[i] == kat[k].want[i]);
    }

    /* A stream is a pure function of its names: the first word of stream (seed=0, 0, 0) is the
     * first KAT output word. */
    rv_rng r;
    rv_rng_init(&r, 0, 0, 0);
    CHECK(rv_rng_u32(&r) == 0x6627e8d5);

    /* Same names, same sequence; different substream, different sequence. */
    rv_rng a, b, c;
    rv_rng_init(&a, 42, 7, 9);
    rv_rng_init(&b, 42, 7, 9);
    rv_rng_init(&c, 42, 7, 10);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rv_rng_u32(&a), y = rv_rng_u32(&b), z = rv_rng_u32(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same);
    CHECK(diff > 95);

    /* rv_rng_below: in range, and each of 6 outcomes near 1/6 over 60000 draws (5 sigma). */
    int counts[6] = {0};
    rv_rng_init(&r, 1, 2, 3);
    for (int i = 0; i < 60000; i++) {
        uint32_t v = rv_rng_below(&r, 6);
        CHECK(v < 6);
        if (v < 6) counts[v]++;
    }
    for (int i = 0; i < 6; i++) CHECK(abs(counts[i] - 10000) < 5 * 91);

    /* uniform in [0,1), mean near 0.5; normal mean 0, variance 1. */
    double s = 0, s2 = 0, mn = 1, mx = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rv_rng_uniform(&r);
        s += u;
        if (u < mn) mn = u;
        if (u > mx) mx = u;
    }
    CHECK(mn >= 0 && mx < 1);
    CHECK_NEAR(s / 100000, 0.5, 0.005);
    s = s2 = 0;
    for (int i = 0; i < 100000; i++) { double g = rv_rng_normal(&r); s += g; s2 += g * g; }
    CHECK_NEAR(s / 100000, 0.0, 0.02);
    CHECK_NEAR(s2 / 100000, 1.0, 0.03);

    /* Permutation: every index exactly once; all 6 orders of 3 items appear. */
    size_t idx[50];
    rv_rng_permutation(&r, idx, 50);
    int seen[50] = {0};
    for (int i = 0; i < 50; i++) if (idx[i] < 50) seen[idx[i]]++;
    int once = 1;
    for (int i = 0; i < 50; i++) once &= seen[i] == 1;
    CHECK(once);
    int orders[6] = {0};
    for (int t = 0; t < 600; t++) {
        size_t p[3];
        rv_rng_permutation(&r, p, 3);
        orders[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int i = 0; i < 6; i++) CHECK(orders[i] > 50);

    /* FNV-1a 32 of "a" is 0xe40c292c (published test vector). */
    CHECK(rv_hash32("a") == 0xe40c292cu);
    CHECK(rv_hash32("") == 2166136261u);
    return check_summary("test_rng");
}
