/* Grayscale images in memory and the codecs the sources use: JPEG (libjpeg-turbo),
 * PNG 8/16-bit (libpng), DICOM (GDCM, io/dicom.h). Pixels are row-major, top row first. */
#ifndef RADVLM_IO_IMAGE_H
#define RADVLM_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct rv_image {
    int width, height;
    int bits;          /* 8 (u8 valid) or 16 (u16 valid) */
    uint8_t *u8;       /* width*height when bits == 8 */
    uint16_t *u16;     /* width*height when bits == 16 */
} rv_image;

int rv_image_alloc(rv_image *img, int width, int height, int bits, rv_err *err);
void rv_image_free(rv_image *img);

/* The pixel budget (data.max_image_pixels), Pillow's decompression-bomb guard: every decoder
 * reads width x height (x frames) from the header (JPEG SOF, PNG IHDR, DICOM Rows/Columns/
 * NumberOfFrames) and refuses a larger image before allocating its pixels. The default is sized
 * for real radiographs (the largest CXR detectors are about 4300 x 4300). */
#define RV_IMAGE_MAX_PIXELS_DEFAULT (8192LL * 8192LL)
/* 0 when width x height x frames <= max_pixels (or max_pixels <= 0: no budget), else -1 with
 * "<where>: <what> image is W x H pixels ... above the pixel budget ...". */
int rv_image_check_pixels(const char *where, const char *what, long long width, long long height, long long frames,
                          long long max_pixels, rv_err *err);

/* JPEG: decodes any JPEG to 8-bit gray; writes 8-bit gray baseline at quality (1..100).
 * Decoding errors (unreadable, truncated, not a JPEG, over max_pixels) name the file.
 * rv_jpeg_read applies RV_IMAGE_MAX_PIXELS_DEFAULT. */
int rv_jpeg_read(const char *path, rv_image *img, rv_err *err);
int rv_jpeg_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels, rv_image *img,
                   rv_err *err);
int rv_jpeg_write(const char *path, const rv_image *img, int quality, rv_err *err); /* atomic */
/* Only the header: width and height. */
int rv_jpeg_size(const char *path, int *width, int *height, rv_err *err);

/* PNG: 8- or 16-bit grayscale (other colour types are converted to gray). rv_png_read applies
 * RV_IMAGE_MAX_PIXELS_DEFAULT; rv_png_decode reads the file's bytes from memory. */
int rv_png_read(const char *path, rv_image *img, rv_err *err);
int rv_png_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels, rv_image *img,
                  rv_err *err);
int rv_png_write(const char *path, const rv_image *img, rv_err *err); /* atomic */
/* 8-bit RGB: rgb holds height rows of width R,G,B triplets (figures, e.g. eval box grids). */
int rv_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, rv_err *err); /* atomic */

#endif
