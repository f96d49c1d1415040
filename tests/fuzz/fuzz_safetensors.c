/* A .safetensors file (io/safetensors.h): header validation, then every tensor read as f32
 * where its dtype allows (the reader only takes a path: fuzz_scratch_file). */
#include <stdlib.h>

#include "fuzz.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_scratch_file(".safetensors", data, size);
    if (!p) return 0;
    rv_err err;
    rv_st_file f;
    if (rv_st_open(&f, p, &err) != 0) return 0;
    for (size_t i = 0; i < f.n; i++) {
        const rv_st_tensor *t = &f.t[i];
        if (t->numel > (1u << 20)) continue;
        float *dst = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *dst);
        rv_st_read_f32(&f, t, dst, &err);
        free(dst);
    }
    rv_st_close(&f);
    return 0;
}
