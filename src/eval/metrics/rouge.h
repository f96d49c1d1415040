/* ROUGE-1, ROUGE-2 and ROUGE-L (plain LCS, beta 1) as Google's rouge-score 0.1.2 computes them
 * with use_stemmer=True: lower-case, every run of characters outside [a-z0-9] becomes a space,
 * tokens longer than 3 characters are Porter-stemmed (NLTK default mode). */
#ifndef RADVLM_EVAL_ROUGE_H
#define RADVLM_EVAL_ROUGE_H

#include <stddef.h>

#include "eval/metrics/ngram.h"

typedef struct rv_prf {
    double p, r, f;
} rv_prf;

enum { RV_ROUGE1 = 0, RV_ROUGE2 = 1, RV_ROUGEL = 2 };

/* Tokenizes (and stems) s into out. */
void rv_rouge_tokenize(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n);
/* out[RV_ROUGE1], out[RV_ROUGE2], out[RV_ROUGEL]; target = reference, prediction = hyp. */
void rv_rouge_pair(const char *hyp, size_t hlen, const char *ref, size_t rlen, rv_prf out[3],
                   rv_ngram_ws *ws);

#endif
