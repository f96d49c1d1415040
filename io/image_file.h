/* One image file as the pipeline sees it: read once, decoded by its magic bytes (JPEG, PNG,
 * DICOM), brought to 8-bit grey. Shared by pack (which then resizes and stores it) and the eval
 * phase (which makes the model's tiles from it), so both see the same pixels. */
#ifndef RADVLM_IO_IMAGE_FILE_H
#define RADVLM_IO_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/image.h"

/* 16-bit -> 8-bit by the image's own range (as upstream's VinDr conversion, with rounding
 * down): (v - min) * 255 / (max - min); a flat image becomes 0. An 8-bit image is unchanged. */
void rv_image_to8(rv_image *img);

/* Reads path and decodes it into *out, 8-bit grey (out->bits == 8): JPEG (from the bytes read),
 * PNG 8/16-bit, DICOM (GDCM, serialized: it is not known to be thread-safe), then rv_image_to8.
 * jpeg_bytes (may be NULL): when the file is a JPEG, receives its bytes (malloc'd, *jpeg_len
 * long; anyres keeps them as the original), else NULL. Errors name the file (unreadable, not a
 * JPEG/PNG/DICOM file, a decoder's message). */
int rv_image_file_read(const char *path, rv_image *out, uint8_t **jpeg_bytes, size_t *jpeg_len, rv_err *err);
/* The same with the pixel budget max_pixels (data.max_image_pixels; io/image.h; <= 0: none):
 * a larger image is refused from its header, before any decode allocation, with a message naming
 * the file and its dimensions. rv_image_file_read applies RV_IMAGE_MAX_PIXELS_DEFAULT. */
int rv_image_file_read_max(const char *path, long long max_pixels, rv_image *out, uint8_t **jpeg_bytes,
                           size_t *jpeg_len, rv_err *err);

#endif
