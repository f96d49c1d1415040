#include "eval/neural/neural_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "eval/metrics/bleu.h"
#include "eval/metrics/chexpert_labeler.h"
#include "eval/metrics/radcliq.h"
#include "eval/neural/bertscore.h"
#include "eval/neural/chexbert.h"
#include "eval/neural/radgraph.h"
#include "eval/neural/semb.h"
#include "eval/neural/text_prep.h"

/* upstream's reward-server rules (verl/custom_rewards/reward_server/worker_*.py) */
#define SHORT_CP 5        /* a text of at most this many code points is not scored */
#define PREFIX_CP 2048    /* texts are cut to this many code points, then lower-cased */
#define RADCLIQ_PENALTY (-3.0)
/* bert_score.score's default batch_size: upstream's report metric scores the whole list in one call */
#define RV_BERTSCORE_LIST_BATCH 64

struct rv_neural {
    rv_bertscorer *bs;      /* metrics.bertscore_model */
    rv_bertscorer *rcq_bs;  /* metrics.radcliq_bertscore_model (may be bs) */
    rv_chexbert *cx;
    rv_radgraph *rg;
    char describe[1024];
};

void rv_neural_opts_from_cfg(const rv_config *cfg, rv_neural_opts *o) {
    o->bertscore_model = rv_cfg_str(cfg, "metrics.bertscore_model");
    o->bertscore_layer = (int)rv_cfg_int(cfg, "metrics.bertscore_layer");
    o->bertscore_baseline = rv_cfg_str(cfg, "metrics.bertscore_baseline");
    o->radcliq_bertscore_model = rv_cfg_str(cfg, "metrics.radcliq_bertscore_model");
    o->chexbert_model = rv_cfg_str(cfg, "metrics.chexbert_model");
    o->radgraph_model = rv_cfg_str(cfg, "metrics.radgraph_model");
}

static bool set(const char *s) { return s && *s; }

bool rv_neural_opts_any(const rv_neural_opts *o) {
    return set(o->bertscore_model) || set(o->radcliq_bertscore_model) || set(o->chexbert_model) ||
           set(o->radgraph_model);
}

int rv_neural_load(rv_neural **out, const rv_neural_opts *o, rv_kctx *k, rv_err *err) {
    rv_neural *nm = rv_xcalloc(1, sizeof *nm);
    *out = NULL;
    int rc = 0;
    if (set(o->bertscore_model) &&
        rv_bertscorer_load(&nm->bs, o->bertscore_model, o->bertscore_layer, o->bertscore_baseline, k, err))
        rc = rv_fail_wrap(err, "metrics.bertscore_model");
    const char *rcq = set(o->radcliq_bertscore_model) ? o->radcliq_bertscore_model : o->bertscore_model;
    if (!rc && set(rcq)) {
        if (nm->bs && !strcmp(rcq, o->bertscore_model)) nm->rcq_bs = nm->bs;
        else if (rv_bertscorer_load(&nm->rcq_bs, rcq, o->bertscore_layer, o->bertscore_baseline, k, err))
            rc = rv_fail_wrap(err, "metrics.radcliq_bertscore_model");
    }
    if (!rc && set(o->chexbert_model) && rv_chexbert_load(&nm->cx, o->chexbert_model, k, err))
        rc = rv_fail_wrap(err, "metrics.chexbert_model");
    if (!rc && set(o->radgraph_model) && rv_radgraph_load(&nm->rg, o->radgraph_model, k, err))
        rc = rv_fail_wrap(err, "metrics.radgraph_model");
    if (rc) { rv_neural_free(nm); return -1; }
    snprintf(nm->describe, sizeof nm->describe, "BERTScore: %s; RadCliQ BERTScore: %s; CheXbert: %s; RadGraph-XL: %s",
             nm->bs ? rv_bertscorer_describe(nm->bs) : "none", nm->rcq_bs ? rv_bertscorer_describe(nm->rcq_bs) : "none",
             nm->cx ? o->chexbert_model : "none", nm->rg ? o->radgraph_model : "none");
    *out = nm;
    return 0;
}

void rv_neural_free(rv_neural *nm) {
    if (!nm) return;
    if (nm->rcq_bs != nm->bs) rv_bertscorer_free(nm->rcq_bs);
    rv_bertscorer_free(nm->bs);
    rv_chexbert_free(nm->cx);
    rv_radgraph_free(nm->rg);
    free(nm);
}

bool rv_neural_has(const rv_neural *nm, rv_neural_metric m) { return nm && !rv_neural_unavailable(nm, m); }

