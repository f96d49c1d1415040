/* The HF BpeTrainer algorithm (models/bpe/trainer.rs), reproduced step for step so the learned
 * merges are identical: specials first, then the alphabet sorted by code point of its ByteLevel
 * character, then merges taken from a max-heap on (count, smallest pair ids), with counts
 * re-checked lazily and each heap entry merging only in the words it recorded. */
#include "tokenizer/bpe_train.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/fsutil.h"
#include "core/hash.h"
#include "core/hashmap.h"
#include "io/json.h"
#include "io/utf8.h"
#include "tokenizer/bpe.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pretokenize_qwen2.h"

/* ---- maps ---- */

/* pair -> int64 count, updated in place through the slot pointer (um_slot) in the merge loop;
 * kept private because core/hashmap's rv_imap has no in-place signed counter. */
typedef struct { uint64_t *k; int64_t *v; unsigned char *used; size_t cap, n; } u64map;

static void um_init(u64map *m, size_t cap) {
    m->cap = 64;
    while (m->cap < 2 * cap) m->cap <<= 1;
    m->k = rv_xmalloc(m->cap * sizeof *m->k);
    m->v = rv_xmalloc(m->cap * sizeof *m->v);
    m->used = rv_xcalloc(m->cap, 1);
    m->n = 0;
}
static void um_free(u64map *m) { free(m->k); free(m->v); free(m->used); memset(m, 0, sizeof *m); }

static int64_t *um_slot(u64map *m, uint64_t key, bool create);

static void um_grow(u64map *m) {
    u64map o = *m;
    um_init(m, o.cap);
    for (size_t i = 0; i < o.cap; i++)
        if (o.used[i]) *um_slot(m, o.k[i], true) = o.v[i];
    um_free(&o);
}

static int64_t *um_slot(u64map *m, uint64_t key, bool create) {
    size_t mask = m->cap - 1, i = rv_hash_mix64(key) & mask;
    while (m->used[i]) {
        if (m->k[i] == key) return &m->v[i];
        i = (i + 1) & mask;
    }
    if (!create) return NULL;
    if (2 * (m->n + 1) > m->cap) { um_grow(m); return um_slot(m, key, true); }
    m->used[i] = 1; m->k[i] = key; m->v[i] = 0; m->n++;
    return &m->v[i];
}

/* string -> int64, keys owned by a list (the index maps each spelling to its position in it) */
typedef struct { char **s; size_t *len; int64_t *val; size_t n, cap; rv_smap index; } strmap;

static void sm_init(strmap *m) { memset(m, 0, sizeof *m); rv_smap_init(&m->index, 512); }
static void sm_free(strmap *m) {
    for (size_t i = 0; i < m->n; i++) free(m->s[i]);
    free(m->s); free(m->len); free(m->val);
    rv_smap_free(&m->index);
}
static long sm_find(const strmap *m, const char *s, size_t n) {
    size_t k = rv_smap_getn(&m->index, s, n);
    return k == RV_MAP_NONE ? -1 : (long)k;
}
/* Appends s (not already present) with val; returns its position. */
static long sm_add(strmap *m, const char *s, size_t n, int64_t val) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->s = rv_xrealloc(m->s, m->cap * sizeof *m->s);
        m->len = rv_xrealloc(m->len, m->cap * sizeof *m->len);
        m->val = rv_xrealloc(m->val, m->cap * sizeof *m->val);
    }
    long k = (long)m->n++;
    m->s[k] = rv_xstrndup(s, n);
    m->len[k] = n;
    m->val[k] = val;
    rv_smap_putn(&m->index, m->s[k], n, (size_t)k); /* the copy is the key: it outlives the map */
    return k;
}

/* ---- trainer state ---- */

typedef struct { uint32_t *c; size_t n; } word;
typedef struct { size_t *v; size_t n, cap; } posvec;
typedef struct { uint32_t a, b; int64_t count; posvec pos; } hitem;

static uint64_t pkey(uint32_t a, uint32_t b) { return ((uint64_t)a << 32) | b; }

