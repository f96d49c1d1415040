#include "eval/metrics/rouge.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/metrics/porter.h"
#include "eval/metrics/pytext.h"

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

static void push_token(rv_ngram_ws *ws, rv_toks *out, const char *w, size_t n) {
    if (n == 0) return;
    if (n <= 3) { rv_toks_push(out, w, n); return; }
    char buf[256];
    char *stem = n < sizeof buf ? buf : rv_xmalloc(n + 1);
    size_t sl = rv_porter_stem(w, n, stem);
    rv_toks_push(out, stem, sl);
    if (stem != buf) free(stem);
    (void)ws;
}

void rv_rouge_tokenize(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n) {
    rv_toks_clear(out);
    /* the lower-cased, filtered text is never longer than the input: every kept character is
     * one byte and each dropped run becomes one separator */
    char *t = rv_ngram_ws_tmp(ws, n + 1);
    size_t tl = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) t[tl++] = (char)c;
            else t[tl++] = ' ';
            i++;
            continue;
        }
        unsigned cp;
        i += rv_py_utf8_decode(s + i, n - i, &cp);
        /* str.lower(): U+0130 -> "i" + U+0307 (the mark is then a separator), U+212A -> "k" */
        if (cp == 0x130) { t[tl++] = 'i'; t[tl++] = ' '; }
        else if (cp == 0x212A) t[tl++] = 'k';
        else t[tl++] = ' ';
    }
    size_t start = 0;
    for (size_t k = 0; k <= tl; k++) {
        if (k == tl || t[k] == ' ') {
            push_token(ws, out, t + start, k - start);
            start = k + 1;
        }
    }
}

static rv_prf ngram_prf(const rv_gtab *tab, int order) {
    double inter = 0, tc = 0, pc = 0;
    for (size_t i = 0; i < tab->n; i++) {
        const rv_gent *e = rv_gtab_at(tab, i);
        if (!e->h || (int)e->order != order) continue;
        pc += e->a;
        tc += e->b;
        inter += e->a < e->b ? e->a : e->b;
    }
    rv_prf s;
    s.p = inter / (pc > 1 ? pc : 1);
    s.r = inter / (tc > 1 ? tc : 1);
    s.f = fmeasure(s.p, s.r);
    return s;
}

void rv_rouge_pair(const char *hyp, size_t hlen, const char *ref, size_t rlen, rv_prf out[3],
                   rv_ngram_ws *ws) {
    rv_rouge_tokenize(ws, &ws->hyp, hyp, hlen);
    rv_rouge_tokenize(ws, &ws->ref, ref, rlen);
    size_t m = ws->hyp.n, n = ws->ref.n;
    rv_gtab_reset(&ws->tab, 2 * (m + n));
    rv_gtab_count(&ws->tab, &ws->hyp, 2, 0);
    rv_gtab_count(&ws->tab, &ws->ref, 2, 1);
    out[RV_ROUGE1] = ngram_prf(&ws->tab, 1);
    out[RV_ROUGE2] = ngram_prf(&ws->tab, 2);

    rv_prf l = {0, 0, 0};
    if (m && n) {
        /* token ids from the unigram entries, then the LCS with two rows */
        uint32_t next = 1;
        if (m > ws->icap || n > ws->icap) {
            ws->icap = (m > n ? m : n) * 2;
            ws->ia = rv_xrealloc(ws->ia, ws->icap * sizeof *ws->ia);
            ws->ib = rv_xrealloc(ws->ib, ws->icap * sizeof *ws->ib);
        }
        for (size_t i = 0; i < ws->tab.n; i++) rv_gtab_at(&ws->tab, i)->mark = 0;
        for (int side = 0; side < 2; side++) {
            const rv_toks *tk = side ? &ws->ref : &ws->hyp;
            uint32_t *ids = side ? ws->ib : ws->ia;
            for (size_t i = 0; i < tk->n; i++) {
                rv_gent *e = rv_gtab_find(&ws->tab, tk->buf + tk->off[i], tk->len[i]);
                if (!e->mark) e->mark = next++;
                ids[i] = e->mark;
            }
        }
        if (2 * (n + 1) > ws->rowcap) {
            ws->rowcap = 2 * (n + 1);
            ws->row = rv_xrealloc(ws->row, ws->rowcap * sizeof *ws->row);
        }
        uint32_t *prev = ws->row, *cur = ws->row + n + 1;
        memset(prev, 0, (n + 1) * sizeof *prev);
        cur[0] = 0;
        for (size_t i = 0; i < m; i++) {
            for (size_t j = 0; j < n; j++) {
                if (ws->ia[i] == ws->ib[j]) cur[j + 1] = prev[j] + 1;
                else cur[j + 1] = prev[j + 1] > cur[j] ? prev[j + 1] : cur[j];
            }
            uint32_t *t = prev; prev = cur; cur = t;
            cur[0] = 0;
        }
        double lcs = prev[n];
        l.p = lcs / (double)m;
        l.r = lcs / (double)n;
        l.f = fmeasure(l.p, l.r);
    }
    out[RV_ROUGEL] = l;
}
