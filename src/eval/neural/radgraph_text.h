/* RadGraph-XL's text side (radgraph 0.1.18 utils.py / dygie reader): the report preprocessing
 * that turns a report into the words the model annotates, the per-word normalisation the model
 * input gets, and Python's str.lower() for the rewards' lower-cased tuples. */
#ifndef RADVLM_EVAL_NEURAL_RADGRAPH_TEXT_H
#define RADVLM_EVAL_NEURAL_RADGRAPH_TEXT_H

#include <stddef.h>

/* The words of a report as radgraph_xl_preprocess_report(text).split() gives them:
 *  1. the literal two-character escapes "\n" and "\f" become two spaces, "\u2122" six spaces,
 *     a newline one space, the literal \" becomes ``;
 *  2. every run of Unicode whitespace (Python's \s) becomes one space;
 *  3. NLTK wordpunct_tokenize: the tokens \w+ | [^\w\s]+ (Python's Unicode \w: letters, digits
 *     and numbers of every script, and '_'; combining marks are not \w), joined by spaces;
 *  4. the re-splits ")." -> ") .", "%." -> "% .", ".'" -> ". '", "%," -> "% ,", "%)" -> "% )"
 *     (each a plain replace over the joined string, in that order);
 *  5. str.split().
 * Bytes that are not valid UTF-8 are read as U+FFFD (Python's errors="replace").
 * Returns the number of words; *words: malloc'd array of malloc'd NUL-terminated strings
 * (free with rv_rg_words_free). An empty or blank text gives 0 words. */
size_t rv_rg_words(const char *text, char ***words);
void rv_rg_words_free(char **words, size_t n);

/* The dygie reader's _normalize_word: "/." and "/?" are given to the encoder as "." and "?"
 * (the annotation keeps the original word). Returns a pointer into w. */
const char *rv_rg_model_word(const char *w);

/* Python str.lower() of a UTF-8 string (final-sigma rule included): malloc'd. */
char *rv_rg_lower(const char *s);

#endif
