/* Element-wise vector operations (residual adds, scaling). */
#include "kernels/cpu/cpu.h"

void rvk_cpu_fill(rv_kctx *k, float *x, float value, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void rvk_cpu_add(rv_kctx *k, float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void rvk_cpu_axpy(rv_kctx *k, float *y, float alpha, const float *x, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void rvk_cpu_scale(rv_kctx *k, float *x, float alpha, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= alpha;
}
