#include "eval/metrics/cider.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NP_E 2.718281828459045 /* numpy.e; the penalty is np.e ** x, i.e. pow, not exp */

struct rv_cider_df {
    rv_toks *docs; /* tokenised references: the table's keys point into them */
    size_t n;
    rv_gtab tab;   /* n-gram -> number of references containing it (field a) */
    double ref_len;
};

rv_cider_df *rv_cider_df_build(const char *const *refs, const size_t *lens, size_t n) {
    rv_cider_df *df = rv_xcalloc(1, sizeof *df);
    df->n = n;
    df->docs = rv_xcalloc(n ? n : 1, sizeof *df->docs);
    rv_ngram_ws ws = {0};
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        rv_toks_pysplit(&ws, &df->docs[i], refs[i], lens ? lens[i] : strlen(refs[i]));
        total += df->docs[i].n;
    }
    rv_ngram_ws_free(&ws);
    rv_gtab_reset(&df->tab, total * 2 + 16);
    for (size_t d = 0; d < n; d++) {
        const rv_toks *tk = &df->docs[d];
        for (size_t k = 1; k <= 4; k++)
            for (size_t i = 0; i + k <= tk->n; i++) {
                uint32_t len;
                const char *p = rv_toks_gram(tk, i, k, &len);
                rv_gent *e = rv_gtab_add(&df->tab, p, len, (uint32_t)k);
                if (e->mark != d + 1) { e->mark = (uint32_t)(d + 1); e->a++; }
            }
    }
    df->ref_len = log((double)n);
    return df;
}

void rv_cider_df_free(rv_cider_df *df) {
    if (!df) return;
    for (size_t i = 0; i < df->n; i++) rv_toks_free(&df->docs[i]);
    free(df->docs);
    rv_gtab_free(&df->tab);
    free(df);
}

int rv_cider_df_empty(const rv_cider_df *df) { return df->tab.n == 0; }

double rv_cider_pair(const rv_cider_df *df, const char *hyp, size_t hlen, const char *ref,
                     size_t rlen, rv_ngram_ws *ws) {
    rv_toks_pysplit(ws, &ws->hyp, hyp, hlen);
    rv_toks_pysplit(ws, &ws->ref, ref, rlen);
    rv_gtab_reset(&ws->tab, 4 * (ws->hyp.n + ws->ref.n));
    rv_gtab_count(&ws->tab, &ws->hyp, 4, 0);
    rv_gtab_count(&ws->tab, &ws->ref, 4, 1);
    double norm_h[4] = {0}, norm_r[4] = {0}, val[4] = {0};
    /* weight(g) = tf * (ref_len - ln(max(1, df))); stored per side in w (hyp) via a, b */
    for (size_t i = 0; i < ws->tab.n; i++) {
        rv_gent *e = rv_gtab_at(&ws->tab, i);
        if (!e->h) continue;
        const rv_gent *d = rv_gtab_find(&df->tab, e->p, e->len);
        double dfv = d ? (double)d->a : 0.0;
        double idf = df->ref_len - log(dfv > 1.0 ? dfv : 1.0);
        double wh = (double)e->a * idf, wr = (double)e->b * idf;
        int o = (int)e->order - 1;
        if (e->a) norm_h[o] += wh * wh;
        if (e->b) norm_r[o] += wr * wr;
        if (e->a) val[o] += (wh < wr ? wh : wr) * wr;
    }
    /* "length" is the bigram count, as in the reference */
    double lh = ws->hyp.n > 1 ? (double)(ws->hyp.n - 1) : 0.0;
    double lr = ws->ref.n > 1 ? (double)(ws->ref.n - 1) : 0.0;
    double delta = lh - lr;
    double pen = pow(NP_E, -(delta * delta) / (2.0 * 6.0 * 6.0));
    double sum = 0.0;
    for (int o = 0; o < 4; o++) {
        double nh = sqrt(norm_h[o]), nr = sqrt(norm_r[o]);
        if (nh != 0 && nr != 0) val[o] /= nh * nr;
        val[o] *= pen;
        sum += val[o];
    }
    return sum / 4.0 * 10.0;
}
