/* The neural report metrics of a run, loaded once from the configured model directories
 * (metrics.bertscore_model, metrics.bertscore_layer, metrics.bertscore_baseline,
 * metrics.radcliq_bertscore_model, metrics.chexbert_model, metrics.radgraph_model), and what
 * they compute per (candidate, reference) pair, in batches:
 *   - bertscore: rescaled BERTScore-F (bertscore.h) of the texts as given (upstream's report
 *     metric `bertscore`: distilbert-base-uncased, layer 5, one bert_score call over the whole
 *     list: pairs padded in batches of 64, so the n pairs must start at a multiple of 64 of the
 *     list, RV_EVAL_NEURAL_BLOCK);
 *   - radgraph simple / partial / complete F1 (eval/neural/radgraph.h);
 *   - CheXbert labels of both texts (rrg bits; upstream's chexbert_* F1s);
 *   - radcliq: -RadCliQ-v1 exactly as upstream's reward worker / compute_radcliq.py score a pair
 *     (eval.md §5.2, §6.1): either text of <= 5 code points -> -3; else both cut to 2048 code
 *     points and lower-cased, features [RadGraph-XL (entity F1 + relation F1) / 2, BERTScore-F
 *     (metrics.radcliq_bertscore_model: distilroberta-base, layer 5), CheXbert [CLS] cosine,
 *     per-sentence BLEU-4], combined by rv_radcliq_v1 and negated (higher is better).
 * A metric whose models are not configured is not computed (NaN) and its reason is given by
 * rv_neural_unavailable. */
#ifndef RADVLM_EVAL_NEURAL_NEURAL_METRICS_H
#define RADVLM_EVAL_NEURAL_NEURAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "eval/metrics/pytext.h"
#include "kernels/kernels.h"

typedef struct rv_neural_opts {
    const char *bertscore_model;         /* "" = none */
    int bertscore_layer;                 /* bert_score num_layers (upstream: 5) */
    const char *bertscore_baseline;      /* auto | none | a model of data/bertscore_baselines.tsv */
    const char *radcliq_bertscore_model; /* "" = bertscore_model */
    const char *chexbert_model;          /* "" = none */
    const char *radgraph_model;          /* "" = none */
} rv_neural_opts;

/* The metrics.* keys of cfg. */
void rv_neural_opts_from_cfg(const rv_config *cfg, rv_neural_opts *o);
/* Whether any model is configured. */
bool rv_neural_opts_any(const rv_neural_opts *o);

typedef struct rv_neural rv_neural; /* opaque */

/* Loads every configured model on backend k (a model shared by two roles is loaded once).
 * Errors name the key and the directory. */
int rv_neural_load(rv_neural **out, const rv_neural_opts *o, rv_kctx *k, rv_err *err);
void rv_neural_free(rv_neural *nm);

typedef enum rv_neural_metric {
    RV_NEURAL_BERTSCORE = 0,
    RV_NEURAL_RADGRAPH,
    RV_NEURAL_CHEXBERT,
    RV_NEURAL_RADCLIQ,
} rv_neural_metric;

/* Whether nm (may be NULL) computes metric m. */
bool rv_neural_has(const rv_neural *nm, rv_neural_metric m);
/* Why metric m is not computed (static text naming the config keys to set); NULL when it is. */
const char *rv_neural_unavailable(const rv_neural *nm, rv_neural_metric m);
/* One line naming the models in use, for logs. */
const char *rv_neural_describe(const rv_neural *nm);

typedef struct rv_neural_feats {
    double bertscore;          /* NaN when not computed */
    double radgraph[3];        /* simple, partial, complete; NaN when not computed */
    double chexbert_ref_bits;  /* rrg bits (integer-valued); NaN when not computed */
    double chexbert_hyp_bits;
    double radcliq;            /* -RadCliQ-v1 (upstream's per-record "radcliq"); NaN when not computed */
} rv_neural_feats;

/* Every computed metric of n pairs: out[n]. */
int rv_neural_score_pairs(rv_neural *nm, const rv_span *hyps, const rv_span *refs, size_t n, rv_neural_feats *out,
                          rv_err *err);

/* Upstream's reward-server scores of n pairs (eval.md §5.2): m is RV_NEURAL_BERTSCORE (<= 5
 * code points -> 0.0, else rescaled F of the lower-cased 2048-code-point prefixes),
 * RV_NEURAL_RADGRAPH (-> -0.0, else RadGraph-XL complete F1 of them) or RV_NEURAL_RADCLIQ
 * (-> -3, else -RadCliQ-v1). out[n]. Fails when m's models are not loaded. */
int rv_neural_reward(rv_neural *nm, rv_neural_metric m, const rv_span *answers, const rv_span *truths, size_t n,
                     double *out, rv_err *err);

#endif
