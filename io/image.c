/* In-memory grayscale images. */
#include "io/image.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int rv_image_alloc(rv_image *img, int width, int height, int bits, rv_err *err) {
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
        return rv_fail(err, "image size %dx%d is out of range (1..65535 per side)", width, height);
    if (bits != 8 && bits != 16)
        return rv_fail(err, "image bit depth %d is not supported (8 or 16)", bits);
    size_t n = (size_t)width * (size_t)height;
    img->width = width;
    img->height = height;
    img->bits = bits;
    if (bits == 8) img->u8 = rv_xcalloc(n, 1);
    else img->u16 = rv_xcalloc(n, sizeof(uint16_t));
    return 0;
}

void rv_image_free(rv_image *img) {
    if (!img) return;
    free(img->u8);
    free(img->u16);
    memset(img, 0, sizeof *img);
}

int rv_image_check_pixels(const char *where, const char *what, long long width, long long height, long long frames,
                          long long max_pixels, rv_err *err) {
    if (max_pixels <= 0 || width <= 0 || height <= 0 || frames <= 0) return 0; /* sizes are checked by the decoders */
    long long pixels;
    if (__builtin_mul_overflow(width, height, &pixels) || __builtin_mul_overflow(pixels, frames, &pixels))
        pixels = LLONG_MAX; /* beyond any budget; the message still shows the sides */
    if (pixels <= max_pixels) return 0;
    if (frames > 1)
        return rv_fail(err, "%s: %s image is %lld x %lld pixels x %lld frames = %lld pixels, above the pixel budget "
                            "data.max_image_pixels = %lld (a decompression bomb, or raise the budget)",
                       where, what, width, height, frames, pixels, max_pixels);
    return rv_fail(err, "%s: %s image is %lld x %lld = %lld pixels, above the pixel budget data.max_image_pixels = %lld "
                        "(a decompression bomb, or raise the budget)", where, what, width, height, pixels, max_pixels);
}
