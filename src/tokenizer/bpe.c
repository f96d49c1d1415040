/* Byte-level map, vocab/merge hash tables and the merge loop. Merge order is HF's: the lowest
 * rank first, the leftmost of equal ranks first. Short pieces use a plain scan, long ones a
 * binary heap with lazily dropped stale entries; both give the same result. */
#include "tokenizer/bpe.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "io/utf8.h"

uint32_t rv_bytelevel_char(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    /* the other 68 bytes, in increasing order, take U+0100.. */
    unsigned k;
    if (b <= 0x20) k = b;                    /* 0x00..0x20 -> 0..32 */
    else if (b <= 0xA0) k = 33 + (b - 0x7F); /* 0x7F..0xA0 -> 33..66 */
    else k = 67;                             /* 0xAD */
    return 0x100 + k;
}

int rv_bytelevel_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    unsigned k = cp - 0x100;
    if (k <= 32) return (int)k;
    if (k <= 66) return (int)(0x7F + (k - 33));
    return 0xAD;
}

void rv_bytelevel_encode(const unsigned char *b, size_t n, rv_sb *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = rv_bytelevel_char(b[i]);
        char u[2];
        if (c < 0x80) rv_sb_putc(out, (char)c);
        else { u[0] = (char)(0xC0 | (c >> 6)); u[1] = (char)(0x80 | (c & 0x3F)); rv_sb_append(out, u, 2); }
    }
}

int rv_bytelevel_decode(const char *s, size_t n, rv_sb *out) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = rv_utf8_decode(u + i, n - i, &cp);
        if (!l) return -1;
        int b = rv_bytelevel_byte(cp);
        if (b < 0) return -1;
        rv_sb_putc(out, (char)b);
        i += l;
    }
    return 0;
}

/* ---- hash tables ----
 * These two stay private rather than use core/hashmap: the vocabulary table stores ids whose
 * bytes live in a pool that grows by realloc (a borrowed key pointer would dangle), and the
 * merge table is probed for every adjacent pair of every piece encoded, with its payload
 * (rank, merged id) inline in the slot (one cache line per probe, no second array). */

static uint64_t hash_bytes(const unsigned char *b, size_t n) { return rv_hash_mix64(rv_fnv1a64(b, n)); }

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

void rv_bpe_init(rv_bpe *m, size_t n_ids, size_t n_merges_hint) {
    memset(m, 0, sizeof *m);
    m->n_ids = n_ids;
    m->off = rv_xcalloc(n_ids ? n_ids : 1, sizeof *m->off);
    m->len = rv_xmalloc((n_ids ? n_ids : 1) * sizeof *m->len);
    for (size_t i = 0; i < n_ids; i++) m->len[i] = UINT32_MAX;
    m->vcap = pow2_at_least(2 * n_ids + 2);
    m->vslots = rv_xmalloc(m->vcap * sizeof *m->vslots);
    for (size_t i = 0; i < m->vcap; i++) m->vslots[i] = -1;
    m->mcap = pow2_at_least(2 * n_merges_hint + 2);
    m->mslots = rv_xmalloc(m->mcap * sizeof *m->mslots);
    for (size_t i = 0; i < m->mcap; i++) m->mslots[i].key = UINT64_MAX;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
}

void rv_bpe_free(rv_bpe *m) {
    free(m->off); free(m->len); free(m->pool); free(m->vslots); free(m->mslots);
    memset(m, 0, sizeof *m);
}

int32_t rv_bpe_lookup(const rv_bpe *m, const unsigned char *b, size_t n) {
    size_t mask = m->vcap - 1, i = hash_bytes(b, n) & mask;
    for (;;) {
        int32_t id = m->vslots[i];
        if (id < 0) return -1;
        if (m->len[id] == n && memcmp(m->pool + m->off[id], b, n) == 0) return id;
        i = (i + 1) & mask;
    }
}

int rv_bpe_add_token(rv_bpe *m, int32_t id, const unsigned char *b, size_t n) {
    if (id < 0 || (size_t)id >= m->n_ids || m->len[id] != UINT32_MAX) return -1;
    if (rv_bpe_lookup(m, b, n) >= 0) return -1;
    m->pool = rv_xrealloc(m->pool, m->pool_len + n + 1);
    memcpy(m->pool + m->pool_len, b, n);
    m->off[id] = (uint32_t)m->pool_len;
    m->len[id] = (uint32_t)n;
    m->pool_len += n;
    size_t mask = m->vcap - 1, i = hash_bytes(b, n) & mask;
    while (m->vslots[i] >= 0) i = (i + 1) & mask;
    m->vslots[i] = id;
    if (n == 1) m->byte_id[b[0]] = id;
    return 0;
}

static void merges_grow(rv_bpe *m) {
    rv_bpe_merge_slot *old = m->mslots;
    size_t oldcap = m->mcap;
    m->mcap *= 2;
    m->mslots = rv_xmalloc(m->mcap * sizeof *m->mslots);
    for (size_t i = 0; i < m->mcap; i++) m->mslots[i].key = UINT64_MAX;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key == UINT64_MAX) continue;
        size_t j = rv_hash_mix64(old[i].key) & (m->mcap - 1);
        while (m->mslots[j].key != UINT64_MAX) j = (j + 1) & (m->mcap - 1);
        m->mslots[j] = old[i];
    }
    free(old);
}

