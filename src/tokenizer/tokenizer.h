/* Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (the Qwen2 layout of
 * model.md §11): added/special tokens split out first (leftmost-longest), NFC, the Qwen2
 * split, the ByteLevel byte<->unicode map, BPE merges by rank. Encoding gives the same ids as
 * the HF `tokenizers` library; see docs/tokenizer.md. A loaded tokenizer is read-only and may
 * be used from many threads at once. */
#ifndef RADVLM_TOKENIZER_TOKENIZER_H
#define RADVLM_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "tokenizer/ids.h"

typedef struct rv_tokenizer rv_tokenizer;

/* Loads tokenizer.json. Errors name the file and the key (e.g. "model.type 'WordPiece' is not
 * supported", "key 'model.merges' missing"). */
int rv_tokenizer_load(const char *path, rv_tokenizer **out, rv_err *err);
/* Same from JSON text already in memory; `where` names it in messages. */
int rv_tokenizer_load_json(const char *where, const char *text, size_t len, rv_tokenizer **out, rv_err *err);
void rv_tokenizer_free(rv_tokenizer *t);

/* Where the project looks for a tokenizer when none is named (docs/formats.md "Tokenizer"):
 * DATA_DIR/tokenizer.json (the demo's, written by synth), DATA_DIR/tokenizer/tokenizer.json, then
 * RUN/tokenizer.json; either directory may be NULL. The first that exists (malloc'd), or NULL. */
char *rv_tokenizer_default_path(const char *data_dir, const char *run_dir);

/* Appends the ids of text[0..len) to out. Invalid UTF-8 is an error naming the byte offset
 * (the text is not guessed at). No BOS/EOS is added. */
int rv_tokenizer_encode(const rv_tokenizer *t, const char *text, size_t len, rv_ids *out, rv_err *err);
/* Encodes n texts over nthreads OpenMP threads (<= 0: all); outs[i] receives text i.
 * On error, err names the first failing text's index. */
int rv_tokenizer_encode_batch(const rv_tokenizer *t, const char *const *texts, const size_t *lens, size_t n,
                              int nthreads, rv_ids *outs, rv_err *err);

/* Appends the text of ids to out; invalid UTF-8 byte sequences become U+FFFD (Python
 * errors="replace" / Rust from_utf8_lossy). An unknown id is an error. */
int rv_tokenizer_decode(const rv_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, rv_sb *out,
                        rv_err *err);

/* Streaming decode: complete characters are appended as ids arrive; an incomplete UTF-8 tail
 * stays buffered until the next id or rv_tok_stream_finish (which replaces it with U+FFFD). */
typedef struct rv_tok_stream {
    unsigned char pend[8];
    size_t npend;
} rv_tok_stream;
void rv_tok_stream_init(rv_tok_stream *s);
int rv_tok_stream_push(const rv_tokenizer *t, rv_tok_stream *s, int32_t id, bool skip_special, rv_sb *out, rv_err *err);
void rv_tok_stream_finish(rv_tok_stream *s, rv_sb *out);

/* Id of an added token's content (e.g. "<|im_end|>"), else of a vocab entry spelled in its
 * tokenizer.json (byte-level) form, e.g. "Ċ" for "\n"; -1 when absent. */
int32_t rv_tokenizer_token_id(const rv_tokenizer *t, const char *token);
/* Id of the single token that encodes exactly these raw bytes, or -1. */
int32_t rv_tokenizer_bytes_id(const rv_tokenizer *t, const char *bytes, size_t n);
/* One more than the largest id (vocab and added tokens). */
size_t rv_tokenizer_n_ids(const rv_tokenizer *t);
/* True when id is an added token marked special. */
bool rv_tokenizer_is_special(const rv_tokenizer *t, int32_t id);

#endif
