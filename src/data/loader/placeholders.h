/* Placeholder expansion: the step from a tokenized conversation, with one image_token_id per
 * image, to the model's input, where each image occupies a run of image rows (model.md §5.2;
 * the run length is the model's business: rv_vlm_image_tokens). */
#ifndef RADVLM_DATA_LOADER_PLACEHOLDERS_H
#define RADVLM_DATA_LOADER_PLACEHOLDERS_H

#include <stdint.h>

#include "core/error.h"
#include "model/config.h"
#include "model/vlm.h"

/* Replaces each single c->image_token_id in ids [len] (in order of images) with its run of
 * rv_vlm_image_tokens(c, n_tiles, orig_h, orig_w) image_token_ids; the output mask is 0 on the
 * run and copies mask_in elsewhere (1 when mask_in is NULL). *out_ids and *out_mask
 * ([*out_len]) are malloc'd. Fails when the placeholder count differs from n_images or an
 * image's tile count does not fit its size. */
int rv_loader_expand_placeholders(const rv_model_cfg *c, const int32_t *ids, const uint8_t *mask_in, int len,
                                  const rv_vlm_image *images, int n_images, int32_t **out_ids, uint8_t **out_mask,
                                  int *out_len, rv_err *err);

#endif
