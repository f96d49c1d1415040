/* PNG through libpng (io/png.c), from memory, under the pixel budget. */
#include "fuzz.h"
#include "io/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rv_err err;
    rv_image img;
    if (rv_png_decode("fuzz.png", data, size, FUZZ_MAX_PIXELS, &img, &err) == 0) rv_image_free(&img);
    return 0;
}