int rv_bpe_add_merge(rv_bpe *m, int32_t a, int32_t b) {
    size_t la = m->len[a], lb = m->len[b];
    unsigned char stackbuf[256];
    unsigned char *cat = la + lb <= sizeof stackbuf ? stackbuf : rv_xmalloc(la + lb);
    memcpy(cat, m->pool + m->off[a], la);
    memcpy(cat + la, m->pool + m->off[b], lb);
    int32_t id = rv_bpe_lookup(m, cat, la + lb);
    if (cat != stackbuf) free(cat);
    if (id < 0) return -1;
    if (2 * (m->n_merges + 1) > m->mcap) merges_grow(m);
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t rank = (uint32_t)m->n_merges++;
    size_t mask = m->mcap - 1, i = rv_hash_mix64(key) & mask;
    while (m->mslots[i].key != UINT64_MAX && m->mslots[i].key != key) i = (i + 1) & mask;
    m->mslots[i].key = key;
    m->mslots[i].rank = rank;
    m->mslots[i].id = id;
    return 0;
}

bool rv_bpe_merge_of(const rv_bpe *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->mcap - 1, i = rv_hash_mix64(key) & mask;
    for (;;) {
        const rv_bpe_merge_slot *s = &m->mslots[i];
        if (s->key == UINT64_MAX) return false;
        if (s->key == key) { *rank = s->rank; *id = s->id; return true; }
        i = (i + 1) & mask;
    }
}

/* ---- merge loop ---- */

enum { SCAN_MAX = 64 };

static void encode_scan(const rv_bpe *m, int32_t *sym, size_t k, rv_ids *out) {
    uint32_t rk[SCAN_MAX];
    int32_t nid[SCAN_MAX];
    for (size_t i = 0; i + 1 < k; i++)
        if (!rv_bpe_merge_of(m, sym[i], sym[i + 1], &rk[i], &nid[i])) rk[i] = UINT32_MAX;
    while (k > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < k; i++)
            if (rk[i] < rk[best]) best = i;
        if (rk[best] == UINT32_MAX) break;
        sym[best] = nid[best];
        memmove(sym + best + 1, sym + best + 2, (k - best - 2) * sizeof *sym);
        memmove(rk + best, rk + best + 1, (k - best - 2) * sizeof *rk);
        memmove(nid + best, nid + best + 1, (k - best - 2) * sizeof *nid);
        k--;
        if (best > 0 && !rv_bpe_merge_of(m, sym[best - 1], sym[best], &rk[best - 1], &nid[best - 1]))
            rk[best - 1] = UINT32_MAX;
        if (best + 1 < k && !rv_bpe_merge_of(m, sym[best], sym[best + 1], &rk[best], &nid[best]))
            rk[best] = UINT32_MAX;
    }
    for (size_t i = 0; i < k; i++) rv_ids_push(out, sym[i]);
}

typedef struct { uint32_t rank; uint32_t pos; int32_t left, right, id; } hentry;

static bool h_less(const hentry *a, const hentry *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void h_push(hentry *h, size_t *n, hentry e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static hentry h_pop(hentry *h, size_t *n) {
    hentry top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h_less(&h[c + 1], &h[c])) c++;
        if (!h_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void encode_heap(const rv_bpe *m, int32_t *sym, size_t k, rv_ids *out) {
    int32_t *prev = rv_xmalloc(k * sizeof *prev), *next = rv_xmalloc(k * sizeof *next);
    /* each merge adds at most two entries, and there are fewer than k merges */
    hentry *h = rv_xmalloc((3 * k + 1) * sizeof *h);
    size_t hn = 0;
    for (size_t i = 0; i < k; i++) { prev[i] = (int32_t)i - 1; next[i] = i + 1 < k ? (int32_t)i + 1 : -1; }
    for (size_t i = 0; i + 1 < k; i++) {
        hentry e = {0, (uint32_t)i, sym[i], sym[i + 1], 0};
        if (rv_bpe_merge_of(m, sym[i], sym[i + 1], &e.rank, &e.id)) h_push(h, &hn, e);
    }
    while (hn) {
        hentry e = h_pop(h, &hn);
        int32_t p = (int32_t)e.pos, q = next[p];
        if (sym[p] < 0 || sym[p] != e.left || q < 0 || sym[q] != e.right) continue; /* stale */
        sym[p] = e.id;
        sym[q] = -1;
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        hentry f = {0, 0, 0, 0, 0};
        if (prev[p] >= 0) {
            f.pos = (uint32_t)prev[p]; f.left = sym[prev[p]]; f.right = sym[p];
            if (rv_bpe_merge_of(m, f.left, f.right, &f.rank, &f.id)) h_push(h, &hn, f);
        }
        if (next[p] >= 0) {
            f.pos = (uint32_t)p; f.left = sym[p]; f.right = sym[next[p]];
            if (rv_bpe_merge_of(m, f.left, f.right, &f.rank, &f.id)) h_push(h, &hn, f);
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i]) rv_ids_push(out, sym[i]);
    free(prev); free(next); free(h);
}

void rv_bpe_encode_piece(const rv_bpe *m, const unsigned char *p, size_t n, rv_ids *out, size_t heap_from) {
    if (!n) return;
    if (m->ignore_merges) {
        int32_t id = rv_bpe_lookup(m, p, n);
        if (id >= 0) { rv_ids_push(out, id); return; }
    }
    if (heap_from == 0) heap_from = SCAN_MAX;
    if (heap_from > SCAN_MAX) heap_from = SCAN_MAX;
    int32_t stack[SCAN_MAX];
    int32_t *sym = n < heap_from ? stack : rv_xmalloc(n * sizeof *sym);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = m->byte_id[p[i]];
        if (id >= 0) sym[k++] = id; /* HF drops characters missing from the vocab (no unk) */
    }
    if (k == 1) rv_ids_push(out, sym[0]);
    else if (k > 1) {
        if (n < heap_from) encode_scan(m, sym, k, out);
        else encode_heap(m, sym, k, out);
    }
    if (sym != stack) free(sym);
}