static void pv_add(posvec *p, size_t w) {
    if (p->n && p->v[p->n - 1] == w) return; /* a word's changes arrive together */
    if (p->n == p->cap) { p->cap = p->cap ? 2 * p->cap : 4; p->v = rv_xrealloc(p->v, p->cap * sizeof *p->v); }
    p->v[p->n++] = w;
}

/* HF's Merge ordering: larger count first, then the smaller pair. */
static bool h_before(const hitem *x, const hitem *y) {
    if (x->count != y->count) return x->count > y->count;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

typedef struct { hitem *v; size_t n, cap; } heap;

static void hp_push(heap *h, hitem it) {
    if (h->n == h->cap) { h->cap = h->cap ? 2 * h->cap : 1024; h->v = rv_xrealloc(h->v, h->cap * sizeof *h->v); }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h_before(&it, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = it;
}

static hitem hp_pop(heap *h) {
    hitem top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h_before(&h->v[c + 1], &h->v[c])) c++;
        if (!h_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* where_to_update: pair -> word list, in first-touched order */
typedef struct { u64map idx; uint64_t *keys; posvec *vecs; size_t n, cap; } wtu_t;

static void wtu_init(wtu_t *w) { um_init(&w->idx, 64); w->keys = NULL; w->vecs = NULL; w->n = w->cap = 0; }
static void wtu_add(wtu_t *w, uint64_t key, size_t word_i) {
    int64_t *slot = um_slot(&w->idx, key, true);
    if (*slot == 0) {
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 256;
            w->keys = rv_xrealloc(w->keys, w->cap * sizeof *w->keys);
            w->vecs = rv_xrealloc(w->vecs, w->cap * sizeof *w->vecs);
        }
        w->keys[w->n] = key;
        memset(&w->vecs[w->n], 0, sizeof w->vecs[w->n]);
        *slot = (int64_t)++w->n;
    }
    pv_add(&w->vecs[*slot - 1], word_i);
}
/* Moves every (pair, words) with a positive count into the heap and empties w. */
static void wtu_drain(wtu_t *w, u64map *counts, heap *h) {
    for (size_t i = 0; i < w->n; i++) {
        int64_t c = *um_slot(counts, w->keys[i], true);
        if (c > 0) hp_push(h, (hitem){(uint32_t)(w->keys[i] >> 32), (uint32_t)w->keys[i], c, w->vecs[i]});
        else free(w->vecs[i].v);
    }
    w->n = 0;
    um_free(&w->idx);
    um_init(&w->idx, 64);
}
static void wtu_free(wtu_t *w) { um_free(&w->idx); free(w->keys); free(w->vecs); }

typedef struct { uint64_t key; int change; } change_t;
typedef struct { change_t *v; size_t n, cap; } changes_t;

static void ch_add(changes_t *c, uint32_t a, uint32_t b, int d) {
    if (c->n == c->cap) { c->cap = c->cap ? 2 * c->cap : 64; c->v = rv_xrealloc(c->v, c->cap * sizeof *c->v); }
    c->v[c->n++] = (change_t){pkey(a, b), d};
}

/* HF Word::merge: left to right, non-overlapping; neighbour pair changes recorded. */
static void word_merge(word *w, uint32_t a, uint32_t b, uint32_t rep, changes_t *ch) {
    size_t i = 0;
    while (i < w->n) {
        if (w->c[i] == a && i + 1 < w->n && w->c[i + 1] == b) {
            if (i > 0) { ch_add(ch, w->c[i - 1], a, -1); ch_add(ch, w->c[i - 1], rep, 1); }
            w->c[i] = rep;
            memmove(w->c + i + 1, w->c + i + 2, (w->n - i - 2) * sizeof *w->c);
            w->n--;
            if (i + 1 < w->n) { ch_add(ch, b, w->c[i + 1], -1); ch_add(ch, rep, w->c[i + 1], 1); }
        }
        i++;
    }
}

/* ---- JSON ---- */

static cJSON *bytelevel_obj(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddFalseToObject(o, "add_prefix_space");
    cJSON_AddFalseToObject(o, "trim_offsets");
    cJSON_AddFalseToObject(o, "use_regex");
    return o;
}

static void write_json(const strmap *tok, size_t n_specials, const uint32_t (*merges)[2], size_t n_merges, rv_sb *out) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (size_t i = 0; i < n_specials; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", (double)i);
        cJSON_AddStringToObject(a, "content", tok->s[i]);
        cJSON_AddFalseToObject(a, "single_word");
        cJSON_AddFalseToObject(a, "lstrip");
        cJSON_AddFalseToObject(a, "rstrip");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddTrueToObject(a, "special");
        cJSON_AddItemToArray(added, a);
    }
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *seq = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
    cJSON_AddStringToObject(pat, "Regex", rv_qwen2_split_regex);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddFalseToObject(split, "invert");
    cJSON_AddItemToArray(seq, split);
    cJSON_AddItemToArray(seq, bytelevel_obj());
    cJSON_AddItemToObject(root, "post_processor", bytelevel_obj());
    cJSON_AddItemToObject(root, "decoder", bytelevel_obj());
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddFalseToObject(model, "fuse_unk");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON_AddFalseToObject(model, "ignore_merges");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (size_t i = 0; i < tok->n; i++) cJSON_AddNumberToObject(vocab, tok->s[i], (double)i);
    cJSON *ml = cJSON_AddArrayToObject(model, "merges");
    for (size_t i = 0; i < n_merges; i++) {
        const char *pair[2] = {tok->s[merges[i][0]], tok->s[merges[i][1]]};
        cJSON_AddItemToArray(ml, cJSON_CreateStringArray(pair, 2));
    }
    rv_pyjson_dump(out, root, 2, false);
    rv_sb_putc(out, '\n');
    cJSON_Delete(root);
}

/* ---- training ---- */

int rv_bpe_train_json(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                      const char *const *specials, size_t n_specials, rv_sb *json_out, rv_err *err) {
    /* 1. word counts over NFC + Qwen2 pieces, keyed by raw bytes */
    strmap wc;
    sm_init(&wc);
    rv_sb norm;
    rv_sb_init(&norm);
    for (size_t t = 0; t < n; t++) {
        size_t len = lens ? lens[t] : strlen(texts[t]);
        size_t bad = rv_utf8_first_invalid(texts[t], len);
        if (bad < len) {
            sm_free(&wc);
            rv_sb_free(&norm);
            return rv_fail(err, "bpe trainer: text %zu is not valid UTF-8 at byte %zu", t, bad);
        }
        rv_sb_clear(&norm);
        rv_nfc_append(texts[t], len, &norm);
        for (size_t pos = 0; pos < norm.len;) {
            size_t end = rv_qwen2_next(norm.s, norm.len, pos);
            long k = sm_find(&wc, norm.s + pos, end - pos);
            if (k < 0) sm_add(&wc, norm.s + pos, end - pos, 1);
            else wc.val[k]++;
            pos = end;
        }
    }
    rv_sb_free(&norm);

    /* 2. vocabulary: specials, then the 256 byte characters by code point; keyed by spelling */
    strmap tok;
    sm_init(&tok);
    size_t ns = 0;
    for (size_t i = 0; i < n_specials; i++)
        if (sm_find(&tok, specials[i], strlen(specials[i])) < 0) { sm_add(&tok, specials[i], strlen(specials[i]), 0); ns++; }
    uint32_t byte_tok[256];
    rv_sb sp;
    rv_sb_init(&sp);
    for (uint32_t cp = 0; cp < 0x144; cp++) {
        int b = rv_bytelevel_byte(cp);
        if (b < 0) continue;
        unsigned char ub = (unsigned char)b;
        rv_sb_clear(&sp);
        rv_bytelevel_encode(&ub, 1, &sp);
        long k = sm_find(&tok, sp.s, sp.len);
        byte_tok[b] = (uint32_t)(k >= 0 ? k : sm_add(&tok, sp.s, sp.len, 0));
    }

    /* 3. words as symbol ids */
    size_t nw = wc.n;
    word *words = rv_xcalloc(nw ? nw : 1, sizeof *words);
    for (size_t i = 0; i < nw; i++) {
        words[i].n = wc.len[i];
        words[i].c = rv_xmalloc((wc.len[i] ? wc.len[i] : 1) * sizeof *words[i].c);
        for (size_t j = 0; j < wc.len[i]; j++) words[i].c[j] = byte_tok[(unsigned char)wc.s[i][j]];
    }

    /* 4. pair counts and where they occur */
    u64map pc;
    um_init(&pc, 1024);
    wtu_t wtu;
    wtu_init(&wtu);
    for (size_t i = 0; i < nw; i++)
        for (size_t j = 0; j + 1 < words[i].n; j++) {
            uint64_t k = pkey(words[i].c[j], words[i].c[j + 1]);
            *um_slot(&pc, k, true) += wc.val[i];
            wtu_add(&wtu, k, i);
        }
    heap h = {0};
    wtu_drain(&wtu, &pc, &h);

    /* 5. merges */
    uint32_t (*merges)[2] = NULL;
    uint32_t *merge_new = NULL;
    size_t nm = 0, mcap = 0;
    changes_t ch = {0};
    while (tok.n < vocab_size && h.n) {
        hitem top = hp_pop(&h);
        uint64_t key = pkey(top.a, top.b);
        int64_t cur = *um_slot(&pc, key, true);
        if (top.count != cur) { top.count = cur; hp_push(&h, top); continue; }
        if (top.count < 1) { free(top.pos.v); break; }
        rv_sb_clear(&sp);
        rv_sb_append(&sp, tok.s[top.a], tok.len[top.a]);
        rv_sb_append(&sp, tok.s[top.b], tok.len[top.b]);
        long nid = sm_find(&tok, sp.s, sp.len);
        if (nid < 0) nid = sm_add(&tok, sp.s, sp.len, 0);
        if (nm == mcap) {
            mcap = mcap ? 2 * mcap : 256;
            merges = rv_xrealloc(merges, mcap * sizeof *merges);
            merge_new = rv_xrealloc(merge_new, mcap * sizeof *merge_new);
        }
        merges[nm][0] = top.a; merges[nm][1] = top.b; merge_new[nm] = (uint32_t)nid; nm++;
        for (size_t p = 0; p < top.pos.n; p++) {
            size_t wi = top.pos.v[p];
            ch.n = 0;
            word_merge(&words[wi], top.a, top.b, (uint32_t)nid, &ch);
            for (size_t c = 0; c < ch.n; c++) {
                *um_slot(&pc, ch.v[c].key, true) += ch.v[c].change * wc.val[wi];
                if (ch.v[c].change > 0) wtu_add(&wtu, ch.v[c].key, wi);
            }
        }
        free(top.pos.v);
        wtu_drain(&wtu, &pc, &h);
    }

    /* 6. merges list as HF serializes it: a pair merged twice keeps its last rank */
    u64map last;
    um_init(&last, nm + 1);
    for (size_t i = 0; i < nm; i++) *um_slot(&last, pkey(merges[i][0], merges[i][1]), true) = (int64_t)i;
    size_t w = 0;
    for (size_t i = 0; i < nm; i++)
        if (*um_slot(&last, pkey(merges[i][0], merges[i][1]), false) == (int64_t)i) {
            merges[w][0] = merges[i][0]; merges[w][1] = merges[i][1]; w++;
        }
    um_free(&last);
    write_json(&tok, ns, (const uint32_t (*)[2])merges, w, json_out);

    for (size_t i = 0; i < h.n; i++) free(h.v[i].pos.v);
    free(h.v);
    free(ch.v);
    free(merges);
    free(merge_new);
    for (size_t i = 0; i < nw; i++) free(words[i].c);
    free(words);
    wtu_free(&wtu);
    um_free(&pc);
    sm_free(&tok);
    sm_free(&wc);
    rv_sb_free(&sp);
    return 0;
}

int rv_bpe_train(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                 const char *const *specials, size_t n_specials, const char *out_json, rv_err *err) {
    rv_sb j;
    rv_sb_init(&j);
    int rc = rv_bpe_train_json(texts, lens, n, vocab_size, specials, n_specials, &j, err);
    if (!rc) rc = rv_write_atomic(out_json, j.s, j.len, err);
    rv_sb_free(&j);
    return rc;
}