const char *rv_neural_unavailable(const rv_neural *nm, rv_neural_metric m) {
    switch (m) {
    case RV_NEURAL_BERTSCORE:
        return nm && nm->bs ? NULL : "needs a BERTScore model: set metrics.bertscore_model (upstream: distilbert-base-uncased, layer 5; docs/metrics.md)";
    case RV_NEURAL_RADGRAPH:
        return nm && nm->rg ? NULL : "needs the RadGraph-XL model: set metrics.radgraph_model (docs/metrics.md)";
    case RV_NEURAL_CHEXBERT:
        return nm && nm->cx ? NULL : "needs the CheXbert model: set metrics.chexbert_model (docs/metrics.md); chexpert_rules_* are the rule-based labeler's F1 instead (not CheXbert)";
    case RV_NEURAL_RADCLIQ:
        return nm && nm->rcq_bs && nm->cx && nm->rg ? NULL
               : "RadCliQ-v1 needs RadGraph-XL, BERTScore (distilroberta-base) and CheXbert: set metrics.radgraph_model, "
                 "metrics.radcliq_bertscore_model (or metrics.bertscore_model) and metrics.chexbert_model (docs/metrics.md)";
    }
    return "unknown metric";
}

const char *rv_neural_describe(const rv_neural *nm) { return nm ? nm->describe : "no neural metric model"; }

static char **cstrings(const rv_span *s, size_t n) {
    char **o = rv_xmalloc((n ? n : 1) * sizeof *o);
    for (size_t i = 0; i < n; i++) o[i] = rv_np_utf8_fix(s[i].p, s[i].len);
    return o;
}

static void free_strings(char **s, size_t n) {
    for (size_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* -RadCliQ-v1 of the pairs whose texts are already prepared (prefix, lower-cased) and long
 * enough: out[n]. */
static int radcliq_prepared(rv_neural *nm, char **hyp, char **ref, size_t n, double *out, rv_err *err) {
    if (!n) return 0;
    rv_bertscore_prf *bs = rv_xmalloc(n * sizeof *bs);
    rv_radgraph_pair *rg = rv_xmalloc(n * sizeof *rg);
    int dim = rv_chexbert_hidden_size(nm->cx);
    float *eh = rv_xmalloc(n * (size_t)dim * sizeof *eh), *er = rv_xmalloc(n * (size_t)dim * sizeof *er);
    int rc = rv_bertscorer_score(nm->rcq_bs, (const char *const *)hyp, (const char *const *)ref, n, 1, bs, err);
    if (!rc) rc = rv_radgraph_score(nm->rg, (const char *const *)hyp, (const char *const *)ref, n, rg, err);
    if (!rc) rc = rv_chexbert_embed(nm->cx, (const char *const *)hyp, n, eh, err);
    if (!rc) rc = rv_chexbert_embed(nm->cx, (const char *const *)ref, n, er, err);
    rv_ngram_ws ws = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        rv_bleu_stats st;
        double b[4];
        rv_bleu_stats_pair(hyp[i], strlen(hyp[i]), ref[i], strlen(ref[i]), &st, &ws);
        rv_bleu_score(&st, b);
        rv_radcliq_features f = {.radgraph = rg[i].rcq, .bertscore = bs[i].f,
                                 .semb = rv_semb_cosine(er + i * (size_t)dim, eh + i * (size_t)dim, dim), .bleu = b[3],
                                 .have_radgraph = true, .have_bertscore = true, .have_semb = true, .have_bleu = true};
        double s;
        const char *why;
        rv_radcliq_v1(&f, &s, &why);
        out[i] = -s;
    }
    rv_ngram_ws_free(&ws);
    free(bs); free(rg); free(eh); free(er);
    return rc;
}

/* Upstream's server rules around a model score: short texts get `short_value`, the others are
 * cut to 2048 code points and lower-cased, then scored by m. */
static int server_scores(rv_neural *nm, rv_neural_metric m, const rv_span *hyps, const rv_span *refs, size_t n,
                         double short_value, double *out, rv_err *err) {
    char **h = rv_xmalloc((n ? n : 1) * sizeof *h), **r = rv_xmalloc((n ? n : 1) * sizeof *r);
    size_t *at = rv_xmalloc((n ? n : 1) * sizeof *at), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rv_np_codepoints(hyps[i].p, hyps[i].len) <= SHORT_CP || rv_np_codepoints(refs[i].p, refs[i].len) <= SHORT_CP) {
            out[i] = short_value;
            continue;
        }
        h[k] = rv_np_lower_prefix(hyps[i].p, hyps[i].len, PREFIX_CP);
        r[k] = rv_np_lower_prefix(refs[i].p, refs[i].len, PREFIX_CP);
        at[k++] = i;
    }
    double *v = rv_xmalloc((k ? k : 1) * sizeof *v);
    int rc = 0;
    if (m == RV_NEURAL_RADCLIQ) {
        rc = radcliq_prepared(nm, h, r, k, v, err);
    } else if (m == RV_NEURAL_BERTSCORE && k) {
        rv_bertscore_prf *p = rv_xmalloc(k * sizeof *p);
        rc = rv_bertscorer_score(nm->bs, (const char *const *)h, (const char *const *)r, k, 1, p, err);
        for (size_t i = 0; !rc && i < k; i++) v[i] = p[i].f;
        free(p);
    } else if (m == RV_NEURAL_RADGRAPH && k) {
        rv_radgraph_pair *p = rv_xmalloc(k * sizeof *p);
        rc = rv_radgraph_score(nm->rg, (const char *const *)h, (const char *const *)r, k, p, err);
        for (size_t i = 0; !rc && i < k; i++) v[i] = p[i].complete;
        free(p);
    }
    for (size_t i = 0; !rc && i < k; i++) out[at[i]] = v[i];
    free_strings(h, k);
    free_strings(r, k);
    free(at);
    free(v);
    return rc;
}

