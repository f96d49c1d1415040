/* NFC per UAX #15 with the generated tables; Hangul (de)composition is algorithmic. */
#include "tokenizer/nfc.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "io/utf8.h"
#include "tokenizer/unicode_tables.h"

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7,
       LCOUNT = 19, VCOUNT = 21, TCOUNT = 28, NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

unsigned rv_uni_ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = rv_uni_ccc_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < rv_uni_ccc[mid].lo) hi = mid;
        else if (cp > rv_uni_ccc[mid].hi) lo = mid + 1;
        else return rv_uni_ccc[mid].ccc;
    }
    return 0;
}

const uint32_t *rv_uni_decomposition(uint32_t cp, size_t *len) {
    size_t lo = 0, hi = rv_uni_decomps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < rv_uni_decomps[mid].cp) hi = mid;
        else if (cp > rv_uni_decomps[mid].cp) lo = mid + 1;
        else { *len = rv_uni_decomps[mid].len; return rv_uni_decomp_pool + rv_uni_decomps[mid].off; }
    }
    return NULL;
}

uint32_t rv_uni_compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    size_t lo = 0, hi = rv_uni_comps_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const rv_uni_comp *c = &rv_uni_comps[mid];
        if (a < c->first || (a == c->first && b < c->second)) hi = mid;
        else if (a > c->first || b > c->second) lo = mid + 1;
        else return c->composite;
    }
    return 0;
}

bool rv_nfc_quick_yes(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned last = 0;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { last = 0; i++; continue; }
        uint32_t cp = 0xFFFD;
        size_t l = rv_utf8_decode(u + i, n - i, &cp);
        i += l ? l : 1;
        if (rv_uni_flags(cp) & (RV_UNI_QC_NO | RV_UNI_QC_MAYBE)) return false;
        unsigned c = rv_uni_ccc_of(cp);
        if (c && last > c) return false;
        last = c;
    }
    return true;
}

typedef struct { uint32_t *v; size_t n, cap; } cpbuf;

static void cp_push(cpbuf *b, uint32_t c) {
    if (b->n == b->cap) { b->cap = b->cap ? 2 * b->cap : 64; b->v = rv_xrealloc(b->v, b->cap * sizeof *b->v); }
    b->v[b->n++] = c;
}

void rv_nfc_append(const char *s, size_t n, rv_sb *out) {
    if (rv_nfc_quick_yes(s, n)) { rv_sb_append(out, s, n); return; }
    const unsigned char *u = (const unsigned char *)s;
    cpbuf d = {0};
    /* 1. full canonical decomposition */
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0xFFFD;
        size_t l = rv_utf8_decode(u + i, n - i, &cp);
        i += l ? l : 1;
        if (cp >= SBASE && cp < SBASE + SCOUNT) {
            uint32_t si = cp - SBASE;
            cp_push(&d, LBASE + si / NCOUNT);
            cp_push(&d, VBASE + (si % NCOUNT) / TCOUNT);
            if (si % TCOUNT) cp_push(&d, TBASE + si % TCOUNT);
            continue;
        }
        size_t dl;
        const uint32_t *dp = rv_uni_decomposition(cp, &dl);
        if (dp) for (size_t k = 0; k < dl; k++) cp_push(&d, dp[k]);
        else cp_push(&d, cp);
    }
    /* 2. canonical ordering: stable insertion sort by ccc inside runs of non-starters */
    unsigned char *cc = rv_xmalloc(d.n ? d.n : 1);
    for (size_t i = 0; i < d.n; i++) cc[i] = (unsigned char)rv_uni_ccc_of(d.v[i]);
    for (size_t i = 1; i < d.n; i++) {
        if (!cc[i]) continue;
        size_t j = i;
        while (j > 0 && cc[j - 1] > cc[j]) {
            uint32_t t = d.v[j]; d.v[j] = d.v[j - 1]; d.v[j - 1] = t;
            unsigned char tc = cc[j]; cc[j] = cc[j - 1]; cc[j - 1] = tc;
            j--;
        }
    }
    /* 3. canonical composition (blocked when a mark of equal or higher class intervenes) */
    size_t w = 0, starter = 0;
    unsigned last = 256;
    bool have_starter = false;
    for (size_t i = 0; i < d.n; i++) {
        uint32_t ch = d.v[i];
        unsigned c = cc[i];
        if (have_starter && (last < c || last == 0)) {
            uint32_t comp = rv_uni_compose(d.v[starter], ch);
            if (comp && (last < c || (last == 0 && w == starter + 1))) { d.v[starter] = comp; continue; }
        }
        if (c == 0) { starter = w; have_starter = true; }
        last = c;
        d.v[w] = ch;
        cc[w] = (unsigned char)c;
        w++;
    }
    for (size_t i = 0; i < w; i++) rv_sb_put_cp(out, d.v[i]);
    free(cc);
    free(d.v);
}
