/* Helpers shared by the CPU kernels (not part of the public interface). */
#ifndef RADVLM_KERNELS_CPU_H
#define RADVLM_KERNELS_CPU_H

#include <stddef.h>

#include "kernels/kernels.h"

/* Column tile for reductions over rows: each tile is owned by one thread and summed over rows
 * in increasing order, so the result does not depend on the thread count. */
#define RVK_COL_TILE 64
/* Below this many elements an element-wise loop stays on one thread. */
#define RVK_PAR_MIN 16384

static inline int rvk_threads(const rv_kctx *k) { return k && k->nthreads > 0 ? k->nthreads : 1; }

/* Sets OpenBLAS's pool to the context's thread count (OpenBLAS keeps it process-wide). */
void rvk_cpu_blas_threads(const rv_kctx *k);

/* out[c] += sum_{r < N} in[r * ld + c] for c < C, deterministic (column tiles). */
void rvk_cpu_colsum_add(const rv_kctx *k, float *out, const float *in, int N, int C, int ld);

/* Dot product with 8 independent partial sums (a fixed order, vectorizable without -ffast-math). */
static inline float rvk_dot(const float *a, const float *b, int n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

#endif
