/* The Porter stemmer exactly as NLTK's PorterStemmer() computes it in its default mode
 * (NLTK_EXTENSIONS: irregular-form table, the extra step-1a/1b/1c/2 rules and the 2-letter
 * cvc case). Input: lower-case ASCII word. The stem is never longer than the word. */
#ifndef RADVLM_EVAL_PORTER_H
#define RADVLM_EVAL_PORTER_H

#include <stddef.h>

/* Stems w[0..n) into out (room for n+1 bytes; NUL-terminated); returns the stem length. */
size_t rv_porter_stem(const char *w, size_t n, char *out);

#endif
