#include "eval/metrics/bleu.h"

#include <math.h>
#include <string.h>

void rv_bleu_stats_pair(const char *hyp, size_t hlen, const char *ref, size_t rlen,
                        rv_bleu_stats *out, rv_ngram_ws *ws) {
    memset(out, 0, sizeof *out);
    rv_toks_pysplit(ws, &ws->hyp, hyp, hlen);
    rv_toks_pysplit(ws, &ws->ref, ref, rlen);
    out->testlen = (double)ws->hyp.n;
    out->reflen = (double)ws->ref.n;
    for (int k = 1; k <= 4; k++)
        out->guess[k - 1] = ws->hyp.n >= (size_t)k ? (double)(ws->hyp.n - (size_t)k + 1) : 0.0;
    rv_gtab_reset(&ws->tab, 4 * (ws->hyp.n + ws->ref.n));
    rv_gtab_count(&ws->tab, &ws->hyp, 4, 0);
    rv_gtab_count(&ws->tab, &ws->ref, 4, 1);
    for (size_t i = 0; i < ws->tab.n; i++) {
        const rv_gent *e = rv_gtab_at(&ws->tab, i);
        if (e->h && e->a && e->b) out->correct[e->order - 1] += (double)(e->a < e->b ? e->a : e->b);
    }
}

void rv_bleu_stats_add(rv_bleu_stats *acc, const rv_bleu_stats *s) {
    acc->testlen += s->testlen;
    acc->reflen += s->reflen;
    for (int k = 0; k < 4; k++) { acc->guess[k] += s->guess[k]; acc->correct[k] += s->correct[k]; }
}

void rv_bleu_score(const rv_bleu_stats *s, double bleu[4]) {
    const double tiny = 1e-15, small = 1e-9;
    double prod = 1.0;
    for (int k = 0; k < 4; k++) {
        prod *= (s->correct[k] + tiny) / (s->guess[k] + small);
        bleu[k] = pow(prod, 1.0 / (double)(k + 1));
    }
    double ratio = (s->testlen + tiny) / (s->reflen + small);
    if (ratio < 1.0) {
        double bp = exp(1.0 - 1.0 / ratio);
        for (int k = 0; k < 4; k++) bleu[k] *= bp;
    }
}
