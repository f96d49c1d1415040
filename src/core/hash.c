#include "core/hash.h"

uint64_t rv_fnv1a64_str(const char *s) {
    uint64_t h = RV_FNV1A64_BASIS;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * RV_FNV1A64_PRIME;
    return h;
}
