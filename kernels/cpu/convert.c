/* bf16 <-> fp32 conversions of backend buffers (the CPU stores bf16 as uint16 in host memory). */
#include "core/half.h"
#include "kernels/cpu/cpu.h"

void rvk_cpu_to_bf16(rv_kctx *k, rvk_bf16 *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = rv_f32_to_bf16(src[i]);
}

void rvk_cpu_from_bf16(rv_kctx *k, float *dst, const rvk_bf16 *src, size_t n) {
#pragma omp parallel for schedule(static) num_threads(rvk_threads(k)) if (n > RVK_PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = rv_bf16_to_f32(src[i]);
}
