#include "data/loader/placeholders.h"

#include <stdlib.h>

int rv_loader_expand_placeholders(const rv_model_cfg *c, const int32_t *ids, const uint8_t *mask_in, int len,
                                  const rv_vlm_image *images, int n_images, int32_t **out_ids, uint8_t **out_mask,
                                  int *out_len, rv_err *err) {
    int nph = 0;
    size_t total = 0;
    for (int t = 0; t < len; t++) nph += ids[t] == c->image_token_id;
    if (nph != n_images)
        return rv_fail(err, "image placeholders: the text has %d <image> tokens (id %d) but %d images were given", nph,
                       c->image_token_id, n_images);
    int *runs = rv_xmalloc((size_t)(n_images > 0 ? n_images : 1) * sizeof *runs);
    for (int i = 0; i < n_images; i++) {
        runs[i] = rv_vlm_image_tokens(c, images[i].n_tiles, images[i].orig_h, images[i].orig_w);
        if (runs[i] < 0) {
            free(runs);
            return rv_fail(err, "image placeholders: image %d has %d tiles, inconsistent with its size %dx%d", i,
                           images[i].n_tiles, images[i].orig_h, images[i].orig_w);
        }
        total += (size_t)runs[i];
    }
    size_t n = (size_t)len - (size_t)n_images + total;
    int32_t *oi = rv_xmalloc(n * sizeof *oi);
    uint8_t *om = rv_xmalloc(n);
    size_t j = 0;
    int img = 0;
    for (int t = 0; t < len; t++) {
        if (ids[t] == c->image_token_id) {
            for (int r = 0; r < runs[img]; r++, j++) {
                oi[j] = c->image_token_id;
                om[j] = 0;
            }
            img++;
        } else {
            oi[j] = ids[t];
            om[j] = mask_in ? mask_in[t] : 1;
            j++;
        }
    }
    free(runs);
    *out_ids = oi;
    *out_mask = om;
    *out_len = (int)n;
    return 0;
}
