/* Tokenizers of the text encoders (textenc/encoder.h), identical ids to Hugging Face's slow
 * tokenizers as bert_score and radgraph call them:
 *  - BERT WordPiece: BasicTokenizer (clean text, CJK split, lower-casing + accent stripping when
 *    do_lower_case, punctuation split) then greedy longest-match WordPiece with "##" and
 *    max_input_chars_per_word 100; from vocab.txt (+ tokenizer_config.json) or tokenizer.json;
 *  - RoBERTa byte-level BPE (vocab.json + merges.txt, or tokenizer.json) through
 *    tokenizer/bpe.h, with GPT-2's pre-tokenizer regex and add_prefix_space as configured. */
#ifndef RADVLM_TEXTENC_TEXT_TOKENIZER_H
#define RADVLM_TEXTENC_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct rv_text_tok rv_text_tok; /* opaque */

typedef struct rv_text_tok_opts {
    int add_prefix_space; /* RoBERTa: -1 = from the tokenizer files, 0/1 forces (bert_score: 1) */
    int lower_case;       /* WordPiece: -1 = do_lower_case from tokenizer_config.json, 0/1 forces */
} rv_text_tok_opts;

/* dir: a model directory. opts may be NULL (= all -1). Errors name the file (missing vocab, a
 * vocab without the special tokens, malformed merges). */
int rv_text_tok_load(rv_text_tok **out, const char *dir, const rv_text_tok_opts *opts, rv_err *err);
void rv_text_tok_free(rv_text_tok *t);

/* Special ids: [CLS]/<s>, [SEP]/</s>, [PAD]/<pad>, [UNK]/<unk>. */
int32_t rv_text_tok_cls(const rv_text_tok *t);
int32_t rv_text_tok_sep(const rv_text_tok *t);
int32_t rv_text_tok_pad(const rv_text_tok *t);
int32_t rv_text_tok_unk(const rv_text_tok *t);
size_t rv_text_tok_vocab(const rv_text_tok *t);

/* Encodes text (UTF-8, NUL-terminated) to *ids (malloc'd, *n ids). add_special: wrap in
 * cls ... sep. max_len > 0 truncates as HF's truncation=True does (keeps the first
 * max_len - 2 pieces, then sep). Invalid UTF-8 is an error. */
int rv_text_tok_encode(const rv_text_tok *t, const char *text, bool add_special, int max_len, int32_t **ids,
                       size_t *n, rv_err *err);
/* The piece string of an id (vocab spelling, e.g. "##ing" or "Ġthe"), NULL when out of range. */
const char *rv_text_tok_piece(const rv_text_tok *t, int32_t id);

#endif
