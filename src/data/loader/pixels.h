/* The pixel step of the loader: a grey shard image (uint8 [H, W], row-major, top row first, as
 * pack stores it: docs/formats.md) becomes the model's normalized tiles [n_tiles, 3, S, S]
 * (model.md §3). Grey goes to RGB by repeating the channel (PIL convert("RGB")), then each
 * value is rescaled and normalized exactly as HF's image processor computes it:
 *   x = float32(float64(p) * rescale);  y = (x - mean[c]) / std[c]   (float32 arithmetic)
 * This file knows no model types (io/image.h's rv_image is not model/vlm.h's rv_image). */
#ifndef RADVLM_DATA_LOADER_PIXELS_H
#define RADVLM_DATA_LOADER_PIXELS_H

#include <stdint.h>

#include "core/error.h"

/* The preprocessor's constants: HF preprocessor_config.json rescale_factor, image_mean, image_std. */
typedef struct rv_pixel_norm {
    double rescale;   /* applied in float64, then cast to float32 (HF rescale) */
    float mean[3];    /* per RGB channel, float32 as HF's normalize casts them */
    float std[3];
} rv_pixel_norm;

/* SigLIP / LLaVA-OneVision (model.md §3): rescale 1/255, mean = std = 0.5, so values lie in [-1, 1]. */
rv_pixel_norm rv_pixel_norm_siglip(void);

/* One tile: grey [S, S] -> out [3, S, S] (channel-major, the same grey value in R, G and B before
 * each channel's mean/std). */
void rv_pixels_normalize_tile(const rv_pixel_norm *n, const uint8_t *grey, int S, float *out);

/* The base tile (model.md §3 step 6): the whole image resized to S x S ignoring the aspect
 * ratio, with Pillow's bicubic arithmetic (io/resize.h; an image already S x S is used as is,
 * as Pillow returns a copy), then normalized into out [3, S, S]. grey: [h, w]. */
int rv_pixels_base_tile(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, float *out, rv_err *err);

#endif
