/* The project's hash maps: open addressing with linear probing over a power-of-two table kept at
 * most half full. Keys are borrowed, never copied: they must stay valid and unchanged while the
 * map is used. A zero-initialised map is empty and usable (the first insert allocates).
 *   rv_smap: byte string -> size_t (a NUL-terminated string, or pointer + length);
 *   rv_imap: uint64_t -> size_t.
 * Lookups do not depend on the slot order, and nothing iterates the slots outside this file,
 * so the hash function is free to change without changing any output. */
#ifndef RADVLM_CORE_HASHMAP_H
#define RADVLM_CORE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#define RV_MAP_NONE ((size_t)-1)

typedef struct rv_smap {
    const char **keys; /* NULL = empty slot */
    size_t *lens;
    size_t *vals;
    size_t cap, n;
} rv_smap;

/* Room for about `expected` keys before the first growth. */
void rv_smap_init(rv_smap *m, size_t expected);
void rv_smap_free(rv_smap *m);
/* Inserts key -> val unless present; returns the value already stored, or RV_MAP_NONE. */
size_t rv_smap_put(rv_smap *m, const char *key, size_t val);
size_t rv_smap_putn(rv_smap *m, const char *key, size_t len, size_t val);
/* Inserts or overwrites (a Python dict assignment: the last value wins). */
void rv_smap_set(rv_smap *m, const char *key, size_t val);
/* The value stored for key, or RV_MAP_NONE. */
size_t rv_smap_get(const rv_smap *m, const char *key);
size_t rv_smap_getn(const rv_smap *m, const char *key, size_t len);

typedef struct rv_imap {
    uint64_t *keys;
    size_t *vals;
    unsigned char *used;
    size_t cap, n;
} rv_imap;

void rv_imap_init(rv_imap *m, size_t expected);
void rv_imap_free(rv_imap *m);
/* Inserts key -> val unless present; returns the value already stored, or RV_MAP_NONE. */
size_t rv_imap_put(rv_imap *m, uint64_t key, size_t val);
size_t rv_imap_get(const rv_imap *m, uint64_t key);

#endif
