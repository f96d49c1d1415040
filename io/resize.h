/* Image resampling with the same arithmetic as Pillow's Image.resize (libImaging/Resample.c)
 * for 8-bit grayscale: separable horizontal-then-vertical convolution, filter support widened
 * by the downscale factor, coefficients normalised to sum 1 and quantised to 22-bit fixed
 * point, round-half-up and clip to 0..255. Used to reproduce upstream's 512x512 LANCZOS
 * VinDr conversion and the model's BICUBIC input resize.
 * The order of the two passes depends on the Pillow release (the 8-bit rounding between the
 * passes makes it visible, up to ~16 grey levels): Pillow 10.3.0 (upstream's pin; 11 and 12 the
 * same) always runs the horizontal pass first; Pillow 13 runs the vertical pass first when the
 * height shrinks and the width does not (docs/data.md, "Resize and the Pillow release"). */
#ifndef RADVLM_IO_RESIZE_H
#define RADVLM_IO_RESIZE_H

#include "core/error.h"
#include "io/image.h"

typedef enum { RV_RESAMPLE_BICUBIC, RV_RESAMPLE_LANCZOS } rv_resample;

/* The Pillow release whose pass order is reproduced (the config key data.pillow_resize). */
typedef enum { RV_PILLOW_10 = 10, RV_PILLOW_13 = 13 } rv_pillow;
#define RV_PILLOW_DEFAULT RV_PILLOW_10 /* upstream's pinned environment (Pillow 10.3.0) */

/* The value of data.pillow_resize (10 | 13) -> *out; anything else fails naming the key and
 * the accepted values. */
int rv_pillow_from_release(long long release, rv_pillow *out, rv_err *err);

/* dst is allocated (8-bit, w x h); src must be 8-bit. Same size gives a copy, as in Pillow. */
int rv_image_resize_as(const rv_image *src, int w, int h, rv_resample filter, rv_pillow pillow, rv_image *dst,
                       rv_err *err);
/* rv_image_resize_as with RV_PILLOW_DEFAULT: for resizes upstream leaves to its environment's
 * Pillow where no configuration reaches (the loader's tiles, eval's drawings). */
int rv_image_resize(const rv_image *src, int w, int h, rv_resample filter, rv_image *dst, rv_err *err);

#endif
