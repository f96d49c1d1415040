#include "eval/metrics/radcliq.h"

#include <stddef.h>

/* The fork's constants (RadEval/factual/RadCliQv1/radcliq.py), in column order radgraph,
 * bertscore, semb_score, bleu_score. */
static const double MU[4] = {0.53792312, 0.61757256, 0.76479421, 0.44738335};
static const double SIGMA[4] = {0.30282584, 0.22430938, 0.25394391, 0.29892717};
static const double COEF[4] = {-3.77083683e-01, -3.70300100e-01, -2.52616218e-01, 4.31504841e-12};
static const double INTERCEPT = 2.46655256e-10;

bool rv_radcliq_v1(const rv_radcliq_features *f, double *score, const char **why) {
    if (!f->have_radgraph || !f->have_bertscore || !f->have_semb) {
        *why = "RadCliQ-v1 needs RadGraph-XL F1, BERTScore (distilroberta-base) and CheXbert "
               "embedding similarity (metrics.radgraph_model, metrics.radcliq_bertscore_model, "
               "metrics.chexbert_model)";
        return false;
    }
    if (!f->have_bleu) { *why = "RadCliQ-v1 needs the per-sentence BLEU-4 feature"; return false; }
    const double x[4] = {f->radgraph, f->bertscore, f->semb, f->bleu};
    double s = 0.0;
    for (int i = 0; i < 4; i++) s += COEF[i] * ((x[i] - MU[i]) / SIGMA[i]);
    *score = s + INTERCEPT;
    *why = NULL;
    return true;
}
