#include "data/loader/shard_row.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader/placeholders.h"

/* The tile list of one image, [n_tiles, 3, S, S]: base tile first (model.md §3 step 7), then,
 * with an original, the anyres grid tiles of the model's best pinpoint canvas, row-major
 * (rv_vlm_best_resolution: the same choice the model's packing makes from orig_h/orig_w). */
static int make_tiles(const rv_model_cfg *c, const rv_pixel_norm *n, const rv_shard_row *row, rv_loader_sample *out,
                      rv_err *err) {
    const int S = c->vision.image_size;
    const size_t tile = (size_t)3 * S * S;
    if (row->orig) {
        int bh, bw;
        if (row->orig_h <= 0 || row->orig_w <= 0)
            return rv_fail(err, "shard row: original image size %dx%d must be positive", row->orig_h, row->orig_w);
        rv_vlm_best_resolution(c, row->orig_h, row->orig_w, &bh, &bw);
        const int n_tiles = 1 + (bh / S) * (bw / S);
        out->tiles = rv_xmalloc((size_t)n_tiles * tile * sizeof *out->tiles);
        if (rv_pixels_base_tile(n, row->orig, row->orig_h, row->orig_w, S, out->tiles, err) < 0 ||
            rv_pixels_anyres_grid(n, row->orig, row->orig_h, row->orig_w, S, bh, bw, out->tiles + tile, err) < 0)
            return -1;
        out->image = (rv_vlm_image){.tiles = out->tiles, .n_tiles = n_tiles, .orig_h = row->orig_h, .orig_w = row->orig_w};
        return 0;
    }
    out->tiles = rv_xmalloc(tile * sizeof *out->tiles);
    if (rv_pixels_base_tile(n, row->pixels, row->h, row->w, S, out->tiles, err) < 0) return -1;
    out->image = (rv_vlm_image){.tiles = out->tiles, .n_tiles = 1, .orig_h = row->h, .orig_w = row->w};
    return 0;
}

int rv_loader_sample_from_row(const rv_model_cfg *c, const rv_pixel_norm *n, const rv_shard_row *row,
                              rv_loader_sample *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    if (row->len <= 0) return rv_fail(err, "shard row: no tokens");
    if (!row->pixels && !row->orig) return rv_fail(err, "shard row: no image (every shard row has one)");
    const int V = c->text.vocab;
    int32_t *ids = rv_xmalloc((size_t)row->len * sizeof *ids);
    for (int t = 0; t < row->len; t++) {
        int32_t id = row->ids[t];
        if (id == RV_SHARD_IMAGE_TOKEN) {
            ids[t] = c->image_token_id;
            continue;
        }
        if (id == c->image_token_id || id < 0 || id >= V) {
            free(ids);
            return rv_fail(err,
                           "shard row: token %d is id %d, %s; the shards were packed with a tokenizer that does not "
                           "match this model (vocabulary %d, image_token_id %d): pack again with the model's tokenizer",
                           t, (int)id, id == c->image_token_id ? "the model's image id but not an image placeholder"
                                                               : "outside the model's vocabulary",
                           V, c->image_token_id);
        }
        ids[t] = id;
    }
    int rc = make_tiles(c, n, row, out, err);
    if (rc == 0)
        rc = rv_loader_expand_placeholders(c, ids, row->mask, row->len, &out->image, 1, &out->ids, &out->mask,
                                           &out->len, err);
    free(ids);
    if (rc) {
        rv_loader_sample_free(out);
        return -1;
    }
    return 0;
}

int rv_loader_read_sample(const rv_shardset *set, uint64_t i, const rv_model_cfg *c, const rv_pixel_norm *n,
                          rv_loader_sample *out, rv_err *err) {
    memset(out, 0, sizeof *out);
    if (i >= set->nsamples)
        return rv_fail(err, "%s: sample %llu out of range (%llu samples)", set->path, (unsigned long long)i,
                       (unsigned long long)set->nsamples);
    size_t len = rv_shardset_ntokens(set, i);
    if (len > (size_t)INT32_MAX)
        return rv_fail(err, "%s: sample %llu has %zu tokens, more than a sample can hold", set->path,
                       (unsigned long long)i, len);
    int32_t *ids = rv_xmalloc((len ? len : 1) * sizeof *ids);
    uint8_t *mask = rv_xmalloc(len ? len : 1);
    uint8_t *px = NULL; /* the stored resize, or (anyres) the original */
    int oh = 0, ow = 0;
    int rc = rv_shardset_tokens(set, i, ids, mask, err);
    if (rc == 0 && set->anyres) rc = rv_shardset_original(set, (uint64_t)set->image[i], &px, &oh, &ow, err);
    else if (rc == 0) {
        px = rv_xmalloc((size_t)set->height * (size_t)set->width);
        rc = rv_shardset_image(set, (uint64_t)set->image[i], px, err);
    }
    if (rc == 0) {
        rv_shard_row row = {.ids = ids, .mask = mask, .len = (int)len, .pixels = px, .h = set->height, .w = set->width};
        if (set->anyres) row = (rv_shard_row){.ids = ids, .mask = mask, .len = (int)len, .orig = px, .orig_h = oh,
                                              .orig_w = ow};
        rc = rv_loader_sample_from_row(c, n, &row, out, err);
        if (rc) rv_fail_wrap(err, "%s: sample %llu", set->path, (unsigned long long)i);
    }
    free(ids);
    free(mask);
    free(px);
    return rc ? -1 : 0;
}

int64_t rv_loader_sample_len(const rv_shardset *set, uint64_t i, const rv_model_cfg *c) {
    if (i >= set->nsamples) return -1;
    int run = rv_vlm_image_tokens(c, 1, set->height, set->width);
    if (set->anyres) {
        const int64_t *hw = &set->orig_size[2 * set->image[i]];
        int oh = (int)hw[0], ow = (int)hw[1];
        run = rv_vlm_image_tokens(c, rv_vlm_image_tiles(c, oh, ow), oh, ow);
    }
    return (int64_t)rv_shardset_ntokens(set, i) - 1 + run;
}

rv_sample rv_loader_sample_view(const rv_loader_sample *s) {
    return (rv_sample){.ids = s->ids, .len = s->len, .mask = s->mask, .images = &s->image, .n_images = 1};
}

void rv_loader_sample_free(rv_loader_sample *s) {
    free(s->ids);
    free(s->mask);
    free(s->tiles);
    memset(s, 0, sizeof *s);
}
