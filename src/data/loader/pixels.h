/* The pixel step of the loader: a grey shard image (uint8 [H, W], row-major, top row first, as
 * pack stores it: docs/formats.md) becomes the model's normalized tiles [n_tiles, 3, S, S]
 * (model.md §3). Grey goes to RGB by repeating the channel (PIL convert("RGB")), then each
 * value is rescaled and normalized exactly as HF's image processor computes it:
 *   x = float32(float64(p) * rescale);  y = (x - mean[c]) / std[c]   (float32 arithmetic)
 * This file knows no model types (model/vlm.h's image type is rv_vlm_image; this is io/image.h's rv_image). */
#ifndef RADVLM_DATA_LOADER_PIXELS_H
#define RADVLM_DATA_LOADER_PIXELS_H

#include <stddef.h>
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

/* From an HF preprocessor_config.json (the checkpoint directory's): rescale_factor, image_mean,
 * image_std (3 numbers, or one for all channels), do_rescale and do_normalize (false: that step
 * is skipped, i.e. rescale 1, or mean 0 and std 1). Missing keys take the LLaVA-OneVision image
 * processor's class defaults, as HF does: 1/255 and OpenAI CLIP's mean/std, which the
 * checkpoints override with SigLIP's 0.5 (model.md §3). Errors name the file and key. */
int rv_pixel_norm_from_hf_file(const char *path, rv_pixel_norm *out, rv_err *err);
int rv_pixel_norm_from_hf_text(const char *where, const char *json, size_t len, rv_pixel_norm *out, rv_err *err);

/* One tile: grey [S, S] -> out [3, S, S] (channel-major, the same grey value in R, G and B before
 * each channel's mean/std). */
void rv_pixels_normalize_tile(const rv_pixel_norm *n, const uint8_t *grey, int S, float *out);

/* The base tile (model.md §3 step 6): the whole image resized to S x S ignoring the aspect
 * ratio, with Pillow's bicubic arithmetic (io/resize.h; an image already S x S is used as is,
 * as Pillow returns a copy), then normalized into out [3, S, S]. grey: [h, w]. */
int rv_pixels_base_tile(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, float *out, rv_err *err);

/* The anyres grid tiles (train.md A.8; HF LlavaOnevisionImageProcessor.get_image_patches, which
 * upstream's process_anyres_image equals): grey [h, w] is resized with Pillow's bicubic to fit the
 * canvas [canvas_h, canvas_w] (the limiting side exactly, the other min(ceil(side * scale), canvas
 * side); an image already that size is used as is, as Pillow returns a copy), pasted on black
 * (0) at the floor-centred offset, cut into S x S tiles row-major (rows top to bottom, then
 * columns), and each tile normalized: out [(canvas_h/S) * (canvas_w/S), 3, S, S]. The canvas
 * sides must be multiples of S (the model's pinpoints are: model/config.c checks). */
int rv_pixels_anyres_grid(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, int canvas_h,
                          int canvas_w, float *out, rv_err *err);

#endif
