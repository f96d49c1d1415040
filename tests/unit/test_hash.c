/* core/hash and core/hashmap. FNV-1a 64 against the published test vectors (Fowler/Noll/Vo,
 * isthe.com/chongo/tech/comp/fnv; also recomputed with a three-line Python loop:
 * h = 0xcbf29ce484222325; for b in data: h = ((h ^ b) * 0x100000001b3) % 2**64), the mixer
 * against splitmix64's first outputs for seed 0, and the maps against a brute-force model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/hash.h"
#include "core/hashmap.h"

static void test_fnv(void) {
    CHECK(RV_FNV1A64_BASIS == 0xcbf29ce484222325ull); /* 14695981039346656037 */
    CHECK(RV_FNV1A64_PRIME == 0x100000001b3ull);
    CHECK(rv_fnv1a64("", 0) == 0xcbf29ce484222325ull);
    CHECK(rv_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(rv_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
    CHECK(rv_fnv1a64("chongo was here!\n", 17) == 0x46810940eff5f915ull);
    CHECK(rv_fnv1a64_str("") == 0xcbf29ce484222325ull);
    CHECK(rv_fnv1a64_str("foobar") == 0x85944171f73967e8ull);
    /* incremental == one shot */
    CHECK(rv_fnv1a64_update(rv_fnv1a64("foo", 3), "bar", 3) == 0x85944171f73967e8ull);
    /* bytes >= 0x80 are taken unsigned: FNV-1a("\xff") = (basis ^ 0xff) * prime mod 2^64 */
    CHECK(rv_fnv1a64("\xff", 1) == (0xcbf29ce484222325ull ^ 0xffull) * 0x100000001b3ull);
    /* the old, wrong basis (1469598103934665603) gave 0x44bd8ad473cd9906 for "a" */
    CHECK(rv_fnv1a64("a", 1) != 0x44bd8ad473cd9906ull);
}

static void test_mix(void) {
    /* splitmix64 with state 0: outputs mix(1 * gamma), mix(2 * gamma), gamma = 0x9e3779b97f4a7c15 */
    CHECK(rv_hash_mix64(0x9e3779b97f4a7c15ull) == 0xe220a8397b1dcdafull);
    CHECK(rv_hash_mix64(0x3c6ef372fe94f82aull) == 0x6e789e6aa1b965f4ull);
    CHECK(rv_hash_mix64(0) == 0);
}

static void test_smap(void) {
    enum { N = 5000 };
    static char keys[N][16];
    rv_smap m;
    rv_smap_init(&m, 4); /* small on purpose: growth is exercised */
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        if (rv_smap_put(&m, keys[i], (size_t)i) != RV_MAP_NONE) bad++;
    }
    CHECK(bad == 0);
    CHECK(m.n == N);
    CHECK(m.cap >= 2 * (size_t)N && (m.cap & (m.cap - 1)) == 0); /* at most half full, power of two */
    bad = 0;
    for (int i = 0; i < N; i++) {
        char probe[16]; /* a different buffer with the same bytes finds the key */
        snprintf(probe, sizeof probe, "k%d", i);
        if (rv_smap_get(&m, probe) != (size_t)i) bad++;
    }
    CHECK(bad == 0);
    CHECK(rv_smap_get(&m, "k5000") == RV_MAP_NONE);
    CHECK(rv_smap_get(&m, "") == RV_MAP_NONE);
    /* put keeps the first value and returns it; set overwrites */
    CHECK(rv_smap_put(&m, "k7", 99) == 7 && rv_smap_get(&m, "k7") == 7);
    rv_smap_set(&m, "k7", 99);
    CHECK(rv_smap_get(&m, "k7") == 99 && m.n == N);
    rv_smap_set(&m, "new", 5);
    CHECK(rv_smap_get(&m, "new") == 5 && m.n == N + 1);
    rv_smap_free(&m);
    CHECK(m.cap == 0 && m.keys == NULL);

    /* byte keys: length matters, embedded NUL allowed, prefixes are different keys */
    rv_smap z = {0}; /* zero-initialised: empty and usable */
    CHECK(rv_smap_getn(&z, "ab", 2) == RV_MAP_NONE);
    const char *buf = "abc\0abd";
    CHECK(rv_smap_putn(&z, buf, 2, 1) == RV_MAP_NONE);     /* "ab" */
    CHECK(rv_smap_putn(&z, buf, 3, 2) == RV_MAP_NONE);     /* "abc" */
    CHECK(rv_smap_putn(&z, buf, 5, 3) == RV_MAP_NONE);     /* "abc\0a" */
    CHECK(rv_smap_putn(&z, buf, 0, 4) == RV_MAP_NONE);     /* "" */
    CHECK(rv_smap_getn(&z, "ab", 2) == 1 && rv_smap_get(&z, "abc") == 2);
    CHECK(rv_smap_getn(&z, "abc\0a", 5) == 3 && rv_smap_get(&z, "") == 4);
    CHECK(rv_smap_getn(&z, "abc\0b", 5) == RV_MAP_NONE && rv_smap_getn(&z, "a", 1) == RV_MAP_NONE);
    CHECK(z.n == 4);
    rv_smap_free(&z);
}

static void test_imap(void) {
    rv_imap m = {0};
    CHECK(rv_imap_get(&m, 0) == RV_MAP_NONE);
    int bad = 0;
    /* keys that share their low bits (multiples of 2^32) and the extremes */
    for (uint64_t i = 0; i < 3000; i++)
        if (rv_imap_put(&m, i << 32, (size_t)i) != RV_MAP_NONE) bad++;
    CHECK(rv_imap_put(&m, UINT64_MAX, 7) == RV_MAP_NONE);
    CHECK(bad == 0 && m.n == 3001);
    bad = 0;
    for (uint64_t i = 0; i < 3000; i++)
        if (rv_imap_get(&m, i << 32) != (size_t)i) bad++;
    CHECK(bad == 0);
    CHECK(rv_imap_get(&m, UINT64_MAX) == 7 && rv_imap_get(&m, 1) == RV_MAP_NONE);
    CHECK(rv_imap_put(&m, 5ull << 32, 1) == 5 && rv_imap_get(&m, 5ull << 32) == 5);
    rv_imap_free(&m);
}

int main(void) {
    test_fnv();
    test_mix();
    test_smap();
    test_imap();
    return check_summary("test_hash");
}
