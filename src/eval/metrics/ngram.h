/* Token lists and n-gram multisets keyed by exact bytes (no hashing collisions matter: keys are
 * compared byte for byte). A token list keeps its tokens joined by single spaces in one buffer,
 * so an n-gram of consecutive tokens is one contiguous substring and needs no copy. Tokens never
 * contain a space (every tokenizer here splits on whitespace), so keys are unambiguous. */
#ifndef RADVLM_EVAL_NGRAM_H
#define RADVLM_EVAL_NGRAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct rv_toks {
    char *buf;
    size_t blen, bcap;
    size_t *off;   /* start of token i in buf */
    uint32_t *len; /* its length */
    size_t n, cap;
} rv_toks;

void rv_toks_clear(rv_toks *t);
void rv_toks_free(rv_toks *t);
void rv_toks_push(rv_toks *t, const char *p, size_t len);
/* The n-gram of k tokens starting at token i (i + k <= n). */
static inline const char *rv_toks_gram(const rv_toks *t, size_t i, size_t k, uint32_t *len) {
    *len = (uint32_t)(t->off[i + k - 1] + t->len[i + k - 1] - t->off[i]);
    return t->buf + t->off[i];
}

typedef struct rv_gent {
    uint64_t h;       /* 0 = empty slot (real hashes are forced non-zero) */
    const char *p;
    uint32_t len;
    uint32_t order;   /* n of the n-gram */
    uint32_t a, b;    /* counts of the two sides (hypothesis, reference) */
    uint32_t mark;    /* free for the caller (e.g. last document that counted it) */
    double w;         /* free for the caller */
} rv_gent;

typedef struct rv_gtab {
    rv_gent *e;
    size_t cap, n;
    uint32_t *used; /* slot index of each key, in insertion order (n of them) */
} rv_gtab;

/* The i-th key inserted (0 <= i < t->n). Iterate with this rather than over every slot. */
static inline rv_gent *rv_gtab_at(const rv_gtab *t, size_t i) { return &t->e[t->used[i]]; }

uint64_t rv_hash_bytes(const char *p, size_t n);
void rv_gtab_free(rv_gtab *t);
/* Empties the table, keeping room for about `expect` keys without growing. */
void rv_gtab_reset(rv_gtab *t, size_t expect);
rv_gent *rv_gtab_find(const rv_gtab *t, const char *p, uint32_t len);
/* Finds or inserts (counts zero). Keys must stay valid while the table is used. */
rv_gent *rv_gtab_add(rv_gtab *t, const char *p, uint32_t len, uint32_t order);
/* Adds every 1..maxn-gram of tk to side 0 (a) or 1 (b). */
void rv_gtab_count(rv_gtab *t, const rv_toks *tk, int maxn, int side);

/* Scratch space reused across pair scorings (so scoring a pair allocates nothing once warm).
 * Zero-initialise; release with rv_ngram_ws_free. Not shared between threads. */
typedef struct rv_ngram_ws {
    struct rv_span *sp;
    size_t spcap;
    rv_toks hyp, ref;
    rv_gtab tab;
    char *tmp;          /* tokenizer scratch text */
    size_t tmpcap;
    uint32_t *ia, *ib;  /* token ids (ROUGE-L) */
    size_t icap;
    uint32_t *row;      /* LCS rows */
    size_t rowcap;
} rv_ngram_ws;

void rv_ngram_ws_free(rv_ngram_ws *ws);
/* Fills ws->hyp / ws->ref style token lists by Python str.split() of s. */
void rv_toks_pysplit(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n);
/* Ensures ws->tmp holds at least n bytes. */
char *rv_ngram_ws_tmp(rv_ngram_ws *ws, size_t n);

#endif
