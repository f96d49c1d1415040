#include "io/image_file.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/dicom.h"

void rv_image_to8(rv_image *img) {
    if (img->bits == 8) return;
    size_t n = (size_t)img->width * (size_t)img->height;
    uint16_t lo = 65535, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (img->u16[i] < lo) lo = img->u16[i];
        if (img->u16[i] > hi) hi = img->u16[i];
    }
    uint8_t *o = rv_xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) o[i] = hi > lo ? (uint8_t)(((uint32_t)(img->u16[i] - lo) * 255u) / (hi - lo)) : 0;
    free(img->u16);
    img->u16 = NULL;
    img->u8 = o;
    img->bits = 8;
}

int rv_image_file_read(const char *path, rv_image *out, uint8_t **jpeg_bytes, size_t *jpeg_len, rv_err *err) {
    return rv_image_file_read_max(path, RV_IMAGE_MAX_PIXELS_DEFAULT, out, jpeg_bytes, jpeg_len, err);
}

int rv_image_file_read_max(const char *path, long long max_pixels, rv_image *out, uint8_t **jpeg_bytes,
                           size_t *jpeg_len, rv_err *err) {
    memset(out, 0, sizeof *out);
    if (jpeg_bytes) {
        *jpeg_bytes = NULL;
        *jpeg_len = 0;
    }
    char *data = NULL;
    size_t len = 0;
    if (rv_read_file(path, &data, &len, err) != 0) return -1;
    const unsigned char *m = (const unsigned char *)data;
    int rc;
    bool jpeg = len >= 3 && m[0] == 0xFF && m[1] == 0xD8;
    if (jpeg) {
        rc = rv_jpeg_decode(path, m, len, max_pixels, out, err);
    } else if (len >= 8 && !memcmp(m, "\x89PNG\r\n\x1a\n", 8)) {
        rc = rv_png_decode(path, m, len, max_pixels, out, err);
    } else if (len >= 132 && !memcmp(m + 128, "DICM", 4)) {
        rv_dicom_info info;
#pragma omp critical(rv_image_file_gdcm)
        rc = rv_dicom_decode(path, m, len, max_pixels, &info, out, err);
    } else {
        rc = rv_fail(err, "%s: not a JPEG, PNG or DICOM file", path);
    }
    if (rc != 0) {
        free(data);
        rv_image_free(out);
        return -1;
    }
    if (jpeg && jpeg_bytes) {
        *jpeg_bytes = (uint8_t *)data; /* owned by the caller */
        *jpeg_len = len;
        data = NULL;
    }
    free(data);
    rv_image_to8(out);
    return 0;
}
