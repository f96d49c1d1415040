/* CIDEr-D (n = 4, sigma = 6) as the coco-caption / vilmedic scorer computes it, one reference
 * per hypothesis: whitespace tokens, document frequencies from the references of the evaluated
 * corpus, ref_len = ln(N), tf-idf vectors per order, clipped dot products, the Gaussian length
 * penalty on bigram counts, 10 x the mean over orders. The corpus score is the mean over pairs.
 * The document frequencies must be built over the whole corpus before any pair is scored, so
 * a rank scoring a slice still builds them over every reference. */
#ifndef RADVLM_EVAL_CIDER_H
#define RADVLM_EVAL_CIDER_H

#include <stddef.h>

#include "eval/metrics/ngram.h"

typedef struct rv_cider_df rv_cider_df;

/* refs[i] with lengths lens[i] (NULL lens: NUL-terminated). The texts are copied. */
rv_cider_df *rv_cider_df_build(const char *const *refs, const size_t *lens, size_t n);
void rv_cider_df_free(rv_cider_df *df);
/* True when no reference has any n-gram (the reference scorer fails on such a corpus). */
int rv_cider_df_empty(const rv_cider_df *df);
double rv_cider_pair(const rv_cider_df *df, const char *hyp, size_t hlen, const char *ref,
                     size_t rlen, rv_ngram_ws *ws);

#endif
