#include "eval/metrics/ngram.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"

void rv_toks_clear(rv_toks *t) { t->blen = 0; t->n = 0; }

void rv_toks_free(rv_toks *t) {
    free(t->buf); free(t->off); free(t->len);
    memset(t, 0, sizeof *t);
}

void rv_toks_push(rv_toks *t, const char *p, size_t len) {
    size_t need = t->blen + len + 2;
    if (need > t->bcap) {
        t->bcap = need * 2 > 256 ? need * 2 : 256;
        t->buf = rv_xrealloc(t->buf, t->bcap);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->off = rv_xrealloc(t->off, t->cap * sizeof *t->off);
        t->len = rv_xrealloc(t->len, t->cap * sizeof *t->len);
    }
    if (t->n) t->buf[t->blen++] = ' ';
    t->off[t->n] = t->blen;
    t->len[t->n] = (uint32_t)len;
    memcpy(t->buf + t->blen, p, len);
    t->blen += len;
    t->buf[t->blen] = '\0';
    t->n++;
}

uint64_t rv_hash_bytes(const char *p, size_t n) {
    /* FNV-1a with a final avalanche; 0 is reserved for empty slots */
    uint64_t h = rv_hash_mix64(rv_fnv1a64(p, n));
    return h ? h : 1;
}

void rv_gtab_free(rv_gtab *t) { free(t->e); free(t->used); memset(t, 0, sizeof *t); }

void rv_gtab_reset(rv_gtab *t, size_t expect) {
    size_t want = 16;
    while (want < expect * 2) want *= 2;
    if (want > t->cap) {
        free(t->e);
        free(t->used);
        t->e = rv_xcalloc(want, sizeof *t->e);
        t->used = rv_xmalloc(want * sizeof *t->used);
        t->cap = want;
    } else {
        /* clear only the occupied slots: a table grown once by a long text stays cheap */
        for (size_t i = 0; i < t->n; i++) t->e[t->used[i]].h = 0;
    }
    t->n = 0;
}

static size_t slot_ix(const rv_gtab *t, const char *p, uint32_t len, uint64_t h) {
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const rv_gent *e = &t->e[i];
        if (e->h == 0) return i;
        if (e->h == h && e->len == len && memcmp(e->p, p, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

static rv_gent *slot(const rv_gtab *t, const char *p, uint32_t len, uint64_t h) {
    return &t->e[slot_ix(t, p, len, h)];
}

rv_gent *rv_gtab_find(const rv_gtab *t, const char *p, uint32_t len) {
    if (!t->cap) return NULL;
    rv_gent *e = slot(t, p, len, rv_hash_bytes(p, len));
    return e->h ? e : NULL;
}

static void grow(rv_gtab *t) {
    rv_gtab old = *t;
    t->cap = old.cap ? old.cap * 2 : 16;
    t->e = rv_xcalloc(t->cap, sizeof *t->e);
    t->used = rv_xmalloc(t->cap * sizeof *t->used);
    t->n = 0;
    for (size_t i = 0; i < old.n; i++) { /* keeps insertion order */
        const rv_gent *o = &old.e[old.used[i]];
        size_t ix = slot_ix(t, o->p, o->len, o->h);
        t->e[ix] = *o;
        t->used[t->n++] = (uint32_t)ix;
    }
    free(old.e);
    free(old.used);
}

rv_gent *rv_gtab_add(rv_gtab *t, const char *p, uint32_t len, uint32_t order) {
    if ((t->n + 1) * 2 > t->cap) grow(t);
    uint64_t h = rv_hash_bytes(p, len);
    size_t ix = slot_ix(t, p, len, h);
    rv_gent *e = &t->e[ix];
    if (!e->h) {
        memset(e, 0, sizeof *e);
        e->h = h; e->p = p; e->len = len; e->order = order;
        t->used[t->n++] = (uint32_t)ix;
    }
    return e;
}

void rv_gtab_count(rv_gtab *t, const rv_toks *tk, int maxn, int side) {
    for (int k = 1; k <= maxn; k++)
        for (size_t i = 0; i + (size_t)k <= tk->n; i++) {
            uint32_t len;
            const char *p = rv_toks_gram(tk, i, (size_t)k, &len);
            rv_gent *e = rv_gtab_add(t, p, len, (uint32_t)k);
            if (side == 0) e->a++; else e->b++;
        }
}

#include "eval/metrics/pytext.h"

void rv_ngram_ws_free(rv_ngram_ws *ws) {
    free(ws->sp);
    rv_toks_free(&ws->hyp);
    rv_toks_free(&ws->ref);
    rv_gtab_free(&ws->tab);
    free(ws->tmp);
    free(ws->ia); free(ws->ib); free(ws->row);
    memset(ws, 0, sizeof *ws);
}

void rv_toks_pysplit(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n) {
    rv_toks_clear(out);
    size_t k = rv_py_split(s, n, &ws->sp, &ws->spcap);
    for (size_t i = 0; i < k; i++) rv_toks_push(out, ws->sp[i].p, ws->sp[i].len);
}

char *rv_ngram_ws_tmp(rv_ngram_ws *ws, size_t n) {
    if (n + 1 > ws->tmpcap) {
        ws->tmpcap = (n + 1) * 2;
        ws->tmp = rv_xrealloc(ws->tmp, ws->tmpcap);
    }
    return ws->tmp;
}
