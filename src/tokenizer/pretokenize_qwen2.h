/* The Qwen2 pre-tokenizer split, as a hand-written scanner with the semantics of the
 * backtracking regex (Oniguruma, first matching alternative wins; model.md §11.2):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
 *   |\s*[\r\n]+|\s+(?!\S)|\s+
 * Every character is covered by some alternative, so the pieces tile the text. */
#ifndef RADVLM_TOKENIZER_PRETOKENIZE_QWEN2_H
#define RADVLM_TOKENIZER_PRETOKENIZE_QWEN2_H

#include <stddef.h>

/* The exact regex string that tokenizer.json carries for this split. */
extern const char rv_qwen2_split_regex[];

/* Byte offset where the piece that starts at pos ends (pos < n; s valid UTF-8). */
size_t rv_qwen2_next(const char *s, size_t n, size_t pos);

#endif