int rv_neural_score_pairs(rv_neural *nm, const rv_span *hyps, const rv_span *refs, size_t n, rv_neural_feats *out,
                          rv_err *err) {
    for (size_t i = 0; i < n; i++)
        out[i] = (rv_neural_feats){NAN, {NAN, NAN, NAN}, NAN, NAN, NAN};
    if (!nm || !n) return 0;
    char **h = cstrings(hyps, n), **r = cstrings(refs, n);
    int rc = 0;
    if (nm->bs) {
        rv_bertscore_prf *p = rv_xmalloc(n * sizeof *p);
        rc = rv_bertscorer_score(nm->bs, (const char *const *)h, (const char *const *)r, n, RV_BERTSCORE_LIST_BATCH, p, err);
        for (size_t i = 0; !rc && i < n; i++) out[i].bertscore = p[i].f;
        free(p);
    }
    if (!rc && nm->rg) {
        rv_radgraph_pair *p = rv_xmalloc(n * sizeof *p);
        rc = rv_radgraph_score(nm->rg, (const char *const *)h, (const char *const *)r, n, p, err);
        for (size_t i = 0; !rc && i < n; i++) {
            out[i].radgraph[0] = p[i].simple;
            out[i].radgraph[1] = p[i].partial;
            out[i].radgraph[2] = p[i].complete;
        }
        free(p);
    }
    if (!rc && nm->cx) {
        int (*c)[RV_CHX_NLABELS] = rv_xmalloc(2 * n * sizeof *c);
        char **both = rv_xmalloc(2 * n * sizeof *both);
        memcpy(both, h, n * sizeof *both);
        memcpy(both + n, r, n * sizeof *both);
        rc = rv_chexbert_label(nm->cx, (const char *const *)both, 2 * n, c, NULL, err);
        for (size_t i = 0; !rc && i < n; i++) {
            out[i].chexbert_hyp_bits = rv_chx_rrg_bits(c[i]);
            out[i].chexbert_ref_bits = rv_chx_rrg_bits(c[n + i]);
        }
        free(both);
        free(c);
    }
    if (!rc && rv_neural_has(nm, RV_NEURAL_RADCLIQ)) {
        /* compute_radcliq.py: an empty output or answer is -3 without asking the server; the
         * server gives -3 to <= 5 code points anyway, so one rule covers both */
        double *v = rv_xmalloc(n * sizeof *v);
        rc = server_scores(nm, RV_NEURAL_RADCLIQ, hyps, refs, n, RADCLIQ_PENALTY, v, err);
        for (size_t i = 0; !rc && i < n; i++) out[i].radcliq = v[i];
        free(v);
    }
    free_strings(h, n);
    free_strings(r, n);
    return rc;
}

int rv_neural_reward(rv_neural *nm, rv_neural_metric m, const rv_span *answers, const rv_span *truths, size_t n,
                     double *out, rv_err *err) {
    if (m == RV_NEURAL_CHEXBERT || !rv_neural_has(nm, m))
        return rv_fail(err, "the %s reward %s", m == RV_NEURAL_BERTSCORE ? "bertscore" : m == RV_NEURAL_RADGRAPH ? "radgraph"
                                                : m == RV_NEURAL_RADCLIQ ? "radcliq" : "chexbert",
                       m == RV_NEURAL_CHEXBERT ? "does not exist" : rv_neural_unavailable(nm, m));
    double short_value = m == RV_NEURAL_RADCLIQ ? RADCLIQ_PENALTY : m == RV_NEURAL_RADGRAPH ? -0.0 : 0.0;
    return server_scores(nm, m, answers, truths, n, short_value, out, err);
}
