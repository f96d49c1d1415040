/* Reading the sharded training set through index.h5 (docs/formats.md), and checking every
 * shard for damage. Per-sample metadata (offsets, image rows, task, split) is loaded once;
 * tokens, boxes, text and pixels are read on demand. Opening refuses a set written with another
 * schema version or another tokenizer. */
#ifndef RADVLM_IO_SHARD_READ_H
#define RADVLM_IO_SHARD_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"

typedef struct rv_shardset {
    char *path;                  /* index.h5 */
    int64_t hid;                 /* the open index file (hid_t) */
    uint64_t nsamples, nimages;
    int height, width;
    int nshards;
    char *tokenizer_hash;
    char *config_json;
    int64_t *token_off;          /* nsamples + 1 */
    int64_t *box_off;            /* nsamples + 1 */
    int64_t *image;              /* nsamples: global image row */
    uint8_t *task, *source, *split;
    /* pack.image_mode=anyres sets (docs/formats.md "Anyres images"); false / NULL otherwise */
    bool anyres;
    int64_t *orig_off;           /* nimages + 1: byte offsets into /images/original */
    int64_t *orig_size;          /* [nimages, 2]: original (height, width) */
    uint8_t *orig_codec;         /* nimages: rv_original_codec (raw pixels or JPEG bytes) */
} rv_shardset;

/* path: index.h5 or the directory holding it. expect_tokenizer_hash: NULL accepts any.
 * Errors: missing/foreign/truncated file, schema version, tokenizer mismatch (with what to do). */
int rv_shardset_open(const char *path, const char *expect_tokenizer_hash, rv_shardset **out, rv_err *err);
void rv_shardset_close(rv_shardset *s);

static inline size_t rv_shardset_ntokens(const rv_shardset *s, uint64_t i) {
    return (size_t)(s->token_off[i + 1] - s->token_off[i]);
}
/* ids/mask: room for rv_shardset_ntokens(s, i) entries (mask may be NULL). */
int rv_shardset_tokens(const rv_shardset *s, uint64_t i, int32_t *ids, uint8_t *mask, rv_err *err);
/* pixels: room for height*width bytes. */
int rv_shardset_image(const rv_shardset *s, uint64_t image_row, uint8_t *pixels, rv_err *err);
/* The original-resolution image of an anyres set: *pixels (malloc'd, h*w grey, row-major; a JPEG
 * original decoded as pack decodes it) and its size. Errors: a base set (pack with
 * pack.image_mode=anyres), a row out of range, a JPEG that does not decode to its stored size. */
int rv_shardset_original(const rv_shardset *s, uint64_t image_row, uint8_t **pixels, int *h, int *w, rv_err *err);
/* Boxes of sample i (malloc'd, 4 floats each); *n receives the count. */
int rv_shardset_boxes(const rv_shardset *s, uint64_t i, float **boxes, size_t *n, rv_err *err);
/* Conversation text (or id, labels) of sample i, malloc'd NUL-terminated. */
int rv_shardset_text(const rv_shardset *s, uint64_t i, const char *which /* "text"|"id"|"labels" */, char **out,
                     rv_err *err);

/* Integrity check of a shard directory: reads every dataset of every shard and of index.h5
 * (Fletcher32 verified on read), checks offsets, image rows, shapes, the shards' agreement on
 * schema/tokenizer/image size and the index against the shards. Each problem is one line in
 * report. Returns the number of problems (0 = intact), or -1 when dir cannot be checked. */
long rv_shards_check(const char *dir, rv_sb *report, rv_err *err);

/* What the value checks of rv_shards_check_with hold the samples to (beyond the structure). */
typedef struct rv_shards_check_opts {
    int64_t n_vocab;       /* token ids must be < n_vocab (the tokenizer's id count); 0 = unknown: only >= 0 */
    bool one_image_token;  /* pack's rule: every sample holds exactly one RV_SHARD_IMAGE_TOKEN */
    int64_t max_tokens;    /* pack.max_tokens: no sample longer; 0 = unchecked */
} rv_shards_check_opts;

/* rv_shards_check plus, in every shard, the values: token ids (RV_SHARD_IMAGE_TOKEN or within the
 * vocabulary), loss-mask values 0/1, task/source/split within their
 * enums, finite boxes, valid UTF-8 without NUL in text/id/labels and image paths; with
 * one_image_token, the placeholder count; with max_tokens, the sample lengths. Each problem names the shard, the sample (or image) row
 * and the dataset; after 5 of one kind in one shard only their count is reported (each counts as
 * a problem). rv_shards_check is this with every option 0 / false. */
long rv_shards_check_with(const char *dir, const rv_shards_check_opts *opts, rv_sb *report, rv_err *err);

/* A digest (FNV-1a 64, hex) of the logical content read through index.h5 in order, for
 * comparing packs made with different rank counts. */
int rv_shards_digest(const char *dir, char out[17], rv_err *err);

#endif
