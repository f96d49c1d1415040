/* The rescale baselines of data/bertscore_baselines.tsv (bert_score 0.3.13,
 * rescale_baseline/en/<model>.tsv, every layer row of the two models upstream uses); the unit
 * test checks this table against the data file. */
#include "eval/neural/bertscore.h"

#include <string.h>

static const rv_bertscore_baseline rows[] = {
    {"distilbert-base-uncased", 0, 0.2884445f, 0.2884457f, 0.28333962f},
    {"distilbert-base-uncased", 1, 0.39316687f, 0.3931663f, 0.39123002f},
    {"distilbert-base-uncased", 2, 0.42905498f, 0.4290923f, 0.42735597f},
    {"distilbert-base-uncased", 3, 0.5222444f, 0.52227175f, 0.52129734f},
    {"distilbert-base-uncased", 4, 0.6019937f, 0.6019904f, 0.6014007f},
    {"distilbert-base-uncased", 5, 0.6666034f, 0.66660464f, 0.66620487f},
    {"distilbert-base-uncased", 6, 0.51401854f, 0.51404256f, 0.5131456f},
    {"distilroberta-base", 0, 0.42608285f, 0.4272089f, 0.42462298f},
    {"distilroberta-base", 1, 0.7367886f, 0.7370362f, 0.736573f},
    {"distilroberta-base", 2, 0.79922664f, 0.799593f, 0.7991632f},
    {"distilroberta-base", 3, 0.8329021f, 0.8333321f, 0.83291864f},
    {"distilroberta-base", 4, 0.8442f, 0.84462386f, 0.84425896f},
    {"distilroberta-base", 5, 0.84732f, 0.84759504f, 0.8473319f},
    {"distilroberta-base", 6, 0.89334005f, 0.8935088f, 0.8933471f},
};

const rv_bertscore_baseline *rv_bertscore_baselines(size_t *n) {
    *n = sizeof rows / sizeof rows[0];
    return rows;
}

const rv_bertscore_baseline *rv_bertscore_baseline_find(const char *model, int layer) {
    for (size_t i = 0; model && i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].layer == layer && strcmp(rows[i].model, model) == 0) return &rows[i];
    return NULL;
}

void rv_bertscore_rescale(const rv_bertscore_baseline *b, rv_bertscore_prf *x) {
    if (!b) return;
    /* in float32 like bert_score's (all_preds - baseline_vals) / (1 - baseline_vals) */
    x->p = (double)(((float)x->p - b->p) / (1.0f - b->p));
    x->r = (double)(((float)x->r - b->r) / (1.0f - b->r));
    x->f = (double)(((float)x->f - b->f) / (1.0f - b->f));
}
