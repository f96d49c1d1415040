/* Byte-level BPE trainer. It learns the same vocabulary and merges as the Hugging Face
 * `tokenizers` BpeTrainer (initial_alphabet = the 256 ByteLevel characters, min_frequency 0,
 * no limit_alphabet, no prefix/suffix) on text pre-tokenized with Qwen2's settings (NFC, the
 * Qwen2 split, ByteLevel), and writes a tokenizer.json in the Qwen2 layout that both HF and
 * rv_tokenizer_load read unchanged. */
#ifndef RADVLM_TOKENIZER_BPE_TRAIN_H
#define RADVLM_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>

#include "core/error.h"
#include "core/strbuf.h"

/* texts[i] has lens[i] bytes (lens NULL: NUL-terminated). vocab_size counts the specials
 * (ids 0..n_specials-1, in order), the 256 byte tokens and the merged tokens; training stops
 * earlier when no pair occurs any more. Like HF, special tokens inside the texts are not split
 * out while counting. Invalid UTF-8 is an error naming the text and byte. */
int rv_bpe_train_json(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                      const char *const *specials, size_t n_specials, rv_sb *json_out, rv_err *err);
/* Same, written atomically to out_json. */
int rv_bpe_train(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                 const char *const *specials, size_t n_specials, const char *out_json, rv_err *err);

#endif
