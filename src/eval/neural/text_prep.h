/* Text preparation of the neural metrics, as their Python references do it before tokenising:
 * bert_score's sent.strip(), f1chexbert's whitespace normalisation, and the GRPO reward
 * workers' pred[:2048].lower() (eval.md §5.2). All return malloc'd NUL-terminated UTF-8. */
#ifndef RADVLM_EVAL_NEURAL_TEXT_PREP_H
#define RADVLM_EVAL_NEURAL_TEXT_PREP_H

#include <stddef.h>

/* str.strip() (Python's Unicode whitespace set). */
char *rv_np_strip(const char *s, size_t n);
/* f1chexbert 0.0.2: strip, every run of whitespace (re \s) -> one space, strip. */
char *rv_np_squash_space(const char *s, size_t n);
/* s[:max_cp].lower(): the first max_cp code points (max_cp 0: all; invalid bytes become U+FFFD
 * as in rv_np_utf8_fix), lower-cased as Python's
 * str.lower does for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (the scripts of
 * report text; other code points are kept as they are: documented in docs/metrics.md). */
char *rv_np_lower_prefix(const char *s, size_t n, size_t max_cp);
/* s with every byte that is not part of valid UTF-8 replaced by U+FFFD, as Python's
 * bytes.decode(errors="replace") gives the reward workers a str (decoded rollouts can end inside
 * a multi-byte character). Python replaces a truncated sequence by one U+FFFD, this by one per
 * byte: the tokenizers map both to [UNK]-like pieces of the same text. */
char *rv_np_utf8_fix(const char *s, size_t n);
/* Number of code points of s (invalid bytes count one each, as rv_py_prefix_cp). */
size_t rv_np_codepoints(const char *s, size_t n);

#endif
