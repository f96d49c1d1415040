/* Sum of squares (global gradient norm) with a fixed reduction tree, and the clip factor. */
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

#define SUMSQ_BLOCK 4096

double rvk_sumsq(rv_kctx *k, const float *x, size_t n) {
    if (n == 0) return 0.0;
    size_t nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double *part = rvk_scratch(k, nb * sizeof(double));
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * SUMSQ_BLOCK, i1 = i0 + SUMSQ_BLOCK < n ? i0 + SUMSQ_BLOCK : n;
        double s = 0.0;
        for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0.0;
    for (size_t b = 0; b < nb; b++) s += part[b];
    return s;
}

float rvk_clip_scale(double norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    double c = (double)max_norm / (norm + 1e-6);
    return c < 1.0 ? (float)c : 1.0f;
}
