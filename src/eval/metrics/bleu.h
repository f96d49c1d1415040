/* BLEU as the coco-caption scorer computes it (pycocoevalcap bleu_scorer, option "closest",
 * one reference): whitespace tokens (Python str.split, case-sensitive), clipped k-gram matches,
 * the 1e-15 / 1e-9 epsilons and the brevity penalty on (testlen+1e-15)/(reflen+1e-9). Counts
 * are integers, so corpus BLEU is the same function applied to summed counts. */
#ifndef RADVLM_EVAL_BLEU_H
#define RADVLM_EVAL_BLEU_H

#include <stddef.h>

#include "eval/metrics/ngram.h"

typedef struct rv_bleu_stats {
    double testlen, reflen;     /* integer-valued; doubles so that sums never overflow */
    double guess[4], correct[4];
} rv_bleu_stats;

void rv_bleu_stats_pair(const char *hyp, size_t hlen, const char *ref, size_t rlen,
                        rv_bleu_stats *out, rv_ngram_ws *ws);
void rv_bleu_stats_add(rv_bleu_stats *acc, const rv_bleu_stats *s);
/* bleu[k-1] = cumulative BLEU-k, k = 1..4, with the brevity penalty of these counts. */
void rv_bleu_score(const rv_bleu_stats *s, double bleu[4]);

#endif
