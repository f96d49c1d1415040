#include "core/hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"

static size_t cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap *= 2;
    return cap;
}

/* ---- byte string -> size_t ---- */

void rv_smap_init(rv_smap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->keys = rv_xcalloc(m->cap, sizeof *m->keys);
    m->lens = rv_xmalloc(m->cap * sizeof *m->lens);
    m->vals = rv_xmalloc(m->cap * sizeof *m->vals);
}

void rv_smap_free(rv_smap *m) {
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* The slot holding key, or the empty slot where it would go (cap > 0). */
static size_t smap_slot(const rv_smap *m, const char *key, size_t len) {
    size_t mask = m->cap - 1, i = (size_t)rv_hash_mix64(rv_fnv1a64(key, len)) & mask;
    while (m->keys[i] && (m->lens[i] != len || memcmp(m->keys[i], key, len) != 0)) i = (i + 1) & mask;
    return i;
}

/* Makes room for one more key (load factor at most 1/2). */
static void smap_reserve1(rv_smap *m) {
    if ((m->n + 1) * 2 <= m->cap) return;
    rv_smap g;
    rv_smap_init(&g, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = smap_slot(&g, m->keys[i], m->lens[i]);
        g.keys[j] = m->keys[i];
        g.lens[j] = m->lens[i];
        g.vals[j] = m->vals[i];
        g.n++;
    }
    rv_smap_free(m);
    *m = g;
}

size_t rv_smap_putn(rv_smap *m, const char *key, size_t len, size_t val) {
    smap_reserve1(m);
    size_t i = smap_slot(m, key, len);
    if (m->keys[i]) return m->vals[i];
    m->keys[i] = key;
    m->lens[i] = len;
    m->vals[i] = val;
    m->n++;
    return RV_MAP_NONE;
}

size_t rv_smap_put(rv_smap *m, const char *key, size_t val) { return rv_smap_putn(m, key, strlen(key), val); }

void rv_smap_set(rv_smap *m, const char *key, size_t val) {
    size_t len = strlen(key);
    smap_reserve1(m);
    size_t i = smap_slot(m, key, len);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->lens[i] = len;
        m->n++;
    }
    m->vals[i] = val;
}

size_t rv_smap_getn(const rv_smap *m, const char *key, size_t len) {
    if (!m->cap) return RV_MAP_NONE;
    size_t i = smap_slot(m, key, len);
    return m->keys[i] ? m->vals[i] : RV_MAP_NONE;
}

size_t rv_smap_get(const rv_smap *m, const char *key) { return rv_smap_getn(m, key, strlen(key)); }

/* ---- uint64_t -> size_t ---- */

void rv_imap_init(rv_imap *m, size_t expected) {
    m->cap = cap_for(expected);
    m->n = 0;
    m->keys = rv_xmalloc(m->cap * sizeof *m->keys);
    m->vals = rv_xmalloc(m->cap * sizeof *m->vals);
    m->used = rv_xcalloc(m->cap, 1);
}

void rv_imap_free(rv_imap *m) {
    free(m->keys);
    free(m->vals);
    free(m->used);
    memset(m, 0, sizeof *m);
}

/* The slot holding key, or the empty slot where it would go (cap > 0). */
static size_t imap_slot(const rv_imap *m, uint64_t key) {
    size_t mask = m->cap - 1, i = (size_t)rv_hash_mix64(key) & mask;
    while (m->used[i] && m->keys[i] != key) i = (i + 1) & mask;
    return i;
}

static void imap_reserve1(rv_imap *m) {
    if ((m->n + 1) * 2 <= m->cap) return;
    rv_imap g;
    rv_imap_init(&g, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i]) continue;
        size_t j = imap_slot(&g, m->keys[i]);
        g.used[j] = 1;
        g.keys[j] = m->keys[i];
        g.vals[j] = m->vals[i];
        g.n++;
    }
    rv_imap_free(m);
    *m = g;
}

size_t rv_imap_put(rv_imap *m, uint64_t key, size_t val) {
    imap_reserve1(m);
    size_t i = imap_slot(m, key);
    if (m->used[i]) return m->vals[i];
    m->used[i] = 1;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return RV_MAP_NONE;
}

size_t rv_imap_get(const rv_imap *m, uint64_t key) {
    if (!m->cap) return RV_MAP_NONE;
    size_t i = imap_slot(m, key);
    return m->used[i] ? m->vals[i] : RV_MAP_NONE;
}
