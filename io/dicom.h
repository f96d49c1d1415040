/* DICOM through GDCM (io/dicom_gdcm.cpp is the only C++ file; this is its C API). */
#ifndef RADVLM_IO_DICOM_H
#define RADVLM_IO_DICOM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "io/image.h"

typedef struct rv_dicom_info {
    int rows, columns;         /* (0028,0010), (0028,0011) */
    int bits_allocated, bits_stored;
    int pixel_representation;  /* 0 unsigned, 1 signed */
    bool monochrome1;          /* PhotometricInterpretation == MONOCHROME1 */
    bool has_window;           /* WindowCenter/WindowWidth present */
    double window_center, window_width;
    double rescale_slope, rescale_intercept;
} rv_dicom_info;

/* Reads header and the stored pixel values (no LUT applied) as a 16-bit image
 * (8-bit stored data is widened). The bytes are checked first (io/dicom_scan.h: a malformed file
 * is an error, never a GDCM assertion), including the pixel budget: Rows x Columns x frames above
 * max_pixels (<= 0: no budget) is refused before any decode allocation. Errors name the file.
 * rv_dicom_read applies RV_IMAGE_MAX_PIXELS_DEFAULT. */
int rv_dicom_read(const char *path, rv_dicom_info *info, rv_image *img, rv_err *err);
int rv_dicom_read_max(const char *path, long long max_pixels, rv_dicom_info *info, rv_image *img, rv_err *err);
/* The same from the file's bytes in memory (where names them in messages). */
int rv_dicom_decode(const char *where, const unsigned char *data, size_t len, long long max_pixels,
                    rv_dicom_info *info, rv_image *img, rv_err *err);

/* Writes an uncompressed (Explicit VR Little Endian) secondary-capture style CXR DICOM with
 * the given photometric interpretation and bits stored (8..16), optional window. Atomic. */
int rv_dicom_write(const char *path, const rv_image *img, const rv_dicom_info *info, rv_err *err);

#endif
