/* GoogleBLEU (GLEU) of one pair as the GRPO reward computes it: Hugging Face evaluate's
 * "google_bleu" = the 13a tokenizer (sacrebleu/mteval-v13a rules, case-sensitive) and NLTK
 * corpus_gleu with 1..4-grams: matches / max(#hyp n-grams, #ref n-grams), 0 when both are 0. */
#ifndef RADVLM_EVAL_GOOGLE_BLEU_H
#define RADVLM_EVAL_GOOGLE_BLEU_H

#include <stddef.h>

#include "eval/metrics/ngram.h"

/* Tokenizes s with the 13a rules into out. */
void rv_tok13a(rv_ngram_ws *ws, rv_toks *out, const char *s, size_t n);
double rv_google_bleu(const char *hyp, size_t hlen, const char *ref, size_t rlen, rv_ngram_ws *ws);

#endif
