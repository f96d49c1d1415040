/* Sum of squares (global gradient norm) with a fixed reduction tree, added to an accumulator. */
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

#define SUMSQ_BLOCK 4096

void rvk_cpu_sumsq_acc(rv_kctx *k, double *acc, const float *x, size_t n) {
    if (n == 0) return;
    size_t nb = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
    double *part = rvk_cpu_scratch(k, nb * sizeof(double));
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t i0 = b * SUMSQ_BLOCK, i1 = i0 + SUMSQ_BLOCK < n ? i0 + SUMSQ_BLOCK : n;
        double s = 0.0;
        for (size_t i = i0; i < i1; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0.0;
    for (size_t b = 0; b < nb; b++) s += part[b];
    *acc += s;
}
