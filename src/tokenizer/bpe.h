/* The BPE model working on raw bytes: each vocab token is kept as the bytes its ByteLevel
 * spelling stands for, so pieces are never mapped to the byte-level alphabet and back.
 * Internal to src/tokenizer/ (the tokenizer and the trainer share it). */
#ifndef RADVLM_TOKENIZER_BPE_H
#define RADVLM_TOKENIZER_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "tokenizer/ids.h"

/* GPT-2 bytes_to_unicode: byte -> code point, and the inverse (-1 for other code points). */
uint32_t rv_bytelevel_char(unsigned char b);
int rv_bytelevel_byte(uint32_t cp);
/* Appends the ByteLevel spelling of bytes (UTF-8 of the mapped code points). */
void rv_bytelevel_encode(const unsigned char *b, size_t n, rv_sb *out);
/* Bytes of a ByteLevel-spelled string; -1 when a character is outside the alphabet. */
int rv_bytelevel_decode(const char *s, size_t n, rv_sb *out);

typedef struct { uint64_t key; uint32_t rank; int32_t id; } rv_bpe_merge_slot;

typedef struct rv_bpe {
    size_t n_ids;           /* id space: one more than the largest vocab id */
    uint32_t *off, *len;    /* bytes of id i: pool[off[i] .. off[i]+len[i]); len UINT32_MAX = no token */
    unsigned char *pool;
    size_t pool_len;
    int32_t *vslots;        /* bytes -> id, open addressing, -1 empty */
    size_t vcap;
    rv_bpe_merge_slot *mslots; /* (left id, right id) -> rank, merged id; key UINT64_MAX empty */
    size_t mcap, n_merges;
    int32_t byte_id[256];   /* id of each single byte, -1 when the vocab lacks it */
    bool ignore_merges;
} rv_bpe;

/* Building: ids may arrive in any order; add every token, then every merge (rank = order). */
void rv_bpe_init(rv_bpe *m, size_t n_ids, size_t n_merges_hint);
/* Returns -1 (without err) when the id already has a token or the bytes are taken. */
int rv_bpe_add_token(rv_bpe *m, int32_t id, const unsigned char *b, size_t n);
/* Adds merge (a, b) with the next rank (its index in the merges list); returns 0, or -1 when
 * a+b is not in the vocab. A later duplicate of a pair overwrites its rank, as HF's reader
 * does (it collects the list into a map). */
int rv_bpe_add_merge(rv_bpe *m, int32_t a, int32_t b);
void rv_bpe_free(rv_bpe *m);

int32_t rv_bpe_lookup(const rv_bpe *m, const unsigned char *b, size_t n);
/* rank and merged id of (a, b); false when there is no such merge. */
bool rv_bpe_merge_of(const rv_bpe *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id);

/* BPE of one pre-tokenized piece (raw bytes), ids appended. heap_from: pieces of at least
 * this many bytes use the priority-queue path (tests force either path; 0 means default). */
void rv_bpe_encode_piece(const rv_bpe *m, const unsigned char *p, size_t n, rv_ids *out, size_t heap_from);

#endif
