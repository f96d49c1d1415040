/* RadCliQ-v1 as the RadVLM-GRPO fork combines its features (RadEval CompositeMetric):
 * standardise [radgraph, bertscore, semb_score, bleu] with the fork's truncated StandardScaler
 * constants, then the linear model. Lower is better; the rewards report its negation. A missing
 * feature (its model not configured: eval/neural/neural_metrics.h computes them) makes the score
 * unavailable, with the reason, instead of a made-up number. */
#ifndef RADVLM_EVAL_RADCLIQ_H
#define RADVLM_EVAL_RADCLIQ_H

#include <stdbool.h>

typedef struct rv_radcliq_features {
    double radgraph, bertscore, semb, bleu; /* bleu: per-sentence coco BLEU-4 */
    bool have_radgraph, have_bertscore, have_semb, have_bleu;
} rv_radcliq_features;

/* Returns true and sets *score when all four features are present; otherwise false and
 * *why names the missing ones (static text). */
bool rv_radcliq_v1(const rv_radcliq_features *f, double *score, const char **why);

#endif
