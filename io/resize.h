/* Image resampling with the same arithmetic as Pillow's Image.resize (libImaging/Resample.c)
 * for 8-bit grayscale: separable horizontal-then-vertical convolution, filter support widened
 * by the downscale factor, coefficients normalised to sum 1 and quantised to 22-bit fixed
 * point, round-half-up and clip to 0..255. Used to reproduce upstream's 512x512 LANCZOS
 * VinDr conversion and the model's BICUBIC input resize. */
#ifndef RADVLM_IO_RESIZE_H
#define RADVLM_IO_RESIZE_H

#include "core/error.h"
#include "io/image.h"

typedef enum { RV_RESAMPLE_BICUBIC, RV_RESAMPLE_LANCZOS } rv_resample;

/* dst is allocated (8-bit, w x h); src must be 8-bit. Same size gives a copy, as in Pillow. */
int rv_image_resize(const rv_image *src, int w, int h, rv_resample filter, rv_image *dst, rv_err *err);

#endif
