#include "eval/neural/text_batch.h"

#include <stdlib.h>
#include <string.h>

int rv_text_batch_max_len(const rv_encoder *e) {
    const rv_enc_cfg *c = rv_encoder_cfg(e);
    int m = c->max_pos;
    if (c->arch == RV_ENC_ROBERTA) m -= c->pad_id + 1;
    return m < 512 ? m : 512;
}

int rv_text_batch_tokenize(rv_text_batch *b, const rv_text_tok *tok, const char *const *texts, size_t n, int max_len,
                           rv_err *err) {
    memset(b, 0, sizeof *b);
    b->n = n;
    b->ids = rv_xcalloc(n ? n : 1, sizeof *b->ids);
    b->len = rv_xcalloc(n ? n : 1, sizeof *b->len);
    b->row = rv_xcalloc(n + 1, sizeof *b->row);
    for (size_t i = 0; i < n; i++) {
        if (!texts[i][0]) { /* tokenizer.build_inputs_with_special_tokens([]) */
            b->ids[i] = rv_xmalloc(2 * sizeof **b->ids);
            b->ids[i][0] = rv_text_tok_cls(tok);
            b->ids[i][1] = rv_text_tok_sep(tok);
            b->len[i] = 2;
        } else if (rv_text_tok_encode(tok, texts[i], true, max_len, &b->ids[i], &b->len[i], err)) {
            return rv_fail_wrap(err, "tokenising text %zu", i);
        }
        b->row[i + 1] = b->row[i] + b->len[i];
    }
    return 0;
}

int rv_text_batch_forward(rv_text_batch *b, rv_encoder *e, rv_err *err) {
    int dim = rv_encoder_cfg(e)->hidden;
    b->dim = dim;
    free(b->hidden);
    b->hidden = rv_xmalloc((b->row[b->n] ? b->row[b->n] : 1) * (size_t)dim * sizeof *b->hidden);
    int32_t *ids = NULL, *cu = NULL;
    size_t cap_ids = 0, cap_cu = 0;
    int rc = 0;
    for (size_t s = 0; s < b->n && !rc;) {
        /* texts [s, t): at most RV_TEXT_BATCH_TOKENS tokens, at least one text */
        size_t t = s, tokens = 0;
        while (t < b->n && (t == s || tokens + b->len[t] <= RV_TEXT_BATCH_TOKENS)) tokens += b->len[t++];
        if (tokens > cap_ids) { cap_ids = tokens; ids = rv_xrealloc(ids, cap_ids * sizeof *ids); }
        if (t - s + 1 > cap_cu) { cap_cu = t - s + 1; cu = rv_xrealloc(cu, cap_cu * sizeof *cu); }
        cu[0] = 0;
        for (size_t i = s; i < t; i++) {
            memcpy(ids + cu[i - s], b->ids[i], b->len[i] * sizeof *ids);
            cu[i - s + 1] = cu[i - s] + (int32_t)b->len[i];
        }
        rc = rv_encoder_forward(e, ids, cu, (int)(t - s), b->hidden + b->row[s] * (size_t)dim, err);
        s = t;
    }
    free(ids);
    free(cu);
    return rc;
}

void rv_text_batch_free(rv_text_batch *b) {
    for (size_t i = 0; b->ids && i < b->n; i++) free(b->ids[i]);
    free(b->ids);
    free(b->len);
    free(b->row);
    free(b->hidden);
    memset(b, 0, sizeof *b);
}

typedef struct keyed {
    const char *s;
    size_t i;
} keyed;

static int by_text(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

void rv_text_dedup(const char *const *texts, size_t n, const char ***uniq, size_t *nuniq, size_t **which) {
    keyed *k = rv_xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++) k[i] = (keyed){texts[i], i};
    qsort(k, n, sizeof *k, by_text);
    *uniq = rv_xmalloc((n ? n : 1) * sizeof **uniq);
    *which = rv_xmalloc((n ? n : 1) * sizeof **which);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(k[i].s, k[i - 1].s) != 0) (*uniq)[u++] = k[i].s;
        (*which)[k[i].i] = u - 1;
    }
    *nuniq = u;
    free(k);
}
