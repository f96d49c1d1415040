/* Internals shared by the text tokenizer's files (textenc/text_tokenizer.c, wordpiece.c,
 * bytebpe.c); not for use outside src/textenc/. */
#ifndef RADVLM_TEXTENC_TEXT_TOK_IMPL_H
#define RADVLM_TEXTENC_TEXT_TOK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/hashmap.h"
#include "textenc/text_tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/ids.h"

enum { RV_TT_WORDPIECE = 0, RV_TT_BYTEBPE = 1 };
enum { RV_TT_CLS, RV_TT_SEP, RV_TT_PAD, RV_TT_UNK, RV_TT_MASK, RV_TT_NSPEC };

struct rv_text_tok {
    int kind;
    char *src;                       /* the vocabulary file, for messages */
    size_t n_ids;                    /* one more than the largest id */
    size_t piece_cap;
    char **alias;                    /* extra spellings of ids that have one already */
    size_t nalias;
    char **piece;                    /* [n_ids] vocab spelling of each id (NULL: none) */
    rv_smap map;                     /* spelling -> id (WordPiece; the last duplicate wins, as in HF) */
    char *spec[RV_TT_NSPEC];         /* special token strings ([CLS] ... / <s> ...) */
    int32_t spec_id[RV_TT_NSPEC];    /* their ids, -1 when absent (only <mask>/[MASK] may be) */
    /* WordPiece */
    bool lower, strip_accents, chinese;
    int max_chars;                   /* max_input_chars_per_word */
    /* byte-level BPE */
    rv_bpe bpe;
    bool prefix_space;
};

/* Adds piece string s (copied) as id; grows piece[]. */
void rv_tt_set_piece(rv_text_tok *t, int32_t id, const char *s, size_t n);

/* Loaders of each kind: fill t from the directory's files; options at -1 come from the files. */
int rv_tt_load_wordpiece(rv_text_tok *t, const char *dir, const rv_text_tok_opts *o, rv_err *err);
int rv_tt_load_bytebpe(rv_text_tok *t, const char *dir, const rv_text_tok_opts *o, rv_err *err);

/* Tokenizes a span of text with no special tokens in it (valid UTF-8), ids appended. */
void rv_tt_wordpiece_encode(const rv_text_tok *t, const char *s, size_t n, rv_ids *out);
void rv_tt_bytebpe_encode(const rv_text_tok *t, const char *s, size_t n, rv_ids *out);

/* GPT-2's pre-tokenizer split (the regex of RobertaTokenizer / GPT2Tokenizer):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Byte offset where the piece starting at pos ends (pos < n; s valid UTF-8). */
size_t rv_gpt2_next(const char *s, size_t n, size_t pos);

#endif
