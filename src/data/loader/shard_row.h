/* One shard row (docs/formats.md: token ids with the image sentinel, loss mask, the row's grey
 * image) -> one model sample (model/vlm.h rv_sample) with its normalized image tiles and each
 * image placeholder expanded to the image's run of rows. This is the whole step between the
 * shard reader and rv_vlm_forward; the trainer (issue F) batches the samples it makes. */
#ifndef RADVLM_DATA_LOADER_SHARD_ROW_H
#define RADVLM_DATA_LOADER_SHARD_ROW_H

#include <stdint.h>

#include "core/error.h"
#include "data/loader/pixels.h"
#include "io/shard_read.h"
#include "io/shard_write.h" /* RV_SHARD_IMAGE_TOKEN */
#include "model/config.h"
#include "model/vlm.h"

/* One row as read from the shards (borrowed). */
typedef struct rv_shard_row {
    const int32_t *ids;       /* [len], placeholders stored as RV_SHARD_IMAGE_TOKEN */
    const uint8_t *mask;      /* [len] loss mask (1 = trained), or NULL: every token a target */
    int len;
    const uint8_t *pixels;    /* the row's image, grey [h, w], row-major, top row first */
    int h, w;
    /* anyres (pack.image_mode=anyres): the original image, grey [orig_h, orig_w]. When set, the
     * tiles are upstream's anyres tiles cut from it and pixels is not used (may be NULL). */
    const uint8_t *orig;
    int orig_h, orig_w;
} rv_shard_row;

/* A model sample and the memory it points into (owned). */
typedef struct rv_loader_sample {
    int32_t *ids;             /* [len] expanded ids */
    uint8_t *mask;            /* [len] 0 on image rows, the shard's loss mask elsewhere */
    int len;
    float *tiles;             /* [n_tiles, 3, S, S] normalized pixels */
    rv_vlm_image image;           /* .tiles = tiles */
} rv_loader_sample;

/* Makes the sample of one row for model c. Tiles: without row->orig the base tile only (n_tiles =
 * 1, which the model packs as grid^2 + 1 rows); with it, upstream's anyres tiles (HF
 * LlavaOnevisionImageProcessor): the base tile (the original resized to S x S) then the grid
 * tiles of the best pinpoint canvas row-major, n_tiles = rv_vlm_image_tiles(c, orig_h, orig_w),
 * orig_h / orig_w the original size (so rv_vlm_image_tokens and the model's packing agree).
 * Errors name the problem (an id that is the model's image_token_id but not a placeholder, an id
 * outside the vocabulary, a placeholder count other than one per image). */
int rv_loader_sample_from_row(const rv_model_cfg *c, const rv_pixel_norm *n, const rv_shard_row *row,
                              rv_loader_sample *out, rv_err *err);
/* Reads sample i of an open shard set (tokens, loss mask, its image row) and makes its sample;
 * an anyres set (set->anyres) gives the row its original, hence anyres tiles. Errors name the
 * index file and the sample. */
int rv_loader_read_sample(const rv_shardset *set, uint64_t i, const rv_model_cfg *c, const rv_pixel_norm *n,
                          rv_loader_sample *out, rv_err *err);
/* The model-input length of sample i of set (its ids with the image placeholder expanded to
 * rv_vlm_image_tokens rows: base tile only, or anyres from the stored original size), from the
 * set's metadata alone, without reading tokens or pixels: for the sampler's lengths and token
 * budgets. Equals rv_loader_read_sample's out->len for every sample that reads without error
 * (one placeholder per row); -1 for i out of range. */
int64_t rv_loader_sample_len(const rv_shardset *set, uint64_t i, const rv_model_cfg *c);
/* The rv_sample view of s (points into s: keep s alive and in place while it is used). */
rv_sample rv_loader_sample_view(const rv_loader_sample *s);
void rv_loader_sample_free(rv_loader_sample *s);

#endif
