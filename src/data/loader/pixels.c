#include "data/loader/pixels.h"

#include <stddef.h>

#include "io/image.h"
#include "io/resize.h"

rv_pixel_norm rv_pixel_norm_siglip(void) {
    return (rv_pixel_norm){.rescale = 1.0 / 255.0, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
}

void rv_pixels_normalize_tile(const rv_pixel_norm *n, const uint8_t *grey, int S, float *out) {
    /* 256 possible inputs per channel: one table, the same arithmetic as per pixel */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 256; p++) {
            float x = (float)((double)p * n->rescale);
            lut[c][p] = (x - n->mean[c]) / n->std[c];
        }
    const size_t plane = (size_t)S * S;
    for (int c = 0; c < 3; c++) {
        float *o = out + c * plane;
        for (size_t i = 0; i < plane; i++) o[i] = lut[c][grey[i]];
    }
}

int rv_pixels_base_tile(const rv_pixel_norm *n, const uint8_t *grey, int h, int w, int S, float *out, rv_err *err) {
    if (h <= 0 || w <= 0 || S <= 0)
        return rv_fail(err, "base tile: image %dx%d (HxW) and tile size %d must be positive", h, w, S);
    if (h == S && w == S) {
        rv_pixels_normalize_tile(n, grey, S, out);
        return 0;
    }
    /* io's image type, borrowed read-only: the resize only reads src */
    rv_image src = {.width = w, .height = h, .bits = 8, .u8 = (uint8_t *)grey};
    rv_image dst = {0};
    if (rv_image_resize(&src, S, S, RV_RESAMPLE_BICUBIC, &dst, err) < 0) {
        rv_fail_wrap(err, "base tile: resizing a %dx%d image to %dx%d", h, w, S, S);
        return -1;
    }
    rv_pixels_normalize_tile(n, dst.u8, S, out);
    rv_image_free(&dst);
    return 0;
}
