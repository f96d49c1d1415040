/* Non-cryptographic hashes: FNV-1a 64 (Fowler/Noll/Vo, the published parameters), used where a
 * hash is recorded in a file (the shards' tokenizer_hash) and must be recomputable by anyone,
 * and a 64-bit mixer for hash-table slots. Usable from C++ (io/dicom_gdcm.cpp). */
#ifndef RADVLM_CORE_HASH_H
#define RADVLM_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RV_FNV1A64_BASIS 14695981039346656037ull /* offset basis */
#define RV_FNV1A64_PRIME 1099511628211ull        /* 2^40 + 2^8 + 0xb3 */

/* Continues an FNV-1a 64 hash h over n bytes; start from RV_FNV1A64_BASIS. */
static inline uint64_t rv_fnv1a64_update(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * RV_FNV1A64_PRIME;
    return h;
}

/* Continues h over a NUL-terminated string and its NUL, so that a list of strings hashes
 * unambiguously ("ab","c" differs from "a","bc"). */
static inline uint64_t rv_fnv1a64_update_str(uint64_t h, const char *s) {
    for (;; s++) {
        h = (h ^ (unsigned char)*s) * RV_FNV1A64_PRIME;
        if (!*s) return h;
    }
}

/* FNV-1a 64 of n bytes: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c. */
static inline uint64_t rv_fnv1a64(const void *p, size_t n) { return rv_fnv1a64_update(RV_FNV1A64_BASIS, p, n); }

/* FNV-1a 64 of a NUL-terminated string (the NUL not included). */
uint64_t rv_fnv1a64_str(const char *s);

/* splitmix64's finaliser: a bijection that spreads every input bit over the word, so the low
 * bits of an FNV value or of an integer key can index a power-of-two table. */
static inline uint64_t rv_hash_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#ifdef __cplusplus
}
#endif

#endif
